import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { coordinatorPb } from '@ringtrain/proto';

const ARTIFACT_CHUNK_BYTES = 1 << 20;
const UNARY_DEADLINE_MS = 10_000;
const MAX_MESSAGE_BYTES = 8 << 20;

type Metrics = coordinatorPb.StepMetrics;

function deadline(ms: number): Date {
  return new Date(Date.now() + ms);
}

function unary<Req, Res>(
  call: (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  request: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    call(request, new grpc.Metadata(), { deadline: deadline(timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A worker's connection to the coordinator: join, heartbeats, metrics and artifacts. */
export class CoordinatorClient {
  private readonly client: coordinatorPb.CoordinatorClient;
  /** Streaming calls in flight, cancelled by `cancelAll` when the worker aborts. */
  private readonly active = new Set<grpc.Call>();
  runId = '';
  rank = -1;

  constructor(readonly address: string) {
    this.client = new coordinatorPb.CoordinatorClient(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
  }

  /** Joins the run and waits (up to `timeoutMs`) until every worker has joined. */
  async join(request: coordinatorPb.JoinRequest, timeoutMs: number): Promise<coordinatorPb.JoinResponse> {
    const reply = await unary(this.client.join.bind(this.client), request, timeoutMs);
    this.runId = reply.runId;
    this.rank = reply.rank;
    return reply;
  }

  heartbeat(step: number, ringEpoch: number, timeoutMs: number): Promise<coordinatorPb.HeartbeatResponse> {
    return unary(this.client.heartbeat.bind(this.client), { runId: this.runId, rank: this.rank, ringEpoch, step }, timeoutMs);
  }

  async reportMetrics(metrics: Metrics[]): Promise<void> {
    await unary(this.client.reportMetrics.bind(this.client), { runId: this.runId, rank: this.rank, metrics }, UNARY_DEADLINE_MS);
  }

  async reportFailure(step: number, ringEpoch: number, message: string, suspectRank: number): Promise<void> {
    await unary(
      this.client.reportFailure.bind(this.client),
      { runId: this.runId, rank: this.rank, ringEpoch, step, message, suspectRank },
      UNARY_DEADLINE_MS,
    );
  }

  /** Reports that this worker is set up; resolves once every rank is (up to `timeoutMs`). */
  async ready(timeoutMs: number): Promise<void> {
    await unary(this.client.ready.bind(this.client), { runId: this.runId, rank: this.rank }, timeoutMs);
  }

  /** Reports the end of training; resolves once every rank has finished (up to `timeoutMs`). */
  async finish(summary: Record<string, unknown> | undefined, timeoutMs: number): Promise<void> {
    const summaryJson = summary ? JSON.stringify(summary) : '';
    await unary(this.client.finish.bind(this.client), { runId: this.runId, rank: this.rank, summaryJson }, timeoutMs);
  }

  /** Streams a file into the run directory in 1 MiB chunks; the last one carries the size and SHA-256. */
  uploadArtifact(name: string, data: Uint8Array, timeoutMs: number): Promise<coordinatorPb.UploadResult> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    return new Promise((resolve, reject) => {
      const call = this.client.uploadArtifact({ deadline: deadline(timeoutMs) }, (err, res) => {
        this.active.delete(call);
        if (err) reject(new Error(`upload of ${name} failed: ${err.message}`));
        else resolve(res!);
      });
      this.active.add(call);
      for (let offset = 0; ; offset += ARTIFACT_CHUNK_BYTES) {
        const end = Math.min(data.length, offset + ARTIFACT_CHUNK_BYTES);
        const last = end === data.length;
        call.write({
          runId: this.runId,
          rank: this.rank,
          name,
          offset,
          data: Buffer.from(data.buffer, data.byteOffset + offset, end - offset),
          last,
          totalBytes: data.length,
          sha256: last ? sha256 : '',
        });
        if (last) break;
      }
      call.end();
    });
  }

  /** Reads a file of the run directory and checks its size and SHA-256. */
  fetchArtifact(name: string, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let final: coordinatorPb.ArtifactChunk | undefined;
      const call = this.client.fetchArtifact({ runId: this.runId, name }, { deadline: deadline(timeoutMs) });
      call.on('data', (chunk: coordinatorPb.ArtifactChunk) => {
        parts.push(Buffer.from(chunk.data));
        if (chunk.last) final = chunk;
      });
      call.on('error', (err) => reject(new Error(`fetching ${name} from the coordinator failed: ${err.message}`)));
      call.on('end', () => {
        const data = Buffer.concat(parts);
        const digest = createHash('sha256').update(data).digest('hex');
        if (!final || data.length !== final.totalBytes || digest !== final.sha256) {
          reject(new Error(`artifact ${name} arrived incomplete or corrupt (${data.length} bytes, SHA-256 ${digest})`));
        } else {
          resolve(data);
        }
      });
    });
  }

  /** Cancels every streaming call in flight; their promises reject. */
  cancelAll(): void {
    for (const call of this.active) call.cancel();
    this.active.clear();
  }

  close(): void {
    this.cancelAll();
    this.client.close();
  }
}
