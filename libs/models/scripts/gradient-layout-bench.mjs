// Times one training step of the 784-800-800-10 MLP at batch 128 for both gradient layouts
// ('perParameter': one output per parameter, 'flat': one concatenated output), with 1 and 2
// intra-op threads, with and without spinning. Layouts alternate run by run so that load from
// other processes hits both alike. Needs a build first: npx tsc -b libs/models/tsconfig.json.
// Usage: node libs/models/scripts/gradient-layout-bench.mjs [steps]
import * as ort from 'onnxruntime-node';
import { initParameters, mlpTrainingGraph } from '../dist/index.js';

const steps = Number(process.argv[2] ?? 100);
const batch = 128;
const cfg = { inputSize: 784, hidden: [800, 800], classes: 10 };
const graphs = { perParameter: mlpTrainingGraph(cfg), flat: mlpTrainingGraph(cfg, { gradientLayout: 'flat' }) };
const params = initParameters(graphs.flat.parameters, 1);
const input = new Float32Array(batch * 784).map((_, i) => (i % 255) / 255);
const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 10));

function feeds(t) {
  const f = {
    input: new ort.Tensor('float32', input, [batch, 784]),
    labels: new ort.Tensor('int64', labels, [batch]),
  };
  for (const p of t.parameters) f[p.name] = new ort.Tensor('float32', params.subarray(p.offset, p.offset + p.size), p.shape);
  return f;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const threads of [1, 2]) {
  for (const spinning of ['1', '0']) {
    const options = { intraOpNumThreads: threads, extra: { session: { intra_op: { allow_spinning: spinning } } } };
    const sessions = {};
    for (const [name, t] of Object.entries(graphs)) sessions[name] = { s: await ort.InferenceSession.create(t.bytes, options), f: feeds(t), ms: [] };
    for (let i = 0; i < 10; i++) for (const x of Object.values(sessions)) await x.s.run(x.f);
    for (let i = 0; i < steps; i++) {
      for (const x of Object.values(sessions)) {
        const t0 = process.hrtime.bigint();
        await x.s.run(x.f);
        x.ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const line = Object.entries(sessions).map(([name, x]) => `${name} ${median(x.ms).toFixed(2)} ms (p10 ${[...x.ms].sort((a, b) => a - b)[Math.floor(steps / 10)].toFixed(2)})`);
    console.log(`threads ${threads} spinning ${spinning}: ${line.join(', ')}`);
    for (const x of Object.values(sessions)) await x.s.release();
  }
}
