export { Coordinator, RunFailedError, type CoordinatorOptions, type RunSummary } from './coordinator.js';
export { evaluateClassifier, type ClassifierEvaluation } from './evaluate-model.js';
export { evaluateExportedModel } from './evaluate-run.js';
export { INT8_MODEL_FILE, writeInt8Model } from './int8-export.js';
export { RunDirectory, newRunId, writeFileAtomic } from './run-directory.js';
