// The extension in a real VS Code extension host (code-server) driven by Chromium:
//  1. the mocha integration suite (test/vscode/suite) runs inside the host;
//  2. end to end: a command from the palette, the webview's tokens read through the DOM contract,
//     hostile text shown and not run, a screenshot of the heatmap saved to test-artifacts/.
// Skips with a message when code-server or Chromium is absent (npm run vscode-host; apt-get install
// chromium) — except under CI=true, where .ci/run installs both and their absence is a failure.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page, FrameLocator } from 'playwright-core';
import { repoRoot, skipNoShared, storiesModelDir, tempDir } from '../helpers/shared';
import { launchBrowser, missingHost, runFromPalette, runMochaInHost, startCodeServer, workbenchUrl, type CodeServer } from './harness';

const missing = missingHost();
const inCi = process.env.CI === 'true';
const skip: string | false = skipNoShared || (missing && !inCi ? `VS Code host tests skipped: ${missing}` : false);
const artifacts = join(repoRoot, 'test-artifacts');

const STORY = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park.
One day, she saw a big red ball under a tree. She ran to the ball and picked it up.
"Mom, look!" said Lily. Her mom smiled and said, "Let's play together!"
`;
const HOSTILE = `Look: <img src=x onerror="document.body.dataset.pwned='img'"> and
</script><script>document.body.dataset.pwned='script';alert('pwned')</script>
<svg onload="alert(1)"></svg> &lt;b&gt; "quotes" 'single' \`tick\`
`;

let server: CodeServer | null = null;
let browser: BrowserContext | null = null;
let workspace = '';

if (missing && inCi) {
  test('CI has code-server and Chromium for the VS Code tests', () => {
    assert.fail(`.ci/run should have installed them: ${missing}`);
  });
}

