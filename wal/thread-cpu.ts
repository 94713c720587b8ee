/**
 * CPU time per thread, from Linux's /proc, so a node can say which of its threads (workers, the
 * log writer, the main thread) spent the process's CPU. Each thread learns its own id from
 * /proc/thread-self and reports it; any thread can then read another's counters by id.
 *
 * On a system without /proc the id is -1 and every reading null: the metric is then absent,
 * nothing else changes.
 */

import { readFileSync } from 'node:fs';

/** Linux reports utime and stime in USER_HZ ticks, 100 per second on every architecture. */
const TICKS_PER_SECOND = 100;

/** The kernel's id of the calling thread, or -1 when /proc/thread-self cannot be read. */
export function ownThreadId(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const id = Number.parseInt(stat, 10);
    return Number.isSafeInteger(id) && id > 0 ? id : -1;
  } catch {
    return -1;
  }
}

export interface ThreadCpu {
  userSeconds: number;
  systemSeconds: number;
}

/** CPU seconds thread `id` of this process has used, or null when it cannot be read. */
export function threadCpuSeconds(id: number): ThreadCpu | null {
  if (id <= 0) return null;
  let stat: string;
  try {
    stat = readFileSync(`/proc/self/task/${id}/stat`, 'latin1');
  } catch {
    return null;
  }
  // utime and stime are stat's fields 14 and 15 (statFields counts from field 3).
  const fields = statFields(stat);
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) return null;
  return { userSeconds: user / TICKS_PER_SECOND, systemSeconds: system / TICKS_PER_SECOND };
}

/**
 * The fields of a /proc `stat` line after the command name, which is in parentheses and may hold
 * spaces: index 0 is field 3 (the state), index 1 the parent's PID, and so on.
 */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
