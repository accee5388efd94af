export { pruneUnits, unitImportance } from './structured.js';
export { isMaskStep, sparsityAt, updateMagnitudeMasks, type PruneSchedule } from './magnitude.js';
export { headImportance, pruneHeads } from './heads.js';
export { pruneBlockUnits } from './block-units.js';
export { blocksWithout, dropBlocks } from './drop-blocks.js';
