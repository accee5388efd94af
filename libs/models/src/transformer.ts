import { gelu, Graph, tensor, type Value } from '@ringtrain/graph';
import type { ParameterInit } from './parameters.js';
import type { MaskInput } from './training-graph.js';

/** Sizes shared by the GPT and the encoder. */
export interface TransformerDims {
  /** Number of blocks. */
  nLayer: number;
  /** Attention heads per block, which must divide nEmbd unless headSize is set. */
  nHead: number;
  /** Width of the residual stream. */
  nEmbd: number;
  /**
   * Features per attention head, so the attention width is nHead * headSize. Structured pruning
   * of heads makes it differ from nEmbd. @defaultValue nEmbd / nHead
   */
  headSize?: number;
  /** Hidden units of each block's MLP. @defaultValue 4 nEmbd */
  mlpHidden?: number;
  /** Maximum sequence length, which is also the number of learned positions. */
  blockSize: number;
  /** Whether linear layers and LayerNorms have biases (nanoGPT's `bias`). @defaultValue true */
  bias?: boolean;
}

/**
 * Activation layout of a forward graph.
 * - `rows`: a training graph with a static batch. Activations are [batch * seq, nEmbd], so every
 *   linear layer is one Gemm whose weight gradient is one matrix product.
 * - `tensor`: an inference graph with a symbolic batch and sequence length. Activations are
 *   [batch, seq, nEmbd], and linear layers are MatMul with weights stored as [in, out].
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
  /** Mask elements per sample. The graph reshapes the [batch, width] input to the activation's shape. */
  width: number;
}

/** Returns the features per attention head: `headSize` when set, else nEmbd / nHead. */
export function headSizeOf(dims: TransformerDims): number {
  return dims.headSize ?? dims.nEmbd / dims.nHead;
}

/** Returns the width of the concatenated heads, nHead * headSize, which is nEmbd by default. */
export function attentionWidth(dims: TransformerDims): number {
  return dims.nHead * headSizeOf(dims);
}

/** Returns the hidden units of each block's MLP: `mlpHidden` when set, else 4 nEmbd. */
export function mlpWidth(dims: TransformerDims): number {
  return dims.mlpHidden ?? 4 * dims.nEmbd;
}

/**
 * Throws a RangeError when a size is not a positive integer, or when headSize is unset and nHead
 * does not divide nEmbd. `kind` names the config in the message.
 */
export function checkDims(kind: string, dims: TransformerDims): void {
  for (const key of ['nLayer', 'nHead', 'nEmbd', 'blockSize', 'headSize', 'mlpHidden'] as const) {
    const value = dims[key];
    if (value === undefined && (key === 'headSize' || key === 'mlpHidden')) continue;
    if (!Number.isInteger(value) || value! <= 0) {
      throw new RangeError(`${kind} ${key} must be a positive integer, got ${value}`);
    }
  }
  if (dims.headSize === undefined && dims.nEmbd % dims.nHead !== 0) {
    throw new RangeError(
      `${kind} nEmbd ${dims.nEmbd} is not a multiple of nHead ${dims.nHead}. Set nEmbd to nHead times the head size, or set headSize.`,
    );
  }
}

/**
 * Declares the parameter tensors of block `l`: pre-norm attention of width nHead * headSize and a
 * GELU MLP of width mlpHidden (4 nEmbd by default). Weights use PyTorch's [out, in] layout, and
 * biases are left out when `dims.bias` is false.
 */
