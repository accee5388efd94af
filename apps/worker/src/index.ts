export { WorkerAbortedError, runWorker, type WorkerOptions } from './worker.js';
