export { deepenMlp, widenMlp, type WidenOptions } from './mlp-growth.js';
