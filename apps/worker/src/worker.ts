import { createHash } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { checkpointName, decodeCheckpoint, encodeCheckpoint } from '@ringtrain/checkpoint';
import { CollectiveError, RingEndpoint, type Ring } from '@ringtrain/collectives';
import { perRankBatch, resolveRunConfig, type RunConfig } from '@ringtrain/config';
import type { Logger } from '@ringtrain/logging';
import { coordinatorPb } from '@ringtrain/proto';
import { ComputeHost } from './compute-host.js';
import { STAT_COUNT, STAT_LOSS_SUM, STAT_SAMPLES, type ComputeLayout } from './compute-protocol.js';
import { CoordinatorClient } from './coordinator-client.js';
import { MetricsReporter } from './metrics-reporter.js';
import { StepTimer } from './step-timer.js';
import { TEACHER_ARTIFACT } from './tasks/teacher-runner.js';
import { INIT_ARTIFACT } from './init-artifact.js';

export interface WorkerOptions {
  /** host:port of the coordinator. */
  coordinator: string;
  /** host:port for this worker's ring service; port 0 picks a free port. */
  listen: string;
  /** host:port that peers use to reach this worker; default: the bound listen address. */
  advertise?: string;
  device: string;
  logger: Logger;
}

/** A worker stopped by the coordinator or by a failed peer. */
export class WorkerAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerAbortedError';
  }
}

const UPLOAD_TIMEOUT_MS = 120_000;
/** How long a worker keeps trying to reach a coordinator that is not up yet. */
const COORDINATOR_WAIT_MS = 60_000;
/** How long a failed worker waits for the coordinator to say why the run stopped. */
const VERDICT_WAIT_MS = 3_000;

/**
 * Runs one worker from join to finish: joins the coordinator, forms the ring,
 * trains its shard and all-reduces gradients each step, and (on rank 0)
 * uploads checkpoints and the final model. Resolves when the run is done.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  if (options.device !== 'cpu') {
    throw new Error(`device '${options.device}' is not supported by this build; use --device cpu`);
  }
  const endpoint = await RingEndpoint.listen(options.listen);
  const advertise = options.advertise ?? endpoint.address;
  if (/^(0\.0\.0\.0|\[::\]|::):/.test(advertise)) {
    await endpoint.close();
    throw new Error(`listen address ${endpoint.address} is not reachable by peers; pass --advertise HOST:PORT`);
  }
  const client = new CoordinatorClient(options.coordinator);
  let log = options.logger;
  try {
    log.info({ coordinator: options.coordinator, advertise }, 'joining');
    const joined = await joinWithRetry(
      client,
      { advertiseAddress: advertise, device: options.device, hostname: hostname(), pid: process.pid, cpuCount: availableParallelism() },
      log,
    );
    const config = resolveRunConfig(JSON.parse(joined.configJson));
    log = options.logger.child({ runId: joined.runId, rank: joined.rank, worldSize: joined.worldSize });
    log.info({ threads: joined.threads, peers: joined.peers.length }, 'joined the run');
    const session = new WorkerSession(config, joined, client, endpoint, log);
    await session.run();
  } finally {
    client.close();
    await endpoint.close();
  }
}

/**
 * Joins the run, retrying while the coordinator is not reachable yet (a scheduler may start
 * workers first) for up to `COORDINATOR_WAIT_MS`.
 */
