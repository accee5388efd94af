export { CheckpointError, checkpointName, decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './checkpoint.js';
