/**
 * Entry point of the compute thread: it owns the onnxruntime session, the
 * data, the dropout masks and the optimiser. The main thread sends one request
 * at a time (see compute-protocol.ts) and runs the all-reduce in between.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { RunConfig } from '@ringtrain/config';
import { DistributedSampler, evalShard } from '@ringtrain/data';
import { initFromModel, initParameters, modelParameters, parameterCount, type TrainingGraph } from '@ringtrain/models';
import { createOptimizer, globalNorm, createSchedule, type LrSchedule, type Optimizer } from '@ringtrain/optim';
import {
  STAT_CORRECT,
  STAT_COUNT,
  STAT_LOSS_SUM,
  STAT_SAMPLES,
  STAT_WORDS,
  type ComputeInit,
  type ComputeReply,
  type ComputeRequest,
} from './compute-protocol.js';
import { createTask } from './tasks/create-task.js';
import { TeacherRunner } from './tasks/teacher-runner.js';
import { WeightPruner } from './weight-pruner.js';
import type { TaskFeeds, TrainingTask } from './tasks/training-task.js';

/** Builds the learning-rate schedule, with errors that name the config keys. */
function scheduleFor(config: RunConfig, totalSteps: number): LrSchedule {
  const { name, warmupSteps, minLr } = config.schedule;
  if (name === 'cosine' && warmupSteps > totalSteps) {
    throw new Error(
      `schedule.warmupSteps ${warmupSteps} exceeds the run's ${totalSteps} steps. Lower schedule.warmupSteps or train more steps.`,
    );
  }
  if (name === 'cosine' && minLr > config.optim.lr) {
    throw new Error(`schedule.minLr ${minLr} is above optim.lr ${config.optim.lr}; the cosine schedule decays from optim.lr to schedule.minLr`);
  }
  return createSchedule({ ...config.schedule, lr: config.optim.lr, totalSteps });
}

/**
 * Creates a session with the thread settings every worker uses. Spinning threads about halved a
 * 2-thread GPT step in one timing here, but they collapse when other work shares the cores.
 * So they are on only for a worker with several threads, which the launcher gives only when its
 * own workers leave cores free, and `cluster.spinThreads` switches them off.
 */
function createSession(graph: TrainingGraph, threads: number, spin: boolean): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(graph.bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spin && threads > 1 ? '1' : '0' } } },
  });
}

class ComputeWorker {
  private readonly config: RunConfig;
  private readonly task: TrainingTask;
  private readonly graph: TrainingGraph;
  private session!: ort.InferenceSession;
  private evalSession!: ort.InferenceSession;
  /** The distillation teacher's session, for a run with `distill.teacher`. */
  private teacher: TeacherRunner | undefined;
  /** Parameters fed to the session. onnxruntime-node 1.30 rejects inputs over a SharedArrayBuffer ("Invalid argument"), so they live in a plain buffer. */
  private readonly params: Float32Array;
  /** Shared copy of the parameters, updated on request, for the main thread's broadcast and digest. */
  private readonly sharedParams: Float32Array;
  private readonly grads: Float32Array;
  private readonly stats: Float32Array;
  private readonly parameterTensors: Record<string, ort.Tensor>;
  private readonly sampler: DistributedSampler;
  private readonly optimizer: Optimizer;
  private readonly schedule: LrSchedule;
  private readonly totalSteps: number;
  private readonly microBatch: number;
  /** Gradual magnitude pruning, for a run with prune.sparsity above 0. */
  private readonly pruner: WeightPruner | undefined;

  constructor(private readonly init: ComputeInit) {
    this.config = init.config;
    const { config } = this;
    const rankBatch = config.train.batchSize / init.worldSize;
    this.microBatch = Math.ceil(rankBatch / config.train.accumulate);
    this.task = createTask(config, this.microBatch);
    this.graph = this.task.trainGraph;
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
    this.sampler = new DistributedSampler({
      datasetSize: this.task.trainCount,
      globalBatchSize: config.train.batchSize,
      worldSize: init.worldSize,
      rank: init.rank,
      seed: config.seed,
      dropLast: config.train.dropLast,
    });
    this.totalSteps = config.train.steps ?? (config.train.epochs ?? 1) * this.sampler.stepsPerEpoch;
    this.schedule = scheduleFor(config, this.totalSteps);
    this.pruner = this.graph.weightMasks === undefined ? undefined : new WeightPruner(this.graph, this.params, config, this.totalSteps);
  }

