import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { RunConfig } from '@ringtrain/config';
import type { Logger } from '@ringtrain/logging';
import { coordinatorPb } from '@ringtrain/proto';
import { evaluateExportedModel } from './evaluate-run.js';
import { removeStaleInt8Model, writeInt8Model } from './int8-export.js';
import { SETUP_TIMEOUT_FACTOR, silentMembers, threadsPerMember, type Member } from './membership.js';
import { RunDirectory, sha256Hex, writeFileAtomic } from './run-directory.js';

type JoinRequest = coordinatorPb.JoinRequest;
type JoinResponse = coordinatorPb.JoinResponse;

const ARTIFACT_CHUNK_BYTES = 1 << 20;
const MONITOR_INTERVAL_MS = 250;
const MAX_MESSAGE_BYTES = 8 << 20;
const SHUTDOWN_GRACE_MS = 2_000;

export interface CoordinatorOptions {
  config: RunConfig;
  worldSize: number;
  /** host:port to listen on; port 0 picks a free port. */
  listen: string;
  runId: string;
  runDir: RunDirectory;
  /** Checkpoint artifact (inside runDir) that the workers resume from. */
  resumeCheckpoint?: string;
  logger: Logger;
}

/** Contents of summary.json. */
export type RunSummary = Record<string, unknown>;

/** A run that stopped because a worker failed; `rank` is the worker to blame, if known. */
export class RunFailedError extends Error {
  constructor(
    message: string,
    readonly rank: number | undefined,
  ) {
    super(message);
    this.name = 'RunFailedError';
  }
}

interface PendingJoin {
  member: Member;
  callback: grpc.sendUnaryData<JoinResponse>;
}

/**
 * The control plane of one run: assigns ranks, publishes the ring, watches
 * heartbeats, stores metrics and artifacts, and writes the run directory.
 * It never handles gradients.
 */
export class Coordinator {
  readonly done: Promise<RunSummary>;
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  private readonly members: Member[] = [];
  private readonly pending: PendingJoin[] = [];
  /** Finish calls held until every rank has finished. */
  private readonly finishWaiters: grpc.sendUnaryData<coordinatorPb.Ack>[] = [];
  /** Ready calls held until every rank is ready, and the ranks that are. */
  private readonly readyWaiters: grpc.sendUnaryData<coordinatorPb.Ack>[] = [];
  private readonly readyRanks = new Set<number>();
  private phase: 'joining' | 'running' | 'finishing' | 'finished' | 'failed' = 'joining';
  private failure: RunFailedError | undefined;
  private readonly ringEpoch = 1;
  private trainingSummary: Record<string, unknown> | undefined;
  private readonly startedMs = Date.now();
  private monitor: NodeJS.Timeout | undefined;
  private joinTimer: NodeJS.Timeout | undefined;
  private resolveDone!: (summary: RunSummary) => void;
  private rejectDone!: (err: Error) => void;
  private boundAddress = '';

