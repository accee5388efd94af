import { gelu, Graph, tensor, type Value } from '@ringtrain/graph';
import type { ParameterInit } from './parameters.js';

/** Sizes shared by the GPT and the encoder. */
export interface TransformerDims {
  /** Number of blocks. */
  nLayer: number;
  /** Attention heads per block; must divide nEmbd. */
  nHead: number;
  /** Width of the residual stream. */
  nEmbd: number;
  /** Longest sequence, and the number of learned positions. */
  blockSize: number;
  /** Whether linear layers and LayerNorms have biases (nanoGPT's `bias`). @defaultValue true */
  bias?: boolean;
}

/**
 * How activations are laid out in a forward graph.
 * - `rows`: a training graph with a static batch; activations are [batch * seq, nEmbd], so every
 *   linear layer is one Gemm whose weight gradient is one matrix product.
 * - `tensor`: an inference graph with symbolic batch and sequence; activations are
 *   [batch, seq, nEmbd] and linear layers are MatMul with weights stored as [in, out].
 */
export type Layout = { kind: 'rows'; batch: number; seq: number } | { kind: 'tensor' };

/** A parameter tensor as the models declare it, before layout in the flat buffer. */
export interface TensorDecl {
  name: string;
  shape: number[];
  init: ParameterInit;
}

/** A dropout site of a training graph: a mask input multiplied into one activation. */
export interface DropoutSite {
  /** Graph input name. */
  name: string;
  /** Mask elements per sample; the graph reshapes the [batch, width] input as it needs. */
  width: number;
}

