#!/usr/bin/env python3
"""Writes the character-level tokenizer shared by all character models (tokenizers/char/).

Layout (Llama-style, so the TypeScript wrapper computes exact ranges and byte fallback makes it
total over any text): 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte-fallback pieces <0x00>..<0xFF>,
then one piece per character: tab, newline and printable ASCII 0x20..0x7E (space is the piece
"▁", via a Replace normalizer, as in Llama tokenizers). A BPE model with no merges, so every
character is one token; anything else (e.g. "£", "é") becomes its UTF-8 bytes. The vocabulary
covers every character of tinyshakespeare, the Jane Austen novels, the KJV and Brown, so all
character models share ids and can be combined. Run: python3 make_char_tokenizer.py [OUT_DIR]
"""
import json
import os
import sys

SPACE = '\u2581'
CHARS = ['\t', '\n'] + [chr(c) for c in range(0x20, 0x7F)]


def build():
    vocab = {'<unk>': 0, '<s>': 1, '</s>': 2}
    for b in range(256):
        vocab['<0x%02X>' % b] = len(vocab)
    for ch in CHARS:
        vocab[SPACE if ch == ' ' else ch] = len(vocab)
    special = lambda i, s: {'id': i, 'content': s, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False, 'special': True}
    tok = {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
        'normalizer': {'type': 'Replace', 'pattern': {'String': ' '}, 'content': SPACE},
        'pre_tokenizer': None,
        'post_processor': {
            'type': 'TemplateProcessing',
            'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}}],
            'pair': [{'SpecialToken': {'id': '<s>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},
                     {'SpecialToken': {'id': '<s>', 'type_id': 1}}, {'Sequence': {'id': 'B', 'type_id': 1}}],
            'special_tokens': {'<s>': {'id': '<s>', 'ids': [1], 'tokens': ['<s>']}},
        },
        'decoder': {'type': 'Sequence', 'decoders': [
            {'type': 'Replace', 'pattern': {'String': SPACE}, 'content': ' '},
            {'type': 'ByteFallback'},
            {'type': 'Fuse'},
        ]},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': '<unk>', 'continuing_subword_prefix': None,
                  'end_of_word_suffix': None, 'fuse_unk': True, 'byte_fallback': True, 'ignore_merges': False,
                  'vocab': vocab, 'merges': []},
    }
    cfg = {'add_bos_token': True, 'add_eos_token': False, 'bos_token': '<s>', 'eos_token': '</s>', 'unk_token': '<unk>',
           'clean_up_tokenization_spaces': False, 'legacy': True, 'model_max_length': 1024, 'tokenizer_class': 'LlamaTokenizer'}
    return tok, cfg


if __name__ == '__main__':
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tokenizers', 'char')
    os.makedirs(out, exist_ok=True)
    tok, cfg = build()
    with open(os.path.join(out, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
        f.write('\n')
    with open(os.path.join(out, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(cfg, f, indent=1)
        f.write('\n')
    print(f'wrote {out}: {len(tok["model"]["vocab"])} tokens')
