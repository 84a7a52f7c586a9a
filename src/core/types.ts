// Shared engine types. Units: log-probs are natural-log nats everywhere inside the engine.

/** Normalised view of a model folder's config.json (HF / Optimum / transformers.js layout). */
export interface ModelConfig {
  modelType: string; // "llama", "gpt2", ...
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  vocabSize: number;
  maxPositions: number; // context length
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Layers for which the graph has early-exit logits outputs (`logits_layer_{k}`), from config.json `lens_early_exit_layers`. */
  earlyExitLayers: number[];
  /**
   * How the graph combines its attention heads, from config.json `lens_head_combine` (absent:
   * 'standard'; 'product-all' / 'product-group': one shared softmax of the heads' mean score). The
   * graph's inputs and outputs are the same either way; this is information only.
   */
  headCombine?: 'standard' | 'product-all' | 'product-group';
}

/** One token of a text with its exact UTF-16 range in the original string. */
export interface TokenSpan {
  id: number;
  /**
   * Display text: original.slice(start, end). A token holding only part of a multi-byte character: the
   * token with the character's first byte gets the whole character, later ones an empty range at its end.
   */
  text: string;
  start: number;
  end: number;
}