async function joinWithRetry(
  client: CoordinatorClient,
  request: coordinatorPb.JoinRequest,
  log: Logger,
): Promise<coordinatorPb.JoinResponse> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      // The coordinator enforces its own join deadline; this one only guards against one that never replies.
      return await client.join(request, 30 * 60_000);
    } catch (err) {
      const code = (err as { code?: number }).code;
      const waited = Date.now() - started;
      if (code !== grpc.status.UNAVAILABLE || waited > COORDINATOR_WAIT_MS) {
        if (code === grpc.status.UNAVAILABLE) {
          throw new Error(
            `coordinator at ${client.address} unreachable for ${Math.round(waited / 1000)} s: ${(err as Error).message}; ` +
              'check --coordinator and that the coordinator is running',
          );
        }
        throw err;
      }
      if (attempt === 1) log.warn({ coordinator: client.address }, 'coordinator not reachable yet; retrying every second');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

class WorkerSession {
  private readonly rank: number;
  private readonly worldSize: number;
  private readonly compute: ComputeHost;
  private ring: Ring | undefined;
  private step = 0;
  private abortReason: string | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly metrics: MetricsReporter;
  /** Checkpoint uploads in flight; each resolves to its error, or undefined on success. */
  private readonly uploads: Promise<Error | undefined>[] = [];

  constructor(
    private readonly config: RunConfig,
    private readonly joined: coordinatorPb.JoinResponse,
    private readonly client: CoordinatorClient,
    private readonly endpoint: RingEndpoint,
    private readonly log: Logger,
  ) {
    this.rank = joined.rank;
    this.worldSize = joined.worldSize;
    perRankBatch(config, this.worldSize);
    this.compute = new ComputeHost({ config, rank: this.rank, worldSize: this.worldSize, threads: joined.threads });
    this.metrics = new MetricsReporter(client, log);
  }

  async run(): Promise<void> {
    this.startHeartbeats();
    try {
      await this.train();
    } catch (err) {
      await this.reportFailure(err as Error);
      // A neighbour that failed first also closes its streams, so the local error may blame the
      // wrong rank. The coordinator's verdict comes from the first failure report of the run.
      const verdict = await this.awaitVerdict();
      if (verdict) throw new WorkerAbortedError(`run stopped: ${verdict} (this rank saw: ${(err as Error).message})`);
      throw err;
    } finally {
      clearInterval(this.heartbeat);
      await this.ring?.close().catch(() => undefined);
      await this.compute.terminate();
    }
  }

  private startHeartbeats(): void {
    const { heartbeatMs, heartbeatTimeoutMs } = this.config.cluster;
    let lastOk = Date.now();
    this.heartbeat = setInterval(() => {
      this.client.heartbeat(this.step, this.joined.ringEpoch, heartbeatMs * 2).then(
        (reply) => {
          lastOk = Date.now();
          if (reply.command === coordinatorPb.HeartbeatResponse_Command.ABORT) this.abort(`coordinator stopped the run: ${reply.reason}`);
        },
        (err: Error) => {
          if (Date.now() - lastOk > heartbeatTimeoutMs) {
            this.abort(`coordinator ${this.client.address} unreachable for ${Date.now() - lastOk} ms: ${err.message}`);
          }
        },
      );
    }, heartbeatMs);
  }

  /** Stops the run from outside the training loop: pending collectives reject at once. */
  private abort(reason: string): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.log.error({ step: this.step }, `aborting: ${reason}`);
    this.client.cancelAll();
    void this.ring?.close();
    void this.compute.terminate();
  }

  /** Polls the coordinator briefly for the reason the run stopped. */
  private async awaitVerdict(): Promise<string | undefined> {
    if (this.abortReason?.startsWith('coordinator stopped the run: ')) {
      return this.abortReason.slice('coordinator stopped the run: '.length);
    }
    const until = Date.now() + VERDICT_WAIT_MS;
    while (Date.now() < until) {
      const reply = await this.client.heartbeat(this.step, this.joined.ringEpoch, 1000).catch(() => undefined);
      if (reply?.command === coordinatorPb.HeartbeatResponse_Command.ABORT) return reply.reason;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return undefined;
  }

  private checkAborted(): void {
    if (this.abortReason) throw new WorkerAbortedError(this.abortReason);
  }

  private async reportFailure(err: Error): Promise<void> {
    if (this.abortReason?.startsWith('coordinator')) return;
    const suspect = err instanceof CollectiveError ? (err.failedRank ?? err.peerRank ?? -1) : -1;
    this.log.error({ step: this.step, suspectRank: suspect, err: err.message }, 'step failed');
    await this.client
      .reportFailure(this.step, this.joined.ringEpoch, err.message, suspect ?? -1)
      .catch((e: Error) => this.log.warn({ err: e.message }, 'could not report the failure to the coordinator'));
  }

  private async train(): Promise<void> {
    const { config, log } = this;
    // A distillation teacher comes from the coordinator's run directory, so no shared file system is needed.
    const teacher = config.distill.teacher === undefined ? undefined : await this.client.fetchArtifact(TEACHER_ARTIFACT, UPLOAD_TIMEOUT_MS);
    const layout = await this.compute.call({ type: 'setup', teacher }, 'setup');
    const params = new Float32Array(layout.parameters);
    const grads = new Float32Array(layout.gradients);
    log.info(
      { parameters: layout.modelParameterCount, trainingParameters: layout.parameterCount, stepsPerEpoch: layout.stepsPerEpoch, totalSteps: layout.totalSteps },
      'model ready',
    );
    await this.restoreOrInit();
    // Start-up time differs between ranks (data, session, checkpoint); wait for all before the first collective.
    await this.client.ready(config.cluster.joinTimeoutMs);
    this.ring = await this.endpoint.connect({
      rank: this.rank,
      worldSize: this.worldSize,
      peers: this.joined.peers.map((p) => p.address),
      ringEpoch: this.joined.ringEpoch,
      runId: this.joined.runId,
      options: {
        chunkBytes: config.cluster.chunkKiB * 1024,
        minBandwidthBytesPerSecond: config.cluster.minBandwidthMBps * 1e6,
        deadlineSlackMs: config.cluster.collectiveSlackMs,
      },
    });
    // Every rank starts from rank 0's parameters, whatever it initialised or loaded.
    await this.ring.broadcast(params, { step: this.step, root: 0 });
    await this.compute.call({ type: 'syncParameters', direction: 'adopt' }, 'done');
    await this.loop(layout, params, grads);
  }

  private async restoreOrInit(): Promise<void> {
    const name = this.joined.resumeCheckpoint;
    if (!name) {
      // Only rank 0's parameters count, because the broadcast below gives them to every rank.
      const fromFile = this.config.init.from !== undefined && this.rank === 0;
      const source = fromFile ? await this.client.fetchArtifact(INIT_ARTIFACT, UPLOAD_TIMEOUT_MS) : undefined;
      await this.compute.call({ type: 'initParameters', source }, 'done');
      if (source !== undefined) this.log.info({ from: this.config.init.from }, 'parameters initialised from a model file');
      return;
    }
    const bytes = await this.client.fetchArtifact(name, UPLOAD_TIMEOUT_MS);
    const checkpoint = decodeCheckpoint(bytes, name);
    await this.compute.call({ type: 'loadState', tensors: checkpoint.tensors, state: checkpoint.state }, 'done');
    this.step = checkpoint.step;
    this.log.info({ checkpoint: name, step: checkpoint.step }, 'resumed from checkpoint');
  }

  private async loop(layout: ComputeLayout, params: Float32Array, grads: Float32Array): Promise<void> {
    const { config, log } = this;
    const stats = grads.subarray(layout.parameterCount);
    const { logEvery, evalEvery } = config.train;
    const everySteps = config.checkpoint.everySteps;
    const timer = new StepTimer();
    const started = this.step;
    let loss = Number.NaN;
    let valLoss: number | undefined;
    while (this.step < layout.totalSteps) {
      const step = this.step;

      // Forward and backward on this rank's shard, sum across ranks, step the optimiser.
      const t0 = performance.now();
      await this.compute.call({ type: 'compute', step }, 'computed');
      this.checkAborted();
      const t1 = performance.now();
      await this.ring!.allReduce(grads, { step });
      const t2 = performance.now();
      const applied = await this.compute.call({ type: 'apply', step }, 'applied');
      this.checkAborted();
      const count = stats[STAT_COUNT]!;
      const samples = stats[STAT_SAMPLES]!;
      timer.add({ computeMs: t1 - t0, allreduceMs: t2 - t1, optimizerMs: performance.now() - t2, samples, tokens: samples * layout.tokensPerSample });
      loss = stats[STAT_LOSS_SUM]! / Math.max(1, count);
      // The all-reduced loss is the same on every rank, so all of them stop here together.
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged: loss is ${loss} at step ${step} (lr ${applied.lr}); lower optim.lr or set optim.clipNorm`);
      }
      this.step = step + 1;

      // Evaluate, log and checkpoint on their intervals, and always after the last step.
      const record: coordinatorPb.StepMetrics = {
        step: this.step,
        epoch: Math.floor(step / layout.stepsPerEpoch),
        loss,
        lr: applied.lr,
        samplesPerSec: timer.windowRate(),
        computeMs: t1 - t0,
        allreduceMs: t2 - t1,
        optimizerMs: applied.optimizerMs,
      };
      if (layout.tokensPerSample > 0) record.tokensPerSec = timer.windowRate() * layout.tokensPerSample;
      if (Number.isFinite(applied.gradNorm)) record.gradNorm = applied.gradNorm;
      const isLast = this.step === layout.totalSteps;
      let evaluated = false;
      if ((evalEvery > 0 && this.step % evalEvery === 0) || isLast) {
        const evaluation = await this.evaluate();
        evaluated = true;
        if (layout.evalSplit === 'val') {
          record.valLoss = evaluation.loss;
          valLoss = evaluation.loss;
        } else {
          record.testAccuracy = evaluation.accuracy;
          record.testLoss = evaluation.loss;
        }
      }
      if (this.step % logEvery === 0 || isLast || evaluated) {
        if (this.rank === 0) {
          this.metrics.push(record);
          log.info({ progress: { ...record, totalSteps: layout.totalSteps } }, 'progress');
        }
        timer.resetWindow();
      }
      if (this.rank === 0 && ((everySteps > 0 && this.step % everySteps === 0) || isLast)) {
        await this.saveCheckpoint();
      }
    }
    await this.finishRun(layout, params, {
      ...timer.summary(),
      steps: this.step,
      epochs: this.step / layout.stepsPerEpoch,
      trainLoss: loss,
      ...(valLoss === undefined ? {} : { valLoss }),
      parameters: layout.modelParameterCount,
      stepsThisRun: this.step - started,
      // Peak resident set of this worker process (rank 0), in bytes.
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    });
  }

  /**
   * Ends the run: every rank reports the digest of its final parameters, and rank 0 uploads the
   * model, waits for its checkpoint uploads and sends the training summary.
   */
  private async finishRun(layout: ComputeLayout, params: Float32Array, training: Record<string, number>): Promise<void> {
    await this.metrics.flush();
    await this.compute.call({ type: 'syncParameters', direction: 'publish' }, 'done');
    const bytes = new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
    const parametersSha256 = createHash('sha256').update(bytes).digest('hex');
    let summary: Record<string, unknown> = { parametersSha256 };
    if (this.rank === 0) {
      const exported = await this.compute.call({ type: 'export' }, 'exported');
      await this.client.uploadArtifact('model.onnx', exported.bytes, UPLOAD_TIMEOUT_MS);
      const failed = (await Promise.all(this.uploads)).find((e) => e !== undefined);
      if (failed) throw failed;
      summary = { ...summary, ...training };
    }
    await this.ring!.barrier({ step: this.step });
    // Returns when every rank is past the barrier, so closing the ring afterwards cannot break a neighbour's barrier.
    await this.client.finish(summary, UPLOAD_TIMEOUT_MS);
    this.log.info({ steps: this.step, parameters: layout.parameterCount }, 'worker finished');
  }

  /** Evaluates the test set across all ranks: each takes a disjoint shard, the sums are all-reduced. */
  private async evaluate(): Promise<{ accuracy: number; loss: number }> {
    const result = await this.compute.call({ type: 'evaluate' }, 'evaluated');
    const sums = Float32Array.from([result.lossSum, result.correct, result.count]);
    await this.ring!.allReduce(sums, { step: this.step });
    return { accuracy: sums[1]! / sums[2]!, loss: sums[0]! / sums[2]! };
  }

  private async saveCheckpoint(): Promise<void> {
    const snapshot = await this.compute.call({ type: 'snapshot' }, 'snapshot');
    const bytes = encodeCheckpoint({ step: this.step, epoch: snapshot.epoch, tensors: snapshot.tensors, state: snapshot.state });
    const name = checkpointName(this.step);
    // Uploads run beside training; a failure is kept and raised when the run ends, so it is never unhandled.
    this.uploads.push(
      this.client.uploadArtifact(name, bytes, UPLOAD_TIMEOUT_MS).then(
        () => {
          this.log.info({ checkpoint: name, bytes: bytes.length }, 'checkpoint uploaded');
          return undefined;
        },
        (err: Error) => {
          this.log.error({ checkpoint: name, err: err.message }, 'checkpoint upload failed');
          return err;
        },
      ),
    );
  }
}
