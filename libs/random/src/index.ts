export { Philox, mix32, permutation, philox4x32 } from './philox.js';
export { RandomStream } from './streams.js';
