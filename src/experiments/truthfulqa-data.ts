// TruthfulQA (Lin et al. 2022) from its CSV: Type, Category, Question, Best Answer, Correct Answers,
// Incorrect Answers (answers `;`-separated), Source.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { LensError } from '../core/errors';
import { sharedDir } from './models';

export interface TqaQuestion {
  index: number;
  type: string;
  category: string;
  question: string;
  best: string;
  correct: string[];
  incorrect: string[];
}

export function defaultTruthfulqaPath(): string {
  return join(sharedDir(), 'benchmarks/truthfulqa/TruthfulQA.csv');
}

const splitAnswers = (s: string) =>
  s
    .split(';')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);

export function loadTruthfulqa(path = defaultTruthfulqaPath()): TqaQuestion[] {
  if (!existsSync(path)) throw new LensError('missing-file', `TruthfulQA not found at ${path}; pass --data FILE (TruthfulQA.csv).`);
  const rows = parse(readFileSync(path, 'utf8'), { columns: true, skip_empty_lines: true, bom: true }) as Record<string, string>[];
  const need = ['Question', 'Best Answer', 'Correct Answers', 'Incorrect Answers'];
  if (!rows.length || need.some((c) => !(c in rows[0]))) throw new LensError('bad-file', `${path}: expected TruthfulQA columns ${need.join(', ')}`);
  return rows.map((r, index) => {
    const best = r['Best Answer'].trim();
    const correct = splitAnswers(r['Correct Answers']);
    if (!correct.includes(best)) correct.unshift(best);
    return { index, type: r.Type ?? '', category: r.Category ?? '', question: r.Question.trim(), best, correct, incorrect: splitAnswers(r['Incorrect Answers']) };
  });
}