export function blockTensors(dims: TransformerDims, l: number): TensorDecl[] {
  const c = dims.nEmbd;
  const a = attentionWidth(dims);
  const m = mlpWidth(dims);
  const std = { kind: 'normal' as const, std: 0.02 };
  // Projections into the residual stream get GPT-2's scaled init, std 0.02 / sqrt(2 nLayer).
  const residual = { kind: 'normal' as const, std: 0.02 / Math.sqrt(2 * dims.nLayer) };
  const zeros = { kind: 'zeros' as const };
  const ones = { kind: 'ones' as const };
  const p = `h${l}`;
  const tensors: TensorDecl[] = [
    { name: `${p}.ln_1.weight`, shape: [c], init: ones },
    { name: `${p}.ln_1.bias`, shape: [c], init: zeros },
    { name: `${p}.attn.c_attn.weight`, shape: [3 * a, c], init: std },
    { name: `${p}.attn.c_attn.bias`, shape: [3 * a], init: zeros },
    { name: `${p}.attn.c_proj.weight`, shape: [c, a], init: residual },
    { name: `${p}.attn.c_proj.bias`, shape: [c], init: zeros },
    { name: `${p}.ln_2.weight`, shape: [c], init: ones },
    { name: `${p}.ln_2.bias`, shape: [c], init: zeros },
    { name: `${p}.mlp.c_fc.weight`, shape: [m, c], init: std },
    { name: `${p}.mlp.c_fc.bias`, shape: [m], init: zeros },
    { name: `${p}.mlp.c_proj.weight`, shape: [c, m], init: residual },
    { name: `${p}.mlp.c_proj.bias`, shape: [c], init: zeros },
  ];
  return dims.bias === false ? tensors.filter((t) => !t.name.endsWith('.bias')) : tensors;
}

/**
 * Adds one dropout mask input per site of a transformer training graph (the embeddings, then
 * every block) and returns them by site name, with their description for the caller. Without
 * dropout there are none.
 */
export function transformerMaskInputs(
  g: Graph,
  dims: TransformerDims,
  options: { batch: number; seq: number; dropout: number },
): { masks: Map<string, Value>; maskInputs: MaskInput[] } {
  const masks = new Map<string, Value>();
  const maskInputs: MaskInput[] = [];
  if (options.dropout === 0) return { masks, maskInputs };
  const sites = [{ name: 'embed.dropout', width: options.seq * dims.nEmbd }, ...TransformerBuilder.blockSites(dims, options.seq)];
  sites.forEach((site, layer) => {
    masks.set(site.name, g.input(site.name, 'float32', [options.batch, site.width]));
    maskInputs.push({ name: site.name, layer, width: site.width, keepProb: 1 - options.dropout });
  });
  return { masks, maskInputs };
}

/** Source of parameter values for a forward graph. */
export interface ParameterSource {
  /** Returns the tensor as declared, e.g. a weight [out, in]. */
  get(name: string): Value;
  /** Returns a weight [out, in] as [in, out], for MatMul in the `tensor` layout. */
  transposed(name: string): Value;
}

/**
 * Builder that adds transformer layers to a graph in one layout. Dropout masks are looked up by
 * site name, and a site without a mask is skipped.
 */
export class TransformerBuilder {
  constructor(
    readonly g: Graph,
    readonly dims: TransformerDims,
    readonly layout: Layout,
    readonly params: ParameterSource,
    private readonly masks: ReadonlyMap<string, Value> = new Map(),
  ) {}

