// CPU accounting for benchmark runs, read from the Linux kernel's counters.
//
// A run's own CPU time is the growth of this process's cutime + cstime in
// /proc/self/stat (the time of children it has reaped, which includes their
// reaped descendants) plus its own utime + stime. Other load is the growth of
// the machine's busy time in /proc/stat minus that own time. Steal is the time
// the hypervisor gave to other guests. All three are reported in cores
// (CPU seconds per wall second).
// NOTE: time of a descendant that outlives its parent (reparented to init),
// and softirq work done in ksoftirqd for our sockets, count as other load.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function readClockTicksPerSecond() {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isFinite(value) && value > 0) return value;
  } catch {
    // getconf is missing: fall through to the Linux default.
  }
  return 100;
}

const TICKS_PER_SECOND = readClockTicksPerSecond();

/** Reads the aggregate `cpu` line of /proc/stat: busy (user, nice, system, irq, softirq) and steal ticks. */
function readMachineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const [label, ...fields] = line.trim().split(/\s+/);
  if (label !== 'cpu') throw new Error(`unexpected first line of /proc/stat: '${line}'`);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return { busy: user + nice + system + irq + softirq, steal: steal ?? 0 };
}

/** Reads this process's own and reaped-children CPU ticks from /proc/self/stat. */
function readOwnTicks() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  // The command name (field 2) may contain spaces, so split after its closing bracket.
  // The rest starts at field 3 (state), and fields 14-17 are utime, stime, cutime and cstime.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = rest.slice(11, 15).map(Number);
  return utime + stime + cutime + cstime;
}

/** Starts a CPU meter whose `stop()` returns the own, other and steal cores since the start. */
export function startCpuMeter() {
  const machine = readMachineTicks();
  const own = readOwnTicks();
  const started = performance.now();
  return {
    stop() {
      const wallSeconds = (performance.now() - started) / 1000;
      const machineNow = readMachineTicks();
      const ownTicks = readOwnTicks() - own;
      const busyTicks = machineNow.busy - machine.busy;
      const perSecond = TICKS_PER_SECOND * Math.max(wallSeconds, 1e-3);
      return {
        wallSeconds,
        ownCores: round2(ownTicks / perSecond),
        otherCores: round2(Math.max(0, busyTicks - ownTicks) / perSecond),
        stealCores: round2((machineNow.steal - machine.steal) / perSecond),
      };
    },
  };
}

/** Measures the cores that other processes keep busy over `seconds` while nothing of ours runs. */
export async function sampleOtherLoad(seconds = 1) {
  const meter = startCpuMeter();
  await sleep(seconds * 1000);
  return meter.stop().otherCores;
}

/**
 * Waits until other processes use fewer than `belowCores` cores over one second,
 * for at most `maxWaitSeconds`. Returns the seconds waited and the last load seen.
 */
export async function waitForQuietMachine(belowCores, maxWaitSeconds) {
  const started = performance.now();
  let load = await sampleOtherLoad(1);
  while (load >= belowCores && (performance.now() - started) / 1000 < maxWaitSeconds) {
    load = await sampleOtherLoad(1);
  }
  return { waitedSeconds: round2((performance.now() - started) / 1000), otherCoresBefore: load };
}

function round2(value) {
  return Math.round(value * 100) / 100;
}
