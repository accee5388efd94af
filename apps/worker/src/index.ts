export { WorkerAbortedError, runWorker, type WorkerOptions } from './worker.js';
export { gptConfigOf } from './tasks/language-model-task.js';
export { encoderConfigOf } from './tasks/text-classifier-task.js';
export { studentDataOf, TEACHER_ARTIFACT, TeacherRunner } from './tasks/teacher-runner.js';
export { INIT_ARTIFACT } from './init-artifact.js';
export { mlpConfigOf } from './tasks/image-classifier-task.js';
export { distillSettings, teacherHiddenInputsOf } from './tasks/training-task.js';
