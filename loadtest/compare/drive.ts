/**
 * The comparison's closed-loop driver: a fixed number of calls (orders or availability
 * queries) in flight, spread over the system's clients, each "buyer" making its next call as
 * soon as the last is answered. Every system gets the same sequence (one source per run, same
 * seed), the same concurrency and the same clock: a warm-up, then a measured window.
 *
 * Invariants: bounded in time (warm-up + duration, then a bounded drain) and in count
 * (`callsMax`); only calls issued inside the window are in the latency histogram, and only
 * answers inside it count towards throughput; every failure other than a stock refusal is
 * counted per message, so a flaky system shows in the table; ERRORS_MAX failures stop it.
 */

import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { createLatencyHistogram, recordLatencyUs } from '../histogram.js';

/** One call: true when accepted (or answered), false when refused for stock. */
export type DriveCall<T> = (item: T) => Promise<boolean>;

const DRAIN_MS_MAX = 60_000;
const US_PER_MS = 1000;
/** Distinct error messages kept per run; the rest are counted under 'other'. */
const ERROR_KINDS_MAX = 16;
/** A run with this many failures stops early: the system is broken, not slow. */
const ERRORS_MAX = 10_000;

export interface DriveOptions {
  /** Calls in flight at once, over all clients. */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  callsMax: number;
}

export interface DriveResult {
  accepted: number;
  refused: number;
  errors: Record<string, number>;
  measuredMs: number;
  histogram: Histogram;
}

class DriveState {
  issued = 0;
  running = true;
  accepted = 0;
  refused = 0;
  readonly errors = new Map<string, number>();
  readonly histogram = createLatencyHistogram();
  windowStart = Number.POSITIVE_INFINITY;
  windowEnd = Number.POSITIVE_INFINITY;

  constructor(readonly options: DriveOptions) {}

  errorCount = 0;

  noteError(error: unknown): void {
    if (++this.errorCount >= ERRORS_MAX) this.running = false;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const key = this.errors.has(text) || this.errors.size < ERROR_KINDS_MAX ? text : 'other';
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }
}

async function buyer<T>(state: DriveState, call: DriveCall<T>, next: () => T) {
  while (state.running && state.issued < state.options.callsMax) {
    state.issued++;
    const item = next();
    const started = performance.now();
    let outcome: boolean;
    try {
      outcome = await call(item);
    } catch (error) {
      state.noteError(error);
      continue;
    }
    const ended = performance.now();
    if (started >= state.windowStart && started < state.windowEnd) {
      recordLatencyUs(state.histogram, (ended - started) * US_PER_MS);
    }
    if (ended >= state.windowStart && ended < state.windowEnd) {
      if (outcome) state.accepted++;
      else state.refused++;
    }
  }
}

/** Runs `options.concurrency` buyers; buyer i calls `calls[i % calls.length]`. */
export async function driveClosedLoop<T>(
  calls: readonly DriveCall<T>[],
  next: () => T,
  options: DriveOptions,
): Promise<DriveResult> {
  const state = new DriveState(options);
  const begun = performance.now();
  state.windowStart = begun + options.warmupMs;
  state.windowEnd = state.windowStart + options.durationMs;
  const stopTimer = setTimeout(() => {
    state.running = false;
  }, options.warmupMs + options.durationMs);
  const buyers: Promise<void>[] = [];
  for (let index = 0; index < options.concurrency; index++) {
    buyers.push(buyer(state, calls[index % calls.length], next));
  }
  let drainTimer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    Promise.all(buyers).then(() => true),
    new Promise<boolean>((done) => {
      drainTimer = setTimeout(done, options.warmupMs + options.durationMs + DRAIN_MS_MAX, false);
    }),
  ]);
  clearTimeout(drainTimer);
  clearTimeout(stopTimer);
  state.running = false;
  if (!finished) throw new Error('calls were still unanswered after the drain time');
  state.windowEnd = Math.min(state.windowEnd, performance.now());
  return {
    accepted: state.accepted,
    refused: state.refused,
    errors: Object.fromEntries(state.errors),
    measuredMs: Math.max(0, state.windowEnd - state.windowStart),
    histogram: state.histogram,
  };
}
