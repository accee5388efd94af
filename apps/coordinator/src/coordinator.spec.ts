import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveRunConfig } from '@ringtrain/config';
import { silentLogger } from '@ringtrain/logging';
import { coordinatorPb } from '@ringtrain/proto';
import { Coordinator } from './coordinator.js';
import { RunDirectory } from './run-directory.js';

const dirs: string[] = [];
const coordinators: Coordinator[] = [];
const clients: coordinatorPb.CoordinatorClient[] = [];

afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  for (const c of coordinators.splice(0)) await c.close();
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
});

async function startCoordinator(worldSize: number, overrides: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-coordinator-'));
  dirs.push(dir);
  const config = resolveRunConfig({ train: { steps: 10 } }, overrides);
  const runDir = RunDirectory.create(dir, 'run-1');
  const coordinator = await Coordinator.start({ config, worldSize, listen: '127.0.0.1:0', runId: 'run-1', runDir, logger: silentLogger() });
  coordinators.push(coordinator);
  return { coordinator, runDir };
}

function connect(address: string) {
  const client = new coordinatorPb.CoordinatorClient(address, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

function joinRun(client: coordinatorPb.CoordinatorClient, advertise: string) {
  return new Promise<coordinatorPb.JoinResponse>((resolve, reject) =>
    client.join(
      { advertiseAddress: advertise, device: 'cpu', hostname: 'host-a', pid: 1, cpuCount: 4 },
      new grpc.Metadata(),
      { deadline: new Date(Date.now() + 10_000) },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

function upload(client: coordinatorPb.CoordinatorClient, name: string, data: Buffer, sha256: string) {
  return new Promise<coordinatorPb.UploadResult>((resolve, reject) => {
    const call = client.uploadArtifact((err, res) => (err ? reject(err) : resolve(res!)));
    call.write({ runId: 'run-1', rank: 0, name, offset: 0, data, last: true, totalBytes: data.length, sha256 });
    call.end();
  });
}

describe('Coordinator', () => {
  it('assigns ranks in join order and publishes the ring', async () => {
    const { coordinator, runDir } = await startCoordinator(3);
    const replies = await Promise.all(
      ['127.0.0.1:5001', '127.0.0.1:5002', '127.0.0.1:5003'].map(async (a, i) => {
        await new Promise((r) => setTimeout(r, i * 30));
        return joinRun(connect(coordinator.address), a);
      }),
    );
    expect(replies.map((r) => r.rank)).toEqual([0, 1, 2]);
    for (const reply of replies) {
      expect(reply.worldSize).toBe(3);
      expect(reply.runId).toBe('run-1');
      expect(reply.peers.map((p) => p.address)).toEqual(['127.0.0.1:5001', '127.0.0.1:5002', '127.0.0.1:5003']);
      // Three workers share the host's 4 CPUs.
      expect(reply.threads).toBe(1);
      expect(JSON.parse(reply.configJson).train.steps).toBe(10);
    }
    expect(JSON.parse(readFileSync(join(runDir.path, 'config.json'), 'utf8')).train.steps).toBe(10);
  });

  it('holds ready replies until every rank is ready', async () => {
    const { coordinator } = await startCoordinator(2);
    const a = connect(coordinator.address);
    const b = connect(coordinator.address);
    const [ra, rb] = await Promise.all([joinRun(a, '127.0.0.1:5201'), joinRun(b, '127.0.0.1:5202')]);
    const ready = (client: coordinatorPb.CoordinatorClient, rank: number) =>
      new Promise<number>((resolve, reject) => client.ready({ runId: 'run-1', rank }, (err) => (err ? reject(err) : resolve(Date.now()))));
    const first = ready(a, ra.rank);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const secondSentAt = Date.now();
    const [firstDone] = await Promise.all([first, ready(b, rb.rank)]);
    expect(firstDone).toBeGreaterThanOrEqual(secondSentAt);
  });

  it('holds finish replies until every rank has finished', async () => {
    const { coordinator } = await startCoordinator(2);
    const a = connect(coordinator.address);
    const b = connect(coordinator.address);
    const [ra, rb] = await Promise.all([joinRun(a, '127.0.0.1:5101'), joinRun(b, '127.0.0.1:5102')]);
    const finish = (client: coordinatorPb.CoordinatorClient, rank: number) =>
      new Promise<number>((resolve, reject) =>
        client.finish({ runId: 'run-1', rank, summaryJson: JSON.stringify({ parametersSha256: 'same' }) }, (err) =>
          err ? reject(err) : resolve(Date.now()),
        ),
      );
    const first = finish(a, ra.rank);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const secondSentAt = Date.now();
    const [firstDone] = await Promise.all([first, finish(b, rb.rank)]);
    expect(firstDone).toBeGreaterThanOrEqual(secondSentAt);
    await expect(coordinator.done).resolves.toMatchObject({ runId: 'run-1', worldSize: 2 });
  });

  it('EXPECTED FAILURE - a silent worker is named', async () => {
    const { coordinator } = await startCoordinator(2, ['cluster.heartbeatMs=200', 'cluster.heartbeatTimeoutMs=600']);
    const a = connect(coordinator.address);
    const b = connect(coordinator.address);
    const [ra] = await Promise.all([joinRun(a, '127.0.0.1:6001'), joinRun(b, '127.0.0.1:6002')]);
    const started = Date.now();
    const beat = setInterval(() => a.heartbeat({ runId: 'run-1', rank: ra.rank, ringEpoch: 1, step: 3 }, () => undefined), 100);
    // Rank 1 never sends a heartbeat, so it is still at step 0 and gets the setup allowance of 3 x 600 ms.
    try {
      await expect(coordinator.done).rejects.toThrow(/rank 1 sent no heartbeat/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      clearInterval(beat);
    }
  });

  it('EXPECTED FAILURE - a worker past the world size is rejected', async () => {
    const { coordinator } = await startCoordinator(1);
    await joinRun(connect(coordinator.address), '127.0.0.1:7001');
    await expect(joinRun(connect(coordinator.address), '127.0.0.1:7002')).rejects.toThrow(/already has its 1 workers/);
  });

  it('stores an uploaded artifact after checking its digest', async () => {
    const { coordinator, runDir } = await startCoordinator(1);
    const client = connect(coordinator.address);
    await joinRun(client, '127.0.0.1:7101');
    const data = Buffer.from('model bytes');
    const digest = createHash('sha256').update(data).digest('hex');
    await upload(client, 'model.onnx', data, digest);
    expect(readFileSync(join(runDir.path, 'model.onnx'), 'utf8')).toBe('model bytes');
  });

  it('EXPECTED FAILURE - a corrupt upload is rejected and not stored', async () => {
    const { coordinator, runDir } = await startCoordinator(1);
    const client = connect(coordinator.address);
    await joinRun(client, '127.0.0.1:7201');
    await expect(upload(client, 'model.onnx', Buffer.from('abc'), '00'.repeat(32))).rejects.toThrow(/does not match/);
    expect(existsSync(join(runDir.path, 'model.onnx'))).toBe(false);
  });

  it('EXPECTED FAILURE - an artifact path outside the run directory is rejected', async () => {
    const { coordinator } = await startCoordinator(1);
    const client = connect(coordinator.address);
    await joinRun(client, '127.0.0.1:7301');
    const data = Buffer.from('x');
    const digest = createHash('sha256').update(data).digest('hex');
    await expect(upload(client, '../escape.txt', data, digest)).rejects.toThrow(/inside the run directory/);
  });

  it('EXPECTED FAILURE - a reported ring failure names the suspect rank', async () => {
    const { coordinator } = await startCoordinator(2);
    const a = connect(coordinator.address);
    await Promise.all([joinRun(a, '127.0.0.1:7401'), joinRun(connect(coordinator.address), '127.0.0.1:7402')]);
    await new Promise((resolve) =>
      a.reportFailure({ runId: 'run-1', rank: 0, ringEpoch: 1, step: 4, message: 'neighbour rank 1 closed its stream', suspectRank: 1 }, resolve),
    );
    await expect(coordinator.done).rejects.toMatchObject({ rank: 1 });
    const reply = await new Promise<coordinatorPb.HeartbeatResponse>((resolve, reject) =>
      a.heartbeat({ runId: 'run-1', rank: 0, ringEpoch: 1, step: 4 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(reply.command).toBe(coordinatorPb.HeartbeatResponse_Command.ABORT);
    expect(reply.reason).toMatch(/neighbour rank 1/);
  });
});