  async setup(teacher: Uint8Array | undefined): Promise<ComputeReply> {
    const { threads } = this.init;
    const spin = this.config.cluster.spinThreads;
    this.session = await createSession(this.graph, threads, spin);
    const { teacherInput } = this.graph;
    if (teacherInput !== undefined) {
      if (teacher === undefined) throw new Error('the training graph distils, but no teacher model arrived with setup');
      this.teacher = await TeacherRunner.create(teacher, this.config, this.task.studentData, teacherInput, threads, this.graph.teacherHiddenInputs);
    }
    this.evalSession = this.task.evalGraph === this.graph ? this.session : await createSession(this.task.evalGraph, threads, spin);
    return {
      type: 'setup',
      parameterCount: this.params.length,
      modelParameterCount: parameterCount(modelParameters(this.graph.parameters)),
      parameters: this.sharedParams.buffer as SharedArrayBuffer,
      gradients: this.grads.buffer as SharedArrayBuffer,
      stepsPerEpoch: this.sampler.stepsPerEpoch,
      totalSteps: this.totalSteps,
      samplesPerStep: this.config.train.batchSize,
      tokensPerSample: this.task.tokensPerItem,
      evalSplit: this.task.evalSplit,
    };
  }

  /** Initialises from the seed, then overwrites every tensor from `source` when a model file is given. */
  initParameters(source?: Uint8Array): ComputeReply {
    this.params.set(initParameters(this.graph.parameters, this.config.seed));
    if (source !== undefined) initFromModel(modelParameters(this.graph.parameters), this.params, source, { blocks: this.config.init.blocks });
    this.sharedParams.set(this.params);
    return { type: 'done' };
  }

  /** Copies the parameters into the shared buffer, or from it after a broadcast. */
  syncParameters(direction: 'publish' | 'adopt'): ComputeReply {
    if (direction === 'publish') this.sharedParams.set(this.params);
    else this.params.set(this.sharedParams);
    return { type: 'done' };
  }

