export { pruneUnits, unitImportance } from './structured.js';
