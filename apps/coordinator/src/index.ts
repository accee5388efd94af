export { Coordinator, RunFailedError, type CoordinatorOptions, type RunSummary } from './coordinator.js';
export { evaluateClassifier, type ClassifierEvaluation } from './evaluate-model.js';
export { RunDirectory, newRunId, writeFileAtomic } from './run-directory.js';