/** Returns an error when the dims are not positive integers or the heads do not divide the width. */
export function checkDims(kind: string, dims: TransformerDims): void {
  for (const key of ['nLayer', 'nHead', 'nEmbd', 'blockSize'] as const) {
    const v = dims[key];
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${kind} ${key} must be a positive integer, got ${v}`);
  }
  if (dims.nEmbd % dims.nHead !== 0) {
    throw new RangeError(`${kind} nEmbd ${dims.nEmbd} is not a multiple of nHead ${dims.nHead}; pick nEmbd = nHead x head size`);
  }
}

/** Declares the tensors of block `l`: pre-norm attention and a 4x GELU MLP, PyTorch [out, in] weights. */
export function blockTensors(dims: TransformerDims, l: number): TensorDecl[] {
  const c = dims.nEmbd;
  const std = { kind: 'normal' as const, std: 0.02 };
  // GPT-2's scaled init of the projections into the residual stream.
  const residual = { kind: 'normal' as const, std: 0.02 / Math.sqrt(2 * dims.nLayer) };
  const zeros = { kind: 'zeros' as const };
  const ones = { kind: 'ones' as const };
  const p = `h${l}`;
  const tensors: TensorDecl[] = [
    { name: `${p}.ln_1.weight`, shape: [c], init: ones },
    { name: `${p}.ln_1.bias`, shape: [c], init: zeros },
    { name: `${p}.attn.c_attn.weight`, shape: [3 * c, c], init: std },
    { name: `${p}.attn.c_attn.bias`, shape: [3 * c], init: zeros },
    { name: `${p}.attn.c_proj.weight`, shape: [c, c], init: residual },
    { name: `${p}.attn.c_proj.bias`, shape: [c], init: zeros },
    { name: `${p}.ln_2.weight`, shape: [c], init: ones },
    { name: `${p}.ln_2.bias`, shape: [c], init: zeros },
    { name: `${p}.mlp.c_fc.weight`, shape: [4 * c, c], init: std },
    { name: `${p}.mlp.c_fc.bias`, shape: [4 * c], init: zeros },
    { name: `${p}.mlp.c_proj.weight`, shape: [c, 4 * c], init: residual },
    { name: `${p}.mlp.c_proj.bias`, shape: [c], init: zeros },
  ];
  return dims.bias === false ? tensors.filter((t) => !t.name.endsWith('.bias')) : tensors;
}

/** Source of parameter values for a forward graph. */
export interface ParameterSource {
  /** The tensor as declared, e.g. a weight [out, in]. */
  get(name: string): Value;
  /** A weight [out, in] as [in, out], for MatMul in the `tensor` layout. */
  transposed(name: string): Value;
}

/**
 * Adds transformer layers to a graph in one layout. Dropout masks are looked up by site name;
 * a site without a mask is skipped.
 */
export class TransformerBuilder {
  constructor(
    readonly g: Graph,
    readonly dims: TransformerDims,
    readonly layout: Layout,
    readonly params: ParameterSource,
    private readonly masks: ReadonlyMap<string, Value> = new Map(),
  ) {}

  /** Dropout sites of the blocks, for a training graph with `seq` positions. */
  static blockSites(dims: TransformerDims, seq: number): DropoutSite[] {
    const sites: DropoutSite[] = [];
    for (let l = 0; l < dims.nLayer; l++) {
      sites.push({ name: `h${l}.attn.dropout`, width: dims.nHead * seq * seq });
      sites.push({ name: `h${l}.attn.resid_dropout`, width: seq * dims.nEmbd });
      sites.push({ name: `h${l}.mlp.dropout`, width: seq * dims.nEmbd });
    }
    return sites;
  }

  /** Multiplies `x` by the mask of `site`, reshaped to `x`'s shape, when the site has one. */
  dropout(x: Value, site: string): Value {
    const mask = this.masks.get(site);
    if (mask === undefined) return x;
    const shaped = this.g.op('Reshape', [mask, this.g.int64s(x.shape as number[])], {}, { name: `${site}/mask` });
    return this.g.op('Mul', [x, shaped], {}, { name: site });
  }

  /** y = x W^T + b for a weight `prefix.weight` [out, in] and, when the model has biases, `prefix.bias`. */
  linear(x: Value, prefix: string): Value {
    const { g, params } = this;
    const b = this.dims.bias === false ? undefined : params.get(`${prefix}.bias`);
    if (this.layout.kind === 'rows') {
      return g.op('Gemm', [x, params.get(`${prefix}.weight`), b], { transB: 1 }, { name: prefix });
    }
    const y = g.op('MatMul', [x, params.transposed(`${prefix}.weight`)], {}, { name: `${prefix}/matmul` });
    return b === undefined ? y : g.op('Add', [y, b], {}, { name: prefix });
  }

  layerNorm(x: Value, prefix: string): Value {
    const { params } = this;
    const b = this.dims.bias === false ? undefined : params.get(`${prefix}.bias`);
    return this.g.op('LayerNormalization', [x, params.get(`${prefix}.weight`), b], {
      axis: -1,
      epsilon: 1e-5,
    }, { name: prefix });
  }

  /**
   * Self-attention of block `l`. `bias` is added to the attention scores [batch, head, query,
   * key] before the softmax: the causal mask, the padding mask, or both.
   */
  attention(x: Value, l: number, bias: Value | undefined): Value {
    const { g, dims } = this;
    const p = `h${l}.attn`;
    const c = dims.nEmbd;
    const hs = c / dims.nHead;
    const qkv = this.linear(x, `${p}.c_attn`);
    const [q, k, v] = g.node('Split', [qkv, g.int64s([c, c, c])], { axis: -1 }, { name: `${p}/split`, outputs: 3 });
    const heads = (t: Value, perm: number[], name: string) =>
      g.op('Transpose', [g.op('Reshape', [t, this.headShape()], {}, { name: `${p}/${name}_heads` })], { perm }, { name: `${p}/${name}_t` });
    const qh = heads(g.op('Mul', [q!, g.scalar(1 / Math.sqrt(hs), x.dtype, `${p}/scale`)], {}, { name: `${p}/q_scaled` }), [0, 2, 1, 3], 'q');
    const kt = heads(k!, [0, 2, 3, 1], 'k');
    const vh = heads(v!, [0, 2, 1, 3], 'v');
    let scores = g.op('MatMul', [qh, kt], {}, { name: `${p}/scores` });
    if (bias !== undefined) scores = g.op('Add', [scores, bias], {}, { name: `${p}/masked` });
    const probs = this.dropout(g.op('Softmax', [scores], { axis: -1 }, { name: `${p}/softmax` }), `${p}.dropout`);
    const y = g.op('Transpose', [g.op('MatMul', [probs, vh], {}, { name: `${p}/mix` })], { perm: [0, 2, 1, 3] }, { name: `${p}/merge_t` });
    const merged = g.op('Reshape', [y, this.rowShape(c)], {}, { name: `${p}/merge` });
    return this.dropout(this.linear(merged, `${p}.c_proj`), `${p}.resid_dropout`);
  }

  /** Pre-norm block `l`: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
  block(x: Value, l: number, bias: Value | undefined): Value {
    const { g } = this;
    const p = `h${l}`;
    const a = g.op('Add', [x, this.attention(this.layerNorm(x, `${p}.ln_1`), l, bias)], {}, { name: `${p}/resid_attn` });
    const hidden = gelu(g, this.linear(this.layerNorm(a, `${p}.ln_2`), `${p}.mlp.c_fc`));
    const m = this.dropout(this.linear(hidden, `${p}.mlp.c_proj`), `${p}.mlp.dropout`);
    return g.op('Add', [a, m], {}, { name: `${p}/resid_mlp` });
  }

  /**
   * Token plus position embeddings of `idx` ([batch, seq] int64), in the builder's layout. The
   * positions are the first seq rows of `posName`.
   */
  embed(idx: Value, tokName: string, posName: string): Value {
    const { g, params, layout } = this;
    const tok = g.op('Gather', [params.get(tokName), idx], {}, { name: `${tokName}/lookup` });
    let pos = params.get(posName);
    if (layout.kind === 'tensor') {
      const seq = g.op('Shape', [idx], { start: 1, end: 2 }, { name: 'seq_len' });
      pos = g.op('Slice', [pos, g.int64s([0]), seq, g.int64s([0])], {}, { name: `${posName}/prefix` });
    } else if (layout.seq !== this.dims.blockSize) {
      pos = g.op('Slice', [pos, g.int64s([0]), g.int64s([layout.seq]), g.int64s([0])], {}, { name: `${posName}/prefix` });
    }
    const sum = g.op('Add', [tok, pos], {}, { name: 'embed' });
    return layout.kind === 'rows' ? g.op('Reshape', [sum, this.rowShape(this.dims.nEmbd)], {}, { name: 'embed_rows' }) : sum;
  }

  /**
   * The causal mask as an additive bias [seq, seq]: 0 on and below the diagonal, -1e9 above.
   * A large finite value rather than -inf keeps fully masked rows free of NaN.
   */
  causalBias(idx: Value): Value {
    const { g, dims, layout } = this;
    const n = layout.kind === 'rows' ? layout.seq : dims.blockSize;
    const values = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) values[i * n + j] = -1e9;
    const full = g.constant(tensor('float32', [n, n], values), 'causal_bias');
    if (layout.kind === 'rows') return full;
    const seq = g.op('Shape', [idx], { start: 1, end: 2 }, { name: 'causal_len' });
    const both = g.op('Concat', [seq, seq], { axis: 0 }, { name: 'causal_shape' });
    return g.op('Slice', [full, g.int64s([0, 0]), both], {}, { name: 'causal_prefix' });
  }

  /** Shape for splitting heads: [batch, seq, head, head size]. */
  private headShape(): Value {
    const { g, dims, layout } = this;
    const hs = dims.nEmbd / dims.nHead;
    return layout.kind === 'rows'
      ? g.int64s([layout.batch, layout.seq, dims.nHead, hs], 'head_shape')
      : g.int64s([0, 0, dims.nHead, hs], 'head_shape');
  }

  /** Shape for activations of `width` features in the builder's layout. */
  rowShape(width: number): Value {
    const { g, layout } = this;
    return layout.kind === 'rows'
      ? g.int64s([layout.batch * layout.seq, width], 'row_shape')
      : g.int64s([0, 0, width], 'row_shape');
  }
}