  /**
   * Runs a session on filled feeds and adds loss, hits, terms and samples into the statistics
   * words. A training run also writes its gradients into the gradient buffer, or adds them
   * unless `first`.
   */
  private async runFeeds(session: ort.InferenceSession, graph: TrainingGraph, filled: TaskFeeds, first: boolean): Promise<void> {
    const feeds: Record<string, ort.Tensor> = { ...filled.feeds };
    // The evaluation graph has no training-only tensors, so each graph gets its own parameters.
    for (const spec of graph.parameters) feeds[spec.name] = this.parameterTensors[spec.name]!;
    if (graph.weightMasks !== undefined) this.pruner!.addFeeds(feeds);
    // A distillation graph takes the teacher's logits (and hidden states) of the same batch, computed here.
    if (graph.teacherInput !== undefined) {
      const teacher = await this.teacher!.run(filled.feeds[this.task.studentData.name]!);
      feeds[graph.teacherInput.name] = teacher.logits;
      graph.teacherHiddenInputs?.forEach((input, k) => (feeds[input.name] = teacher.hidden[k]!));
    }
    const out = await session.run(feeds);
    this.stats[STAT_LOSS_SUM]! += (out[graph.outputs.lossSum]!.data as Float32Array)[0]!;
    this.stats[STAT_CORRECT]! += Number((out[graph.outputs.correct]!.data as Float32Array | BigInt64Array)[0]!);
    this.stats[STAT_COUNT]! += filled.terms;
    this.stats[STAT_SAMPLES]! += filled.samples;
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

  /** Step whose first micro-batch is already filled, while the main thread all-reduced. */
  private prefetched: { step: number; feeds: TaskFeeds } | undefined;

  /**
   * Fills the next step's batch ahead of time, when one micro-batch makes a step. It runs after
   * the `computed` reply, so it overlaps the all-reduce on the main thread.
   */
  prefetch(step: number): void {
    this.prefetched = undefined;
    if (step >= this.totalSteps || this.config.train.accumulate !== 1) return;
    const { epoch, stepInEpoch } = this.sampler.locate(step);
    const ids = this.sampler.rankBatch(epoch, stepInEpoch).sampleIds;
    if (ids.length === 0) return;
    this.prefetched = { step, feeds: this.task.trainFeeds(ids, step) };
  }

  async compute(step: number): Promise<ComputeReply> {
    const started = performance.now();
    const { epoch, stepInEpoch } = this.sampler.locate(step);
    const { sampleIds } = this.sampler.rankBatch(epoch, stepInEpoch);
    this.pruner?.beforeStep(step, this.optimizer);
    this.stats.fill(0);
    // A rank without samples in a short last batch still joins the all-reduce, with zeros.
    if (sampleIds.length === 0) this.grads.fill(0);
    for (let start = 0; start < sampleIds.length; start += this.microBatch) {
      const ids = sampleIds.subarray(start, start + this.microBatch);
      const ready = this.prefetched?.step === step && start === 0 && ids.length === sampleIds.length;
      const filled = ready ? this.prefetched!.feeds : this.task.trainFeeds(ids, step);
      await this.runFeeds(this.session, this.graph, filled, start === 0);
    }
    this.prefetched = undefined;
    return { type: 'computed', computeMs: performance.now() - started, samples: sampleIds.length };
  }

  /**
   * Steps the optimiser with the mean gradient over the global batch: the summed gradients are
   * scaled by 1 / global count of loss terms (and the clipping coefficient) as the optimiser
   * reads them.
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

  /** Sums loss and correct predictions over this rank's contiguous shard of the evaluation set. */
  async evaluate(): Promise<ComputeReply> {
    const { task } = this;
    const { start, end } = evalShard(task.evalCount, this.init.worldSize, this.init.rank);
    // The statistics words are all-reduced with the gradients, so evaluation keeps its own sums.
    const saved = this.stats.slice();
    this.stats.fill(0);
    for (let first = start; first < end; first += task.evalBatch) {
      const count = Math.min(end, first + task.evalBatch) - first;
      await this.runFeeds(this.evalSession, task.evalGraph, task.evalFeeds(first, count), false);
    }
    const reply: ComputeReply = {
      type: 'evaluated',
      lossSum: this.stats[STAT_LOSS_SUM]!,
      correct: this.stats[STAT_CORRECT]!,
      count: this.stats[STAT_COUNT]!,
    };
    this.stats.set(saved);
    return reply;
  }

  snapshot(step: number): ComputeReply {
    const state = this.optimizer.exportState();
    const tensors: Record<string, Float32Array> = { parameters: this.params.slice() };
    for (const [name, buffer] of Object.entries(state.buffers)) tensors[`optimizer.${name}`] = buffer;
    return {
      type: 'snapshot',
      tensors,
      state: { optimizer: state.name, optimizerStep: state.step, ...(this.task.dataFingerprint === undefined ? {} : { dataFingerprint: this.task.dataFingerprint }) },
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
    const saved = state['dataFingerprint'];
    if (saved !== undefined && saved !== this.task.dataFingerprint) {
      throw new Error(
        `the checkpoint was trained on other data than ${this.config.data.path ?? `the default ${this.config.data.name} data`} ` +
          '(its data fingerprint differs); resume with the data.path of the run',
      );
    }
    this.params.set(parameters);
    this.sharedParams.set(parameters);
    const buffers: Record<string, Float32Array> = {};
    for (const [name, buffer] of Object.entries(tensors)) {
      if (name.startsWith('optimizer.')) buffers[name.slice('optimizer.'.length)] = buffer;
    }
    this.optimizer.importState({ name: String(state['optimizer']), step: Number(state['optimizerStep']), buffers });
    this.pruner?.restore(Number(state['optimizerStep']));
    return { type: 'done' };
  }

  export(): ComputeReply {
    // Training-only tensors (hidden-state projections) follow the model's, so the prefix is the model.
    const modelCount = parameterCount(modelParameters(this.graph.parameters));
    return { type: 'exported', bytes: this.task.exportModel(this.params.subarray(0, modelCount)) };
  }
}

const port = parentPort!;
let worker: ComputeWorker | undefined;
let lastStep = 0;

async function handle(request: ComputeRequest): Promise<ComputeReply> {
  if (request.type === 'setup') {
    worker = new ComputeWorker(workerData as ComputeInit);
    return worker.setup(request.teacher);
  }
  if (!worker) throw new Error(`'${request.type}' sent before 'setup'`);
  switch (request.type) {
    case 'initParameters':
      return worker.initParameters(request.source);
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