before(async () => {
  if (skip) return;
  const need = ['dist/extension.cjs', 'dist/worker.cjs', 'dist/webview.js', 'out/test/suite.cjs'];
  if (need.some((f) => !existsSync(join(repoRoot, f)))) execFileSync(process.execPath, ['tools/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });
  const model = storiesModelDir();
  workspace = tempDir('lens-vscode-ws-');
  writeFileSync(join(workspace, 'story.txt'), STORY);
  writeFileSync(join(workspace, 'hostile.html'), HOSTILE);
  server = await startCodeServer({
    workspace,
    settings: { 'likelihoodLens.model': model, 'likelihoodLens.scoreContext': 'none', 'editor.hover.delay': 150, 'window.autoDetectColorScheme': true, 'editor.minimap.enabled': false, 'likelihoodLens.compareSamples': 6, 'likelihoodLens.maxTokens': 24 },
    env: { LENS_TEST_MODEL: model, HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(workspace, '.hf-cache') },
  });
  browser = await launchBrowser();
});

after(async () => {
  const t0 = Date.now();
  await browser?.close().catch(() => undefined);
  const t1 = Date.now();
  await server?.stop();
  console.log(`(closed Chromium in ${t1 - t0} ms, code-server in ${Date.now() - t1} ms)`);
});

test('mocha integration suite inside the extension host', { skip, timeout: 300_000 }, async () => {
  const t0 = Date.now();
  const { code, output } = await runMochaInHost(server!, browser!, repoRoot, join(repoRoot, 'out/test/suite.cjs'), 280_000);
  const text = output.join('\n');
  console.log(text);
  console.log(`(extension-host suite: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  assert.equal(code, 0, `the extension-host suite failed (exit ${code}):\n${text}\n--- code-server log ---\n${server!.log.join('').slice(-4000)}`);
  assert.match(text, /passing/);
});

async function openFile(page: Page, name: string): Promise<void> {
  const tab = page.locator(`.editor-group-container .tabs-container .tab[aria-label^="${name}"]`).first();
  if ((await tab.count()) > 0) {
    await tab.click();
    await page.locator(`.editor-group-container.active .tabs-container .tab.active[aria-label^="${name}"]`).first().waitFor({ state: 'visible', timeout: 15_000 });
    return;
  }
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(name);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
  await page.locator(`.editor-group-container.active .tabs-container .tab.active[aria-label^="${name}"]`).first().waitFor({ state: 'visible', timeout: 15_000 });
}

/** Chooses the quick-pick row whose label contains `label`. */
async function pickInQuickInput(page: Page, label: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(label);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: label }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
}

/** Types into an input box (showInputBox) and accepts it. */
async function typeInQuickInput(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Context' }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(text);
  await page.keyboard.press('Enter');
}

/** Scores the whole file from the palette; returns the webview frame once it shows `expected`. */
async function scoreWholeFile(page: Page, expected: string): Promise<{ frame: FrameLocator; tokens: { index: number; logprob: number; label: string; text: string }[] }> {
  await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+A');
  await runFromPalette(page, 'Likelihood Lens: Score Selection');
  const frame = page.frameLocator('iframe.webview.ready').last().frameLocator('iframe#active-frame');
  const t0 = Date.now();
  for (;;) {
    const tokens = await frame
      .locator('[data-token-index]')
      .evaluateAll((els) =>
        els.map((e) => ({ index: Number((e as HTMLElement).dataset.tokenIndex), logprob: Number((e as HTMLElement).dataset.logprob), label: e.getAttribute('aria-label') ?? '', text: e.textContent ?? '' })),
      )
      .catch(() => []);
    if (tokens.length && tokens.map((t) => t.text).join('') === expected) return { frame, tokens };
    if (Date.now() - t0 > 60_000) throw new Error(`the webview never showed the scored text (has ${tokens.length} tokens)`);
    await page.waitForTimeout(250);
  }
}

test('end to end: palette command, webview DOM contract, hover, hostile text, screenshot', { skip, timeout: 240_000 }, async () => {
  const page = await browser!.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  mkdirSync(artifacts, { recursive: true });
  try {
    await page.goto(workbenchUrl(server!, repoRoot));
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });

    // 1. A story: the DOM contract, the webview's hover card, the editor's hover and decorations.
    await openFile(page, 'story.txt');
    const { frame, tokens } = await scoreWholeFile(page, STORY);
    assert.ok(tokens.length > 40);
    tokens.forEach((t, i) => {
      assert.equal(t.index, i);
      assert.ok(Number.isFinite(t.logprob) && t.logprob <= 0, `token ${i} data-logprob ${t.logprob}`);
      assert.match(t.label, /^token \d+ “.*”, log-prob −?\d+\.\d+ nats, probability /);
    });
    assert.equal(await frame.locator('.summary .stat').count(), 5);
    assert.ok((await frame.locator('.plots svg rect').count()) > 3, 'no histogram bars');
    await frame.locator('[data-token-index="9"]').hover();
    const tip = frame.locator('#tip');
    await tip.waitFor({ state: 'visible' });
    assert.match((await tip.textContent()) ?? '', /log-prob.*nats.*probability/s);
    // Editor decorations (one inline decoration per token) and the editor hover.
    const decorated = await page.locator('.editor-group-container .monaco-editor .view-overlays [class*="ced-"]').count();
    assert.ok(decorated >= 10, `only ${decorated} decorated spans in the editor`);
    // Collapse the selection so that the heatmap, not the selection colour, shows.
    await page.keyboard.press('Control+End');
    const word = page.locator('.editor-group-container .monaco-editor .view-line', { hasText: 'Once upon' }).first();
    const box = (await word.boundingBox())!;
    await page.mouse.move(box.x + 40, box.y + box.height / 2);
    const hover = page.locator('.monaco-hover', { hasText: 'Likelihood Lens' });
    await hover.first().waitFor({ state: 'visible', timeout: 15_000 });
    assert.match((await hover.first().textContent()) ?? '', /log-prob: ?−\d+\.\d{4} nats/);
    await page.waitForTimeout(400); // the hover fades in
    await page.screenshot({ path: join(artifacts, 'heatmap.png') });
    await page.mouse.move(5, 5);
    await page.keyboard.press('Escape');
    await frame.locator('[data-token-index="20"]').hover();
    await tip.waitFor({ state: 'visible' });
    await page.screenshot({ path: join(artifacts, 'webview-hover.png') });

    // 2. Hostile text: shown literally, nothing runs, no CSP violation was even attempted.
    await openFile(page, 'hostile.html');
    const hostile = await scoreWholeFile(page, HOSTILE);
    assert.ok(hostile.tokens.length > 20);
    const f = hostile.frame;
    assert.equal(await f.locator('.heatmap img, .heatmap script, .heatmap svg').count(), 0);
    assert.equal(await f.locator('body').evaluate((b) => (b as HTMLElement).dataset.pwned ?? null), null);
    assert.equal(await f.locator('body').evaluate((b) => (b as HTMLElement).dataset.cspViolations ?? null), null);
    assert.equal(await f.locator('.heatmap').evaluate((e) => e.textContent), HOSTILE);
    assert.equal(await page.evaluate(() => document.body.dataset.pwned ?? null), null);
    assert.deepEqual(dialogs, []);
    await page.screenshot({ path: join(artifacts, 'hostile.png') });
    writeFileSync(join(artifacts, 'webview-tokens.json'), JSON.stringify(tokens, null, 1));

    // 3. PoE-continue through the quick picks (typed contexts), insert from the notification; then
    //    compare continuations from the saved contexts, and the scatter plot.
    await openFile(page, 'story.txt');
    await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
    await page.keyboard.press('Control+End');
    await runFromPalette(page, 'Likelihood Lens: Product-of-Experts Continue');
    for (const ctx of ['Lily loved her cat.', 'Tom played with a red ball.']) {
      await pickInQuickInput(page, 'Type a context');
      await typeInQuickInput(page, ctx);
    }
    const toast = page.locator('.notification-toast', { hasText: 'PoE continuation' });
    await toast.waitFor({ state: 'visible', timeout: 60_000 });
    assert.match((await toast.textContent()) ?? '', /NLL under .*nats, .*nats/);
    const lines = await page.locator('.editor-group-container.active .view-line').count();
    await toast.getByRole('button', { name: 'Insert' }).click();
    const poeFrame = page.frameLocator('iframe.webview.ready').last().frameLocator('iframe#active-frame');
    await poeFrame.locator('.nll-table').waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await poeFrame.locator('.nll-table tr').count(), 3);
    const t1 = Date.now();
    while ((await page.locator('.editor-group-container.active .view-line').count()) === lines && Date.now() - t1 < 10_000) await page.waitForTimeout(100);
    const editorText = (await page.locator('.editor-group-container.active .view-lines').textContent()) ?? '';
    assert.ok(editorText.replace(/\s/g, '').length > STORY.replace(/\s/g, '').length, 'the continuation was not inserted');

    await runFromPalette(page, 'Likelihood Lens: Compare Continuations');
    await pickInQuickInput(page, 'Lily loved her cat');
    await pickInQuickInput(page, 'Tom played with');
    const cmp = page.frameLocator('iframe.webview.ready').last().frameLocator('iframe#active-frame');
    await cmp.locator('.compare-grid').waitFor({ state: 'visible', timeout: 90_000 });
    assert.equal(await cmp.locator('.compare-col').count(), 4);
    assert.equal(await cmp.locator('.sample').count(), 4 * 6);
    assert.equal(await cmp.locator('.plots svg [aria-label="dot"] circle, .plots svg [aria-label="dot"] path').count(), 4 * 6);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(artifacts, 'compare.png') });

    // 4. Export from the webview's button: the message goes to the host, which asks where to save.
    await cmp.locator('vscode-button[data-export="csv"]').click();
    const target = join(workspace, 'compare.csv');
    const dialogInput = page.locator('.quick-input-widget input');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Likelihood Lens: export' }).waitFor({ state: 'visible', timeout: 15_000 });
    await page.waitForTimeout(500); // the simple file dialog fills in its folder first
    await dialogInput.fill(target);
    await page.waitForTimeout(300);
    assert.equal(await dialogInput.inputValue(), target);
    await page.keyboard.press('Enter');
    const t2 = Date.now();
    while (!existsSync(target) && Date.now() - t2 < 15_000) await page.waitForTimeout(100);
    const csv = readFileSync(target, 'utf8').trimEnd().split('\r\n');
    assert.equal(csv[0], 'method,sample,nll_given_A,nll_given_B,text');
    assert.ok(csv.length >= 1 + 4 * 6, `${csv.length} CSV lines`);
  } catch (e) {
    await page.screenshot({ path: join(artifacts, 'e2e-failure.png') }).catch(() => undefined);
    throw e;
  }
  await page.close();
  assert.ok(readFileSync(join(artifacts, 'heatmap.png')).length > 10_000);
});
