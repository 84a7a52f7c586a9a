// Combining experts' next-token rows (PoE and friends); see combine.ts.
export { combineRows, PRESETS, type PresetName, type PresetParams } from './combine';
export { combinePoe, type PoeParams } from './poe';
export { combineCfg, type CfgParams } from './cfg';
export { combineDExperts, type DExpertsParams } from './dexperts';
export { combineContrastive, type ContrastiveParams } from './contrastive';
export { combineDola, type DolaParams } from './dola';
export { type Row, type CombinedRow, jensenShannon, relativeTopMask } from './rows';