  private constructor(private readonly options: CoordinatorOptions) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The caller awaits `done`; this keeps an early failure from being reported as unhandled.
    this.done.catch(() => undefined);
  }

  /** Starts the gRPC service and the join deadline. */
  static async start(options: CoordinatorOptions): Promise<Coordinator> {
    const coordinator = new Coordinator(options);
    await coordinator.listen();
    return coordinator;
  }

  /** host:port the service is bound to. */
  get address(): string {
    return this.boundAddress;
  }

  get runId(): string {
    return this.options.runId;
  }

  private async listen(): Promise<void> {
    const { logger, config, worldSize } = this.options;
    this.server.addService(coordinatorPb.CoordinatorService, this.handlers());
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listen, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(new Error(`coordinator cannot listen on ${this.options.listen}: ${err.message}`)) : resolve(bound),
      );
    });
    const host = this.options.listen.slice(0, this.options.listen.lastIndexOf(':'));
    this.boundAddress = `${host}:${port}`;
    this.options.runDir.writeJson('config.json', config);
    this.joinTimer = setTimeout(() => {
      this.fail(
        `only ${this.members.length} of ${worldSize} workers joined within ${config.cluster.joinTimeoutMs} ms; ` +
          `start the missing workers or raise cluster.joinTimeoutMs`,
        undefined,
      );
    }, config.cluster.joinTimeoutMs);
    this.monitor = setInterval(() => this.checkHeartbeats(), MONITOR_INTERVAL_MS);
    logger.info({ address: this.boundAddress, worldSize, runDir: this.options.runDir.path }, 'coordinator listening');
  }

  /** Stops the service; safe to call more than once. */
  /** Stops the service; calls still open after `graceMs` (a stalled worker's) are cancelled. */
  async close(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    clearInterval(this.monitor);
    clearTimeout(this.joinTimer);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Stops the run with an error that names the rank to blame. */
  fail(message: string, rank: number | undefined): void {
    if (this.phase === 'failed' || this.phase === 'finished') return;
    this.phase = 'failed';
    this.failure = new RunFailedError(message, rank);
    this.options.logger.error({ suspectRank: rank }, `run failed: ${message}`);
    for (const { callback } of this.pending.splice(0)) {
      callback({ code: grpc.status.ABORTED, details: `run ${this.runId} failed: ${message}` });
    }
    for (const waiter of [...this.finishWaiters.splice(0), ...this.readyWaiters.splice(0)]) {
      waiter({ code: grpc.status.ABORTED, details: `run ${this.runId} failed: ${message}` });
    }
    this.rejectDone(this.failure);
  }

  private handlers(): coordinatorPb.CoordinatorServer {
    return {
      join: (call, callback) => this.onJoin(call.request, callback),
      heartbeat: (call, callback) => callback(null, this.onHeartbeat(call.request)),
      reportMetrics: (call, callback) => {
        this.onMetrics(call.request);
        callback(null, {});
      },
      uploadArtifact: (call, callback) => this.onUpload(call, callback),
      fetchArtifact: (call) => this.onFetch(call),
      reportFailure: (call, callback) => {
        const { rank, message, suspectRank, step } = call.request;
        // A rank that reports a neighbour's failure is healthy itself, so the headline names the neighbour.
        const headline = suspectRank >= 0 && suspectRank !== rank
          ? `rank ${suspectRank} failed or stalled at step ${step}, as rank ${rank} reports: ${message}`
          : `rank ${rank} failed at step ${step}: ${message}`;
        this.fail(headline, suspectRank >= 0 ? suspectRank : rank);
        callback(null, {});
      },
      ready: (call, callback) => this.onReady(call.request, callback),
      finish: (call, callback) => this.onFinish(call.request, callback),
    };
  }

  private onJoin(request: JoinRequest, callback: grpc.sendUnaryData<JoinResponse>): void {
    const { worldSize, logger } = this.options;
    if (this.phase !== 'joining') {
      callback({
        code: grpc.status.FAILED_PRECONDITION,
        details: `run ${this.runId} already has its ${worldSize} workers (phase ${this.phase}); a late worker cannot join`,
      });
      return;
    }
    if (!request.advertiseAddress) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'join request has no advertise address' });
      return;
    }
    const member: Member = {
      rank: this.members.length,
      address: request.advertiseAddress,
      hostname: request.hostname,
      pid: request.pid,
      device: request.device,
      cpuCount: Math.max(1, request.cpuCount),
      lastHeartbeatMs: Date.now(),
      step: 0,
      finished: false,
      parametersSha256: '',
    };
    this.members.push(member);
    this.pending.push({ member, callback });
    logger.info(
      { rank: member.rank, address: member.address, host: member.hostname, pid: member.pid, device: member.device },
      `worker joined (${this.members.length}/${worldSize})`,
    );
    if (this.members.length === worldSize) this.startRun();
  }

  private startRun(): void {
    const { config, logger } = this.options;
    clearTimeout(this.joinTimer);
    this.phase = 'running';
    const threads = threadsPerMember(this.members, config.cluster.threadsPerWorker);
    const peers = this.members.map((m) => ({ rank: m.rank, address: m.address }));
    const now = Date.now();
    for (const { member, callback } of this.pending.splice(0)) {
      member.lastHeartbeatMs = now;
      callback(null, {
        runId: this.runId,
        rank: member.rank,
        worldSize: this.options.worldSize,
        ringEpoch: this.ringEpoch,
        configJson: JSON.stringify(config),
        peers,
        resumeCheckpoint: this.options.resumeCheckpoint ?? '',
        threads: threads[member.rank]!,
      });
    }
    logger.info(
      { ringEpoch: this.ringEpoch, threads, resume: this.options.resumeCheckpoint ?? null },
      `ring formed: ${peers.map((p) => `${p.rank}@${p.address}`).join(' -> ')} -> 0`,
    );
  }

  private memberFor(runId: string, rank: number): Member | undefined {
    if (runId !== this.runId) return undefined;
    return this.members[rank];
  }

  private onHeartbeat(request: coordinatorPb.HeartbeatRequest): coordinatorPb.HeartbeatResponse {
    const member = this.memberFor(request.runId, request.rank);
    if (!member) {
      return { command: coordinatorPb.HeartbeatResponse_Command.ABORT, reason: `rank ${request.rank} is not a member of run ${this.runId}` };
    }
    member.lastHeartbeatMs = Date.now();
    member.step = request.step;
    if (this.phase === 'failed') {
      return { command: coordinatorPb.HeartbeatResponse_Command.ABORT, reason: this.failure?.message ?? 'run failed' };
    }
    return { command: coordinatorPb.HeartbeatResponse_Command.CONTINUE, reason: '' };
  }

  private checkHeartbeats(): void {
    if (this.phase !== 'running') return;
    const timeoutMs = this.options.config.cluster.heartbeatTimeoutMs;
    const now = Date.now();
    const silent = silentMembers(this.members, now, timeoutMs);
    if (silent.length === 0) return;
    const first = silent[0]!;
    const ranks = silent.map((m) => m.rank).join(', ');
    const limit = first.step === 0 ? timeoutMs * SETUP_TIMEOUT_FACTOR : timeoutMs;
    this.fail(
      `rank ${ranks} sent no heartbeat for ${now - first.lastHeartbeatMs} ms (limit ${limit} ms, last step ` +
        `${first.step}, ${first.address}, pid ${first.pid}); its process has probably died`,
      first.rank,
    );
  }

  private onMetrics(batch: coordinatorPb.MetricsBatch): void {
    if (batch.runId !== this.runId || batch.rank !== 0) return;
    this.options.runDir.appendMetrics(batch.metrics.map(metricsRecord));
  }

  private onUpload(
    call: grpc.ServerReadableStream<coordinatorPb.ArtifactChunk, coordinatorPb.UploadResult>,
    callback: grpc.sendUnaryData<coordinatorPb.UploadResult>,
  ): void {
    const parts: Buffer[] = [];
    let name = '';
    let received = 0;
    let final: coordinatorPb.ArtifactChunk | undefined;
    let rejected = false;
    const reject = (details: string) => {
      if (rejected) return;
      rejected = true;
      this.options.logger.warn({ artifact: name }, `artifact upload rejected: ${details}`);
      callback({ code: grpc.status.INVALID_ARGUMENT, details });
    };
    call.on('data', (chunk: coordinatorPb.ArtifactChunk) => {
      if (rejected) return;
      if (chunk.runId !== this.runId) return reject(`artifact for run '${chunk.runId}' sent to run '${this.runId}'`);
      name ||= chunk.name;
      if (chunk.name !== name) return reject(`artifact chunk for '${chunk.name}' inside the upload of '${name}'`);
      if (chunk.offset !== received) return reject(`artifact '${name}': chunk at offset ${chunk.offset}, expected ${received}`);
      parts.push(Buffer.from(chunk.data));
      received += chunk.data.length;
      if (chunk.last) final = chunk;
    });
    call.on('error', (err) => this.options.logger.warn({ artifact: name, err: err.message }, 'artifact upload broke off'));
    call.on('end', () => {
      if (rejected) return;
      if (!final) return reject(`artifact '${name}' ended without its last chunk (${received} bytes received)`);
      const data = Buffer.concat(parts);
      if (data.length !== final.totalBytes) {
        return reject(`artifact '${name}': received ${data.length} bytes, sender announced ${final.totalBytes}`);
      }
      const digest = sha256Hex(data);
      if (digest !== final.sha256) return reject(`artifact '${name}': SHA-256 ${digest} does not match ${final.sha256}`);
      let path: string;
      try {
        path = this.options.runDir.resolveArtifact(name);
      } catch (err) {
        return reject((err as Error).message);
      }
      writeFileAtomic(path, data);
      this.options.logger.info({ artifact: name, bytes: data.length }, 'artifact stored');
      callback(null, { name, bytes: data.length });
    });
  }

  private onFetch(call: grpc.ServerWritableStream<coordinatorPb.FetchArtifactRequest, coordinatorPb.ArtifactChunk>): void {
    const { runId, name } = call.request;
    let data: Buffer;
    try {
      if (runId !== this.runId) throw new Error(`run '${runId}' is not this coordinator's run '${this.runId}'`);
      data = readFileSync(this.options.runDir.resolveArtifact(name));
    } catch (err) {
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `artifact '${name}': ${(err as Error).message}` });
      return;
    }
    const digest = sha256Hex(data);
    for (let offset = 0; offset < data.length || offset === 0; offset += ARTIFACT_CHUNK_BYTES) {
      const end = Math.min(data.length, offset + ARTIFACT_CHUNK_BYTES);
      const last = end === data.length;
      call.write({ runId, rank: 0, name, offset, data: data.subarray(offset, end), last, totalBytes: data.length, sha256: last ? digest : '' });
      if (last) break;
    }
    call.end();
  }

  /** Holds a worker's ready call until every rank has built its model and loaded its data. */
  private onReady(request: coordinatorPb.ReadyRequest, callback: grpc.sendUnaryData<coordinatorPb.Ack>): void {
    const member = this.memberFor(request.runId, request.rank);
    if (!member || this.phase !== 'running') {
      const details = member ? `run ${this.runId} is ${this.phase}: ${this.failure?.message ?? ''}` : `rank ${request.rank} is not a member of run ${this.runId}`;
      callback({ code: member ? grpc.status.ABORTED : grpc.status.NOT_FOUND, details });
      return;
    }
    this.readyWaiters.push(callback);
    this.readyRanks.add(request.rank);
    if (this.readyRanks.size === this.options.worldSize) {
      this.options.logger.info({ worldSize: this.options.worldSize }, 'every worker is ready; training starts');
      for (const waiter of this.readyWaiters.splice(0)) waiter(null, {});
    }
  }

  /**
   * Records a finished worker. The reply waits until every rank has finished, so that no worker
   * closes its ring streams while a neighbour's last collective may still use them.
   */
  private onFinish(request: coordinatorPb.FinishRequest, callback: grpc.sendUnaryData<coordinatorPb.Ack>): void {
    const member = this.memberFor(request.runId, request.rank);
    if (!member) {
      callback({ code: grpc.status.NOT_FOUND, details: `rank ${request.rank} is not a member of run ${this.runId}` });
      return;
    }
    if (this.phase === 'failed') {
      callback({ code: grpc.status.ABORTED, details: `run ${this.runId} failed: ${this.failure?.message ?? ''}` });
      return;
    }
    this.finishWaiters.push(callback);
    member.finished = true;
    const reported = (request.summaryJson ? JSON.parse(request.summaryJson) : {}) as Record<string, unknown>;
    member.parametersSha256 = String(reported['parametersSha256'] ?? '');
    if (request.rank === 0) this.trainingSummary = reported;
    this.options.logger.info({ rank: request.rank, parametersSha256: member.parametersSha256 }, 'worker finished');
    if (this.members.every((m) => m.finished) && this.phase === 'running') {
      const reference = this.members[0]!.parametersSha256;
      const drifted = this.members.filter((m) => m.parametersSha256 !== reference).map((m) => m.rank);
      if (drifted.length > 0) {
        this.fail(
          `parameters differ between ranks at the end of training: rank 0 has SHA-256 ${reference.slice(0, 16)}..., ` +
            `ranks ${drifted.join(', ')} have others; the all-reduce or optimiser is not deterministic`,
          drifted[0],
        );
        return;
      }
      this.phase = 'finishing';
      for (const waiter of this.finishWaiters.splice(0)) waiter(null, {});
      this.writeSummary().then(
        (summary) => {
          this.phase = 'finished';
          this.resolveDone(summary);
        },
        (err: Error) => this.fail(`writing the run summary failed: ${err.message}`, undefined),
      );
    }
  }

  private async writeSummary(): Promise<RunSummary> {
    const { runDir, config, logger } = this.options;
    const modelPath = join(runDir.path, 'model.onnx');
    const summary: RunSummary = {
      runId: this.runId,
      worldSize: this.options.worldSize,
      ...this.trainingSummary,
    };
    if (existsSync(modelPath)) {
      const modelBytes = readFileSync(modelPath);
      summary['modelBytes'] = statSync(modelPath).size;
      Object.assign(summary, await evaluateExportedModel(config, modelBytes, logger));
      if (config.quant.aware) Object.assign(summary, await writeInt8Model(config, modelBytes, runDir, logger));
      else removeStaleInt8Model(runDir, logger);
    }
    summary['wallSeconds'] = (Date.now() - this.startedMs) / 1000;
    runDir.writeJson('summary.json', summary);
    logger.info({ summary }, 'run finished');
    return summary;
  }
}

/** Converts a metrics message to the metrics.jsonl record, leaving out absent optional fields. */
function metricsRecord(m: coordinatorPb.StepMetrics): Record<string, unknown> {
  const record: Record<string, unknown> = {
    step: m.step,
    epoch: m.epoch,
    loss: m.loss,
    lr: m.lr,
    samplesPerSec: m.samplesPerSec,
    computeMs: m.computeMs,
    allreduceMs: m.allreduceMs,
    optimizerMs: m.optimizerMs,
  };
  if (m.tokensPerSec !== undefined) record['tokensPerSec'] = m.tokensPerSec;
  if (m.gradNorm !== undefined) record['gradNorm'] = m.gradNorm;
  if (m.valLoss !== undefined) record['valLoss'] = m.valLoss;
  if (m.testAccuracy !== undefined) record['testAccuracy'] = m.testAccuracy;
  if (m.testLoss !== undefined) record['testLoss'] = m.testLoss;
  return record;
}
