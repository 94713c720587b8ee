/**
 * One measured run of the comparison: drive a system's clients in a closed loop (drive.ts)
 * and read, around it, the CPU the system's server and this load generator used, so every
 * figure comes with how the cores were shared.
 *
 * Invariants: the server's CPU is read from /proc for its whole process tree (null when it
 * cannot be read); the latency histogram travels encoded, as every load tool's does.
 */

import { encodeHistogram, summarize } from '../histogram.js';
import { ownCpuSeconds, processTreeCpuSeconds } from '../report.js';
import { type DriveCall, type DriveOptions, driveClosedLoop } from './drive.js';

export interface Measured {
  /** Calls answered inside the measured window, per second (refusals included). */
  perSecond: number;
  accepted: number;
  refused: number;
  errors: Record<string, number>;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** CPU the system's server used during the run, in cores (null when not readable). */
  serverCores: number | null;
  /** CPU this load generator used during the run, in cores. */
  generatorCores: number;
  histogram: string;
}

export async function measure<T>(
  serverPid: number,
  calls: readonly DriveCall<T>[],
  next: () => T,
  options: DriveOptions,
): Promise<Measured> {
  const serverBefore = processTreeCpuSeconds(serverPid);
  const generatorBefore = ownCpuSeconds();
  const wallStart = performance.now();
  const result = await driveClosedLoop(calls, next, options);
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const serverAfter = processTreeCpuSeconds(serverPid);
  const summary = summarize(result.histogram);
  const answered = result.accepted + result.refused;
  return {
    perSecond: result.measuredMs > 0 ? (answered * 1000) / result.measuredMs : 0,
    accepted: result.accepted,
    refused: result.refused,
    errors: result.errors,
    p50: summary.p50,
    p99: summary.p99,
    p999: summary.p999,
    max: summary.max,
    serverCores:
      serverBefore === null || serverAfter === null
        ? null
        : (serverAfter - serverBefore) / wallSeconds,
    generatorCores: (ownCpuSeconds() - generatorBefore) / wallSeconds,
    histogram: encodeHistogram(result.histogram),
  };
}
