export { pruneUnits, unitImportance } from './structured.js';
export { isMaskStep, sparsityAt, updateMagnitudeMasks, type PruneSchedule } from './magnitude.js';
