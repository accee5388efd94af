export { WorkerAbortedError, runWorker, type WorkerOptions } from './worker.js';
export { gptConfigOf } from './tasks/language-model-task.js';
export { encoderConfigOf } from './tasks/text-classifier-task.js';
export { studentDataOf, TEACHER_ARTIFACT, TeacherRunner } from './tasks/teacher-runner.js';