  /** Returns the dropout sites of the blocks for a training graph with `seq` positions. */
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
    const shape = this.g.int64s(x.shape as number[]);
    const shaped = this.g.op('Reshape', [mask, shape], {}, { name: `${site}/mask` });
    return this.g.op('Mul', [x, shaped], {}, { name: site });
  }

  /**
   * Adds the linear layer y = x W^T + b, with the weight `prefix.weight` [out, in] and, when the
   * model has biases, `prefix.bias`.
   */
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
    const inputs = [x, params.get(`${prefix}.weight`), b];
    return this.g.op('LayerNormalization', inputs, { axis: -1, epsilon: 1e-5 }, { name: prefix });
  }

  /**
   * Adds the self-attention of block `l`. `bias` is added to the attention scores [batch, head,
   * query, key] before the softmax. It is the causal mask, the padding mask, or both.
   */
  attention(x: Value, l: number, bias: Value | undefined): Value {
    const { g, dims } = this;
    const p = `h${l}.attn`;
    const a = attentionWidth(dims);
    const hs = headSizeOf(dims);
    const qkv = this.linear(x, `${p}.c_attn`);
    const [q, k, v] = g.node('Split', [qkv, g.int64s([a, a, a])], { axis: -1 }, { name: `${p}/split`, outputs: 3 });

    // Queries are scaled by 1 / sqrt(head size) before the product. Keys are transposed to
    // [batch, head, head size, key] so that one MatMul gives the scores.
    const scale = g.scalar(1 / Math.sqrt(hs), x.dtype, `${p}/scale`);
    const qScaled = g.op('Mul', [q!, scale], {}, { name: `${p}/q_scaled` });
    const qh = this.splitHeads(qScaled, [0, 2, 1, 3], `${p}/q`);
    const kt = this.splitHeads(k!, [0, 2, 3, 1], `${p}/k`);
    const vh = this.splitHeads(v!, [0, 2, 1, 3], `${p}/v`);

    let scores = g.op('MatMul', [qh, kt], {}, { name: `${p}/scores` });
    if (bias !== undefined) scores = g.op('Add', [scores, bias], {}, { name: `${p}/masked` });
    const softmax = g.op('Softmax', [scores], { axis: -1 }, { name: `${p}/softmax` });
    const probs = this.dropout(softmax, `${p}.dropout`);

    const mixed = g.op('MatMul', [probs, vh], {}, { name: `${p}/mix` });
    const y = g.op('Transpose', [mixed], { perm: [0, 2, 1, 3] }, { name: `${p}/merge_t` });
    const merged = g.op('Reshape', [y, this.rowShape(a)], {}, { name: `${p}/merge` });
    return this.dropout(this.linear(merged, `${p}.c_proj`), `${p}.resid_dropout`);
  }

  /** Adds pre-norm block `l`: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
  block(x: Value, l: number, bias: Value | undefined): Value {
    const { g } = this;
    const p = `h${l}`;
    const attended = this.attention(this.layerNorm(x, `${p}.ln_1`), l, bias);
    const a = g.op('Add', [x, attended], {}, { name: `${p}/resid_attn` });
    const hidden = gelu(g, this.linear(this.layerNorm(a, `${p}.ln_2`), `${p}.mlp.c_fc`));
    const m = this.dropout(this.linear(hidden, `${p}.mlp.c_proj`), `${p}.mlp.dropout`);
    return g.op('Add', [a, m], {}, { name: `${p}/resid_mlp` });
  }

  /**
   * Adds the token plus position embeddings of `idx` ([batch, seq] int64) in the builder's
   * layout. The positions are the first seq rows of `posName`.
   */
  embed(idx: Value, tokName: string, posName: string): Value {
    const { g, params, layout } = this;
    const tok = g.op('Gather', [params.get(tokName), idx], {}, { name: `${tokName}/lookup` });
    let pos = params.get(posName);
    if (layout.kind === 'tensor') {
      const seq = g.op('Shape', [idx], { start: 1, end: 2 }, { name: 'seq_len' });
      pos = g.op('Slice', [pos, g.int64s([0]), seq, g.int64s([0])], {}, { name: `${posName}/prefix` });
    } else if (layout.seq !== this.dims.blockSize) {
      const start = g.int64s([0]);
      const end = g.int64s([layout.seq]);
      pos = g.op('Slice', [pos, start, end, g.int64s([0])], {}, { name: `${posName}/prefix` });
    }
    const sum = g.op('Add', [tok, pos], {}, { name: 'embed' });
    if (layout.kind !== 'rows') return sum;
    return g.op('Reshape', [sum, this.rowShape(this.dims.nEmbd)], {}, { name: 'embed_rows' });
  }

  /**
   * Builds the causal mask as an additive bias [seq, seq], 0 on and below the diagonal and -1e9
   * above it. A large finite value rather than -inf keeps fully masked rows free of NaN.
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

  /**
   * Reshapes `t` to [batch, seq, head, head size] and transposes it by `perm`. The nodes are
   * named after `name`.
   */
  private splitHeads(t: Value, perm: number[], name: string): Value {
    const { g } = this;
    const reshaped = g.op('Reshape', [t, this.headShape()], {}, { name: `${name}_heads` });
    return g.op('Transpose', [reshaped], { perm }, { name: `${name}_t` });
  }

  /** Returns the shape for splitting heads, [batch, seq, head, head size]. */
  private headShape(): Value {
    const { g, dims, layout } = this;
    const hs = headSizeOf(dims);
    return layout.kind === 'rows'
      ? g.int64s([layout.batch, layout.seq, dims.nHead, hs], 'head_shape')
      : g.int64s([0, 0, dims.nHead, hs], 'head_shape');
  }

  /** Returns the shape of activations with `width` features in the builder's layout. */
  rowShape(width: number): Value {
    const { g, layout } = this;
    return layout.kind === 'rows'
      ? g.int64s([layout.batch * layout.seq, width], 'row_shape')
      : g.int64s([0, 0, width], 'row_shape');
  }
}
