import { describe, expect, it } from 'vitest';
import { SETUP_TIMEOUT_FACTOR, silentMembers, threadsPerMember, type Member } from './membership.js';

function member(rank: number, fields: Partial<Member> = {}): Member {
  return {
    rank,
    address: `127.0.0.1:${5000 + rank}`,
    hostname: 'host-a',
    pid: 100 + rank,
    device: 'cpu',
    cpuCount: 4,
    lastHeartbeatMs: 0,
    step: 0,
    finished: false,
    parametersSha256: '',
    ...fields,
  };
}

describe('silentMembers', () => {
  it('gives members at step 0 the setup allowance', () => {
    const timeout = 1000;
    const now = 2 * timeout;
    const members = [member(0, { step: 0 }), member(1, { step: 5 }), member(2, { step: 5, finished: true })];
    expect(silentMembers(members, now, timeout).map((m) => m.rank)).toEqual([1]);
    expect(silentMembers(members, SETUP_TIMEOUT_FACTOR * timeout + 1, timeout).map((m) => m.rank)).toEqual([0, 1]);
  });
});

describe('threadsPerMember', () => {
  it('shares each host between its workers', () => {
    const members = [member(0), member(1), member(2, { hostname: 'host-b', cpuCount: 16 })];
    expect(threadsPerMember(members, 0)).toEqual([2, 2, 16]);
    expect(threadsPerMember(members, 3)).toEqual([3, 3, 3]);
  });
});
