import * as ort from 'onnxruntime-node';
import { formatShape, Graph, isStaticShape, serializeModel, tensor, type DType, type Shape, type Value } from '@ringtrain/graph';
import { buildGradients } from './gradients.js';

/** One input of a gradient check. */
export interface CheckInput {
  name: string;
  dtype: DType;
  shape: number[];
  /**
   * Shape of the graph input, with symbols such as `'batch'` for dimensions known only at run
   * time. The run feeds `shape`. @defaultValue `shape`
   */
  graphShape?: Shape;
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
  /** @defaultValue true for float inputs */
  differentiate?: boolean;
}

/** Options of {@link checkGradients}. */
export interface GradientCheckOptions {
  inputs: CheckInput[];
  /** Builds the forward graph and returns the outputs whose gradients are checked. */
  build: (graph: Graph, inputs: Value[]) => Value[];
  /** Step of the central differences. @defaultValue 1e-6 for float64, 1e-3 for float32 */
  epsilon?: number;
  /** Seed of the random cotangents r in L = sum(y * r). @defaultValue 1 */
  seed?: number;
}

/** Worst disagreement between the analytic and the numeric gradient. */
export interface GradientCheckResult {
  /** Max over elements of |analytic - numeric| / max(|analytic|, |numeric|, 1). */
  maxError: number;
  /** Location of the max error, e.g. `x[3]`, with both values. */
  worst: string;
  analytic: Float64Array[];
  numeric: Float64Array[];
}

/** Deterministic cotangents in [-1, 1): a 32-bit xorshift, fine for test data. */
function randomCotangent(size: number, seed: number): number[] {
  let state = (seed * 2654435761) >>> 0 || 1;
  return Array.from({ length: size }, () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (state / 4294967296) * 2 - 1;
  });
}

/**
 * Checks the gradients that {@link buildGradients} builds for `build` against central finite
 * differences, running both in onnxruntime-node. Several outputs are reduced to the scalar
 * L = sum_k sum(y_k * r_k) with random r_k, so that every output's cotangent is exercised.
 * Inputs should be small (each element costs two runs).
 */
export async function checkGradients(options: GradientCheckOptions): Promise<GradientCheckResult> {
  const graph = new Graph('gradient_check');
  const inputs = options.inputs.map((i) => graph.input(i.name, i.dtype, i.graphShape ?? i.shape));
  const outputs = options.build(graph, inputs);

  // L = sum over outputs of sum(y * r).
  const terms = outputs.map((y, k) => {
    if (!isStaticShape(y.shape)) {
      throw new Error(`checked output '${y.name}' must have a static shape, got ${formatShape(y.shape)}; reduce its symbolic axes in build`);
    }
    const shape = y.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const r = graph.constant(tensor(y.dtype, shape, randomCotangent(size, (options.seed ?? 1) + k)), 'r');
    return graph.op('ReduceSum', [graph.op('Mul', [y, r])], { keepdims: 0 });
  });
  const loss = terms.length === 1 ? terms[0]! : graph.op('Sum', terms);
  graph.output(loss, 'loss');
  const differentiated = options.inputs
    .map((input, i) => ({ input, value: inputs[i]! }))
    .filter(({ input }) => input.differentiate ?? (input.dtype === 'float32' || input.dtype === 'float64'));
  const grads = buildGradients(graph, { loss, wrt: differentiated.map((d) => d.value) });
  grads.forEach((g, i) => graph.output(g, `grad_${i}`));

  const session = await ort.InferenceSession.create(serializeModel(graph));
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of options.inputs) {
      feeds[input.name] = new ort.Tensor(input.dtype as ort.Tensor.Type, input.data.slice(), input.shape);
    }
    const first = await session.run(feeds);
    const analytic = grads.map((_, i) => Float64Array.from(first[`grad_${i}`]!.data as Float64Array));
    const lossAt = async () => Number((await session.run(feeds))['loss']!.data[0]);

    const numeric: Float64Array[] = [];
    let maxError = 0;
    let worst = 'none';
    for (const [k, { input }] of differentiated.entries()) {
      const eps = options.epsilon ?? (input.dtype === 'float64' ? 1e-6 : 1e-3);
      const data = feeds[input.name]!.data as Float32Array | Float64Array;
      const out = new Float64Array(data.length);
      for (let j = 0; j < data.length; j++) {
        const x = data[j]!;
        data[j] = x + eps;
        const plus = await lossAt();
        data[j] = x - eps;
        const minus = await lossAt();
        data[j] = x;
        out[j] = (plus - minus) / (2 * eps);
        const a = analytic[k]![j]!;
        const error = Math.abs(a - out[j]!) / Math.max(Math.abs(a), Math.abs(out[j]!), 1);
        if (!(error <= maxError)) {
          maxError = Number.isNaN(error) ? Infinity : error;
          worst = `${input.name}[${j}]: analytic ${a}, numeric ${out[j]}`;
        }
      }
      numeric.push(out);
    }
    return { maxError, worst, analytic, numeric };
  } finally {
    await session.release();
  }
}
