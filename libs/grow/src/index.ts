export { deepenMlp, widenMlp, type WidenOptions } from './mlp-growth.js';
export { deepenTransformer, widenTransformerMlp, type DeepenOptions, type WidenMlpOptions } from './transformer-growth.js';
