/**
 * Lowering the CPU priority of the calling thread alone, for background work (the snapshot
 * fold) that should take a node's spare CPU rather than its answering threads'.
 *
 * On Linux a nice value belongs to a thread: `setpriority(PRIO_PROCESS, 0, n)`, which is what
 * `os.setPriority(0, n)` calls, changes the calling thread only. Elsewhere it changes the
 * whole process, so this does nothing off Linux. Raising a nice value needs no privilege; a
 * refusal (a seccomp profile, say) leaves the thread as it was.
 */

import { getPriority, setPriority } from 'node:os';

/** Sets the calling thread's nice value to `nice` unless it is already that low; true if it is now. */
export function lowerThisThreadPriority(nice: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    if (getPriority(0) < nice) setPriority(0, nice);
    return getPriority(0) >= nice;
  } catch {
    return false;
  }
}
