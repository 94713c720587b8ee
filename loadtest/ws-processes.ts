/**
 * Running the WebSocket load in one process or in K forked ones (child_process.fork), with
 * live progress, optional CPU pinning (taskset) and the CPU time the generators used, then
 * merging the per-process results: counts and error codes add up, HDR histograms are merged
 * from their base64 encodings.
 *
 * Invariants: forked generators connect first and start together on one 'start' message; a
 * generator that fails or exits early fails the run; every forked process still running when
 * the run ends is signalled by its own PID.
 */

import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeHistogram, mergeHistograms, summarize } from './histogram.js';
import { formatCount, type LatencyRow, ownCpuSeconds } from './report.js';
import {
  OP_TYPES,
  type OpType,
  type Progress,
  runWsLoad,
  type WsRunConfig,
  type WsRunResult,
} from './ws-runner.js';

/** A forked generator must report ready (all connections open) within this time. */
const CHILD_READY_MS_MAX = 60_000;
/** Pause between the last 'ready' and 'start', so every generator is idle when load begins. */
const START_DELAY_MS = 50;
const PROGRESS_PRINT_MS = 1_000;
/** Argument that makes the load-generator entry point run as a forked generator. */
export const CHILD_FLAG = '--child';

type ParentMessage =
  | { type: 'config'; config: WsRunConfig; cpus: string | null }
  | { type: 'start' };
type ChildMessage =
  | { type: 'ready' }
  | { type: 'progress'; progress: Progress }
  | { type: 'result'; result: WsRunResult; cpuSeconds: number }
  | { type: 'error'; message: string };

export interface GeneratorOutcome {
  results: WsRunResult[];
  /** CPU seconds the generator processes used from the start signal to their result. */
  cpuSeconds: number;
}

/** Pins this process (every thread it has) to `cpus` with taskset. */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}

/** Sums progress reports and prints answers per second about once a second, to stderr. */
function progressPrinter(): (progress: Progress) => void {
  let answers = 0;
  let errors = 0;
  let second = 0;
  let last = Date.now();
  return (progress) => {
    answers += progress.answers;
    errors += progress.errors;
    const now = Date.now();
    if (now - last < PROGRESS_PRINT_MS * 0.99) return;
    second++;
    const tail = errors > 0 ? `, ${formatCount(errors)} errors` : '';
    process.stderr.write(`  ${second}s: ${formatCount(answers)} answers/s${tail}\n`);
    answers = 0;
    errors = 0;
    last = now;
  };
}

export async function runInProcess(
  config: WsRunConfig,
  cpus: string | null,
): Promise<GeneratorOutcome> {
  if (cpus !== null) pinSelf(cpus);
  let cpuAtStart = 0;
  const result = await runWsLoad(config, {
    onReady: () => {
      cpuAtStart = ownCpuSeconds();
    },
    onProgress: progressPrinter(),
  });
  return { results: [result], cpuSeconds: ownCpuSeconds() - cpuAtStart };
}

/** The forked side: wait for a config, connect, report ready, run on 'start', report. */
export function runChild(): Promise<number> {
  const send = (message: ChildMessage) => process.send!(message);
  return new Promise((done) => {
    let go: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      go = resolve;
    });
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'start') {
        go();
        return;
      }
      if (message.cpus !== null) pinSelf(message.cpus);
      let cpuAtStart = 0;
      const startSignal = started.then(() => {
        cpuAtStart = ownCpuSeconds();
      });
      runWsLoad(message.config, {
        onReady: () => send({ type: 'ready' }),
        startSignal,
        onProgress: (progress) => send({ type: 'progress', progress }),
      }).then(
        (result) => {
          send({ type: 'result', result, cpuSeconds: ownCpuSeconds() - cpuAtStart });
          done(0);
        },
        (error: unknown) => {
          send({ type: 'error', message: String(error) });
          done(1);
        },
      );
    });
  });
}

