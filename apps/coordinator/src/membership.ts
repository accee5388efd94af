/** One worker of the run, as the coordinator records it. */
export interface Member {
  rank: number;
  address: string;
  hostname: string;
  pid: number;
  device: string;
  cpuCount: number;
  lastHeartbeatMs: number;
  step: number;
  finished: boolean;
  /** SHA-256 of the final parameters, reported at finish; all ranks must agree. */
  parametersSha256: string;
}

/**
 * Intra-op threads for each member: the configured count, or the host's CPUs
 * shared evenly by the workers on that host (at least 1).
 */
export function threadsPerMember(members: readonly Member[], configured: number): number[] {
  if (configured > 0) return members.map(() => configured);
  const perHost = new Map<string, number>();
  for (const m of members) perHost.set(m.hostname, (perHost.get(m.hostname) ?? 0) + 1);
  return members.map((m) => Math.max(1, Math.floor(m.cpuCount / perHost.get(m.hostname)!)));
}

/**
 * Factor on the heartbeat timeout for a member still at step 0: it is building its graph, loading
 * data and creating its session, and a slow disk can hold that up for seconds.
 */
export const SETUP_TIMEOUT_FACTOR = 3;

/** Members whose last heartbeat is older than their timeout, for the stall check. */
export function silentMembers(members: readonly Member[], nowMs: number, timeoutMs: number): Member[] {
  return members.filter((m) => {
    const limit = m.step === 0 ? timeoutMs * SETUP_TIMEOUT_FACTOR : timeoutMs;
    return !m.finished && nowMs - m.lastHeartbeatMs > limit;
  });
}
