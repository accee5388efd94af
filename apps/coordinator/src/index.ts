export { Coordinator, RunFailedError, type CoordinatorOptions, type RunSummary } from './coordinator.js';
export { evaluateClassifier, type ClassifierEvaluation } from './evaluate-model.js';
export { evaluateExportedModel } from './evaluate-run.js';
export { RunDirectory, newRunId, writeFileAtomic } from './run-directory.js';
