// Times one training step of the 784-800-800-10 MLP at batch 64 (one rank's half of a global
// batch of 128) on one intra-op thread: float, and fake-quantised with per-sample and per-batch
// activation ranges. The variants alternate step by step so that load from other processes hits
// them alike. Needs a build first: npx tsc -b libs/models/tsconfig.json.
// Usage: node libs/models/scripts/quant-aware-bench.mjs [steps]
import * as ort from 'onnxruntime-node';
import { initParameters, mlpParameters, mlpTrainingGraph } from '../dist/index.js';

const steps = Number(process.argv[2] ?? 40);
const batch = 64;
const cfg = { inputSize: 784, hidden: [800, 800], classes: 10 };
const specs = mlpParameters(cfg);
const params = initParameters(specs, 1);
const feeds = {
  input: new ort.Tensor('float32', Float32Array.from({ length: batch * 784 }, (_, i) => (i % 255) / 255), [batch, 784]),
  labels: new ort.Tensor('int64', BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10)), [batch]),
};
for (const s of specs) feeds[s.name] = new ort.Tensor('float32', params.subarray(s.offset, s.offset + s.size), s.shape);

const variants = {
  float: {},
  'qat per-sample': { quant: { weights: 'perChannel', activations: 'sample' } },
  'qat per-batch': { quant: { weights: 'perChannel', activations: 'batch' } },
};
const options = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' };
const sessions = {};
const times = {};
for (const [name, graphOptions] of Object.entries(variants)) {
  sessions[name] = await ort.InferenceSession.create(mlpTrainingGraph(cfg, graphOptions).bytes, options);
  times[name] = [];
}
for (let step = 0; step < steps; step++) {
  for (const name of Object.keys(variants)) {
    const started = performance.now();
    await sessions[name].run(feeds);
    times[name].push(performance.now() - started);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [name, ms] of Object.entries(times)) {
  console.log(`${name}: median ${median(ms).toFixed(1)} ms, min ${Math.min(...ms).toFixed(1)} ms per step`);
}