function outcomeOf(child: ChildProcess, index: number, onProgress: (p: Progress) => void) {
  return new Promise<{ result: WsRunResult; cpuSeconds: number }>((done, fail) => {
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') onProgress(message.progress);
      else if (message.type === 'result') done(message);
      else if (message.type === 'error') fail(new Error(`generator ${index}: ${message.message}`));
    });
    child.once('exit', (code) => fail(new Error(`generator ${index} exited (${code})`)));
  });
}

function readyOf(child: ChildProcess): Promise<void> {
  return new Promise((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`a generator was not ready within ${CHILD_READY_MS_MAX} ms`)),
      CHILD_READY_MS_MAX,
    );
    child.on('message', (message: ChildMessage) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      done();
    });
  });
}

/** Forks one generator per config (the entry point is `entry`, run with CHILD_FLAG). */
export async function runForked(
  entry: string | URL,
  configs: readonly WsRunConfig[],
  cpus: string | null,
): Promise<GeneratorOutcome> {
  const file = typeof entry === 'string' ? entry : fileURLToPath(entry);
  // Each child gets the parent's young-generation size (`npm run loadtest` sets it) and no
  // other flag of the parent's (a profiler's, an inspector's).
  const execArgv = process.execArgv.filter((flag) => flag.startsWith('--max-semi-space-size'));
  const children = configs.map(() => fork(file, [CHILD_FLAG], { stdio: 'inherit', execArgv }));
  const onProgress = progressPrinter();
  const outcomes = children.map((child, index) => outcomeOf(child, index, onProgress));
  // A failure is reported through Promise.all below; this keeps the others from going unhandled.
  for (const outcome of outcomes) outcome.catch(() => {});
  try {
    const ready = children.map(readyOf);
    children.forEach((child, index) => {
      const message: ParentMessage = { type: 'config', config: configs[index], cpus };
      child.send(message);
    });
    await Promise.race([Promise.all(ready), Promise.all(outcomes)]);
    await new Promise((done) => setTimeout(done, START_DELAY_MS));
    for (const child of children) child.send({ type: 'start' } satisfies ParentMessage);
    const finished = await Promise.all(outcomes);
    return {
      results: finished.map((outcome) => outcome.result),
      cpuSeconds: finished.reduce((sum, outcome) => sum + outcome.cpuSeconds, 0),
    };
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
  }
}

export interface MergedOp {
  op: OpType;
  row: LatencyRow;
  errors: Record<string, number>;
  /** The merged latency histogram, base64. */
  histogram: string;
}

export interface MergedRun {
  measuredMs: number;
  ops: MergedOp[];
  unitsPlaced: number;
  unitsFulfilled: number;
}

/** Adds up per-process results; op types with neither answers nor errors are left out. */
export function mergeResults(results: readonly WsRunResult[]): MergedRun {
  // Processes start together; the longest window is the honest denominator.
  const measuredMs = Math.max(0, ...results.map((result) => result.measuredMs));
  const ops: MergedOp[] = [];
  for (const op of OP_TYPES) {
    const parts = results.map((result) => result.ops[op]);
    const count = parts.reduce((sum, part) => sum + part.count, 0);
    const errors: Record<string, number> = {};
    for (const part of parts) {
      for (const [code, n] of Object.entries(part.errors)) errors[code] = (errors[code] ?? 0) + n;
    }
    const errorCount = Object.values(errors).reduce((sum, n) => sum + n, 0);
    if (count === 0 && errorCount === 0) continue;
    const merged = mergeHistograms(parts.map((part) => part.histogram));
    ops.push({
      op,
      row: {
        name: op,
        perSecond: measuredMs > 0 ? (count * 1000) / measuredMs : 0,
        count,
        errors: errorCount,
        latency: summarize(merged),
      },
      errors,
      histogram: encodeHistogram(merged),
    });
  }
  return {
    measuredMs,
    ops,
    unitsPlaced: results.reduce((sum, result) => sum + result.unitsPlaced, 0),
    unitsFulfilled: results.reduce((sum, result) => sum + result.unitsFulfilled, 0),
  };
}
