/**
 * The per-stage budget from two scrapes of a node: CPU per answer by thread, the log's commits
 * in the span, and the share of them slower than 1, 2 and 5 ms from the commit histogram.
 */

import { describe, expect, it } from 'vitest';
import { formatStageBudget, type NodeScrape, stageBudget } from './stage-budget.js';

function scrape(
  commits: number,
  commitSeconds: number,
  buckets: [number, number][],
  workerUser: number,
): NodeScrape {
  return {
    threads: new Map([['worker-0', { user: workerUser, system: 0 }]]),
    commits,
    commitSeconds,
    commitBuckets: new Map(buckets),
    batchRecords: commits * 10,
    snapshotsStarted: 0,
    snapshotRunning: false,
  };
}

describe('stageBudget', () => {
  it('counts the span commits slower than each bound from the histogram difference', () => {
    // Before: 1,000 commits, all within 1 ms. After: 2,000 more, of which 100 took over 1 ms,
    // 30 over 2 ms and 4 over 5 ms.
    const before = scrape(
      1_000,
      0.4,
      [
        [0.0005, 900],
        [0.001, 1_000],
        [0.002, 1_000],
        [0.005, 1_000],
      ],
      1,
    );
    const after = scrape(
      3_000,
      1.6,
      [
        [0.0005, 2_500],
        [0.001, 2_900],
        [0.002, 2_970],
        [0.005, 2_996],
      ],
      2,
    );
    const budget = stageBudget(before, after, 1_000, 2, 0.5);
    expect(budget.commits).toBe(2_000);
    expect(budget.recordsPerCommit).toBe(10);
    expect(budget.commitMeanMs).toBeCloseTo(0.6, 6);
    expect(budget.slowCommits).toEqual([
      { overMs: 1, share: 100 / 2_000 },
      { overMs: 2, share: 30 / 2_000 },
      { overMs: 5, share: 4 / 2_000 },
    ]);
    // 1 CPU-s of the worker over 2,000 answers: 500 µs each.
    expect(budget.rows.find((row) => row.stage === 'node worker-0')?.userMicros).toBe(500);
    expect(formatStageBudget(budget)).toContain(
      'log: slow commits (what the p99 waits behind): over 1 ms 5.00%, over 2 ms 1.50%, ' +
        'over 5 ms 0.20%',
    );
  });

  it('prints no slow-commit line without commits or without the histogram', () => {
    const idle = scrape(5, 0.001, [[0.001, 5]], 1);
    const quiet = stageBudget(idle, idle, 100, 1, 0.1);
    expect(quiet.commits).toBe(0);
    expect(quiet.slowCommits).toEqual([]);
    expect(formatStageBudget(quiet)).not.toContain('slow commits');
    const old = stageBudget(scrape(0, 0, [], 0), scrape(10, 0.01, [], 1), 100, 1, 0.1);
    expect(old.slowCommits).toEqual([]);
    expect(formatStageBudget(old)).toContain('log: 10 group commits');
    expect(formatStageBudget(old)).not.toContain('slow commits');
  });
});
