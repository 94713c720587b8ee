/**
 * The per-stage budget of a load run: CPU microseconds per answer on each of the node's threads
 * (workers, log writer, main, the rest) and in the load generator (SDK and workload), and where
 * the log's commit time goes. The node's side comes from two scrapes of its /metrics
 * (`inventory_thread_cpu_seconds_total`, the log's commit and batch histograms), taken right
 * before and right after the generators run; the generator's from its own CPU time.
 *
 * Per answer means over the same span: CPU seconds ÷ (answers per second in the measured window
 * × the span's seconds); warm-up and drain run at about the same rate, so this is the cost of one
 * answer at that load, not an inner-loop figure.
 */

import { parsePrometheusText } from '../edge/index.js';

export interface NodeScrape {
  /** CPU seconds (user + system) by thread label. */
  threads: Map<string, { user: number; system: number }>;
  commits: number;
  commitSeconds: number;
  /** Commits that took at most each bound, cumulative, by the bound in seconds (no +Inf). */
  commitBuckets: Map<number, number>;
  batchRecords: number;
  /** The node's snapshots started so far, and whether one is running (0 / false: none). */
  snapshotsStarted: number;
  snapshotRunning: boolean;
}

/** Fetches and parses the node's /metrics; null when it cannot (TLS, no key, an old node). */
export async function scrapeNode(metricsUrl: string, key: string): Promise<NodeScrape | null> {
  let text: string;
  try {
    const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${key}` } });
    if (!response.ok) return null;
    text = await response.text();
  } catch {
    return null;
  }
  const { samples } = parsePrometheusText(text);
  const threads = new Map<string, { user: number; system: number }>();
  let commits = 0;
  let commitSeconds = 0;
  const commitBuckets = new Map<number, number>();
  let batchRecords = 0;
  let snapshotsStarted = 0;
  let snapshotRunning = false;
  for (const { name, labels, value } of samples) {
    if (name === 'inventory_thread_cpu_seconds_total') {
      const entry = threads.get(labels.thread) ?? { user: 0, system: 0 };
      if (labels.mode === 'user') entry.user = value;
      else entry.system = value;
      threads.set(labels.thread, entry);
    } else if (name === 'inventory_log_commit_duration_seconds_bucket') {
      const bound = Number(labels.le);
      if (Number.isFinite(bound)) commitBuckets.set(bound, value);
    } else if (name === 'inventory_log_commit_duration_seconds_count') commits = value;
    else if (name === 'inventory_log_commit_duration_seconds_sum') commitSeconds = value;
    else if (name === 'inventory_log_batch_records_sum') batchRecords = value;
    else if (name === 'inventory_snapshots_started_total') snapshotsStarted = value;
    else if (name === 'inventory_snapshot_running') snapshotRunning = value === 1;
  }
  return {
    threads,
    commits,
    commitSeconds,
    commitBuckets,
    batchRecords,
    snapshotsStarted,
    snapshotRunning,
  };
}

export interface ScrapedRun<T> {
  result: T;
  /** Seconds `run` took. */
  spanSeconds: number;
  /** The per-stage table of the span; null when a scrape was skipped or failed. */
  budget(
    answersPerSecond: number,
    generatorCpuSeconds: number,
    generatorLabel?: string,
  ): StageBudget | null;
}

/**
 * Runs `run` between two scrapes of the node's /metrics, taken right before and right after it
 * (none when `key` is null: a node that cannot be scraped, over TLS say).
 */
export async function runScraped<T>(
  metricsUrl: string,
  key: string | null,
  run: () => Promise<T>,
): Promise<ScrapedRun<T>> {
  const before = key === null ? null : await scrapeNode(metricsUrl, key);
  const started = performance.now();
  const result = await run();
  const spanSeconds = (performance.now() - started) / 1000;
  const after = before === null ? null : await scrapeNode(metricsUrl, key!);
  return {
    result,
    spanSeconds,
    budget: (answersPerSecond, generatorCpuSeconds, generatorLabel) =>
      before === null || after === null
        ? null
        : stageBudget(
            before,
            after,
            answersPerSecond,
            spanSeconds,
            generatorCpuSeconds,
            generatorLabel,
          ),
  };
}

export interface StageRow {
  stage: string;
  /** CPU µs per answer: user, system, total. */
  userMicros: number;
  systemMicros: number;
  totalMicros: number;
}

export interface StageBudget {
  answersPerSecond: number;
  spanSeconds: number;
  rows: StageRow[];
  /** Group commits in the span, records per commit, mean commit (write + sync) in ms. */
  commits: number;
  recordsPerCommit: number;
  commitMeanMs: number;
  /** Share of the span the log writer spent inside commits (1: it never waited for work). */
  writerBusyShare: number;
  /**
   * Share of the span's commits that took longer than each of SLOW_COMMIT_MS (from the
   * node's commit histogram): the slow flushes every answer queued behind them waits for.
   */
  slowCommits: { overMs: number; share: number }[];
  /**
   * The node's snapshots that ran during the span, in part or whole: a snapshot folds the log
   * in a background thread, whose CPU is in the `other` row and which the answers share the
   * cores with (loadtest/RESULTS.md).
   */
  snapshots: number;
}

/** The commit times the budget reports the share above: bounds of the node's histogram. */
export const SLOW_COMMIT_MS: readonly number[] = [1, 2, 5];

/** Per bound in ms, the share of the span's commits above it; none without commits. */
function slowCommitShares(
  before: NodeScrape,
  after: NodeScrape,
  commits: number,
): { overMs: number; share: number }[] {
  if (commits <= 0) return [];
  const shares: { overMs: number; share: number }[] = [];
  for (const overMs of SLOW_COMMIT_MS) {
    const bound = overMs / 1000;
    const end = after.commitBuckets.get(bound);
    if (end === undefined) continue;
    const within = end - (before.commitBuckets.get(bound) ?? 0);
    shares.push({ overMs, share: Math.max(0, commits - within) / commits });
  }
  return shares;
}

const THREAD_ORDER = (thread: string) =>
  thread.startsWith('worker-') ? 0 : thread === 'log-writer' ? 1 : thread === 'main' ? 2 : 3;

export function stageBudget(
  before: NodeScrape,
  after: NodeScrape,
  answersPerSecond: number,
  spanSeconds: number,
  generatorCpuSeconds: number,
  generatorLabel = 'load generator (SDK + workload)',
): StageBudget {
  const answers = Math.max(1, answersPerSecond * spanSeconds);
  const micros = (seconds: number) => (seconds * 1e6) / answers;
  const rows: StageRow[] = [];
  let nodeUser = 0;
  let nodeSystem = 0;
  const threads = [...after.threads.keys()].sort(
    (a, b) => THREAD_ORDER(a) - THREAD_ORDER(b) || a.localeCompare(b),
  );
  for (const thread of threads) {
    const end = after.threads.get(thread)!;
    const start = before.threads.get(thread) ?? { user: 0, system: 0 };
    const user = Math.max(0, end.user - start.user);
    const system = Math.max(0, end.system - start.system);
    nodeUser += user;
    nodeSystem += system;
    rows.push({
      stage: `node ${thread}`,
      userMicros: micros(user),
      systemMicros: micros(system),
      totalMicros: micros(user + system),
    });
  }
  rows.push({
    stage: 'node, all threads',
    userMicros: micros(nodeUser),
    systemMicros: micros(nodeSystem),
    totalMicros: micros(nodeUser + nodeSystem),
  });
  rows.push({
    stage: generatorLabel,
    userMicros: Number.NaN,
    systemMicros: Number.NaN,
    totalMicros: micros(generatorCpuSeconds),
  });
  const commits = after.commits - before.commits;
  const commitSeconds = after.commitSeconds - before.commitSeconds;
  return {
    answersPerSecond,
    spanSeconds,
    rows,
    commits,
    recordsPerCommit: commits > 0 ? (after.batchRecords - before.batchRecords) / commits : 0,
    commitMeanMs: commits > 0 ? (commitSeconds * 1000) / commits : 0,
    writerBusyShare: spanSeconds > 0 ? commitSeconds / spanSeconds : 0,
    slowCommits: slowCommitShares(before, after, commits),
    snapshots:
      Math.max(0, after.snapshotsStarted - before.snapshotsStarted) +
      (before.snapshotRunning ? 1 : 0),
  };
}

/** `unit` names what was answered: an answer of the SDK, a request of HTTP. */
export function formatStageBudget(budget: StageBudget, unit = 'answer'): string {
  const cell = (value: number) => (Number.isNaN(value) ? '' : value.toFixed(1));
  const lines = [
    `CPU per ${unit} (µs), ${budget.spanSeconds.toFixed(1)} s at ` +
      `${Math.round(budget.answersPerSecond).toLocaleString('en-US')} ${unit}s/s:`,
    `${'stage'.padEnd(34)}${'user'.padStart(8)}${'system'.padStart(8)}${'total'.padStart(8)}`,
  ];
  for (const row of budget.rows) {
    lines.push(
      `${row.stage.padEnd(34)}${cell(row.userMicros).padStart(8)}` +
        `${cell(row.systemMicros).padStart(8)}${cell(row.totalMicros).padStart(8)}`,
    );
  }
  if (budget.commits > 0) {
    lines.push(
      `log: ${budget.commits.toLocaleString('en-US')} group commits, ` +
        `${budget.recordsPerCommit.toFixed(1)} records each, ` +
        `${budget.commitMeanMs.toFixed(2)} ms per commit (write + sync), ` +
        `writer inside a commit ${(budget.writerBusyShare * 100).toFixed(0)}% of the time`,
    );
    if (budget.slowCommits.length > 0) {
      const shares = budget.slowCommits.map(
        ({ overMs, share }) => `over ${overMs} ms ${(share * 100).toFixed(2)}%`,
      );
      lines.push(`log: slow commits (what the p99 waits behind): ${shares.join(', ')}`);
    }
  }
  if (budget.snapshots > 0) {
    lines.push(
      `node snapshots during the run: ${budget.snapshots} (folding the log in a background ` +
        'thread, counted under "node other"; --snapshot-every sets how often)',
    );
  }
  return lines.join('\n');
}
