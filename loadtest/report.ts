/**
 * What every load-test command prints and writes: the machine it ran on, CPU time taken by
 * each party (so "how the cores were split" is a measurement, not a claim), latency tables,
 * and the JSON result files under loadtest/out/.
 */

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { formatMs, type LatencySummary } from './histogram.js';
import { repoRoot } from './node-process.js';

export interface MachineInfo {
  cpuModel: string;
  logicalCpus: number;
  memoryGiB: number;
  platform: string;
  kernel: string;
  arch: string;
  node: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    logicalCpus: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    platform: platform(),
    kernel: release(),
    arch: arch(),
    node: process.version,
  };
}

export function describeMachine(machine: MachineInfo): string {
  return (
    `${machine.logicalCpus} logical CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, ` +
    `${machine.platform} ${machine.kernel} ${machine.arch}, Node ${machine.node}`
  );
}

/**
 * The 1, 5 and 15 minute load averages: on a shared machine, what else was running says how
 * far a figure can be trusted.
 */
export function describeLoad(): string {
  return `load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' / ')} (1 / 5 / 15 min) before the run`;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const PROC_TICKS_PER_SECOND = 100;
const PROC_STAT_UTIME_FIELD = 13;
const PROC_STAT_STIME_FIELD = 14;

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc; null when
 * it cannot be read (not Linux, or the process is gone).
 */
export function processCpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces; fields after it start past its ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[PROC_STAT_UTIME_FIELD - 2]);
  const stime = Number(fields[PROC_STAT_STIME_FIELD - 2]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) / PROC_TICKS_PER_SECOND;
}

/** The parent PID from /proc/<pid>/stat, or null. */
function parentPid(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/**
 * CPU seconds used so far by a process and its live descendants (PostgreSQL runs a process
 * per connection); null when the root cannot be read.
 */
export function processTreeCpuSeconds(root: number): number | null {
  const own = processCpuSeconds(root);
  if (own === null) return null;
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const parent = parentPid(Number(name));
    if (parent === null) continue;
    const list = children.get(parent) ?? [];
    list.push(Number(name));
    children.set(parent, list);
  }
  let total = own;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += processCpuSeconds(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** CPU seconds this process has used so far (user + system). */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export interface LatencyRow {
  name: string;
  perSecond: number;
  count: number;
  errors: number;
  latency: LatencySummary;
}

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A fixed-width table: throughput, count, errors and the latency percentiles. */
export function latencyTable(rows: readonly LatencyRow[]): string {
  const header = [
    pad('op', 14, false),
    pad('per second', 12),
    pad('answers', 12),
    pad('errors', 9),
    pad('p50 ms', 9),
    pad('p90 ms', 9),
    pad('p99 ms', 9),
    pad('p99.9 ms', 9),
    pad('max ms', 9),
  ].join(' ');
  const lines = [header, '-'.repeat(header.length)];
  for (const row of rows) {
    lines.push(
      [
        pad(row.name, 14, false),
        pad(formatCount(row.perSecond), 12),
        pad(formatCount(row.count), 12),
        pad(formatCount(row.errors), 9),
        pad(formatMs(row.latency.p50), 9),
        pad(formatMs(row.latency.p90), 9),
        pad(formatMs(row.latency.p99), 9),
        pad(formatMs(row.latency.p999), 9),
        pad(formatMs(row.latency.max), 9),
      ].join(' '),
    );
  }
  return lines.join('\n');
}

/** loadtest/out/ (gitignored), created when missing. */
export function outDir(): string {
  const dir = join(repoRoot(), 'loadtest', 'out');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** `2026-11-21T11-27-39Z`: a timestamp usable in a file name. */
export function fileStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
