/**
 * A short failover run in CI (issue 10): a 3-server NATS JetStream cluster on loopback, a
 * region's primary and standby as real node processes, durable orders through the cluster SDK
 * while the primary is SIGKILLed (sync replication), and a primary paused past its lease.
 * Every acknowledged order must be found on the new owner and the stock must be exact. The
 * full runs (20 failovers, async, a NATS server killed) are `npm run loadtest:failover`.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seedFromEnv } from '../engine/testing/prng.js';
import { statFields } from '../wal/index.js';
import { describeReport, runFailover } from './failover.js';

const RUN_MS_MAX = 150_000;
/** The run's own deadline: it stops every process it started with time left before the test's. */
const DEADLINE_MS = RUN_MS_MAX - 40_000;

/** PIDs of this process's children (NATS servers and nodes are started by it). */
function childPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const parent = Number(statFields(stat)[1]);
    if (parent === process.pid) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/** Two kills of the primary under sync replication, short rounds and a short lease. */
const KILLS = {
  scenario: 'kill',
  failovers: 2,
  replication: 'sync',
  roundMsMin: 500,
  roundMsMax: 1_000,
  leaseMs: 2_000,
} as const;

describe('failover on a NATS JetStream cluster', () => {
  it(
    'stops every process it started when the run passes its deadline',
    async () => {
      const before = childPids();
      await expect(runFailover({ ...KILLS, seed: seedFromEnv(), deadlineMs: 1 })).rejects.toThrow(
        'the run passed its deadline of 1 ms',
      );
      expect(childPids()).toEqual(before);
    },
    RUN_MS_MAX,
  );

  it(
    'loses and oversells nothing acknowledged while the primary is killed (sync)',
    async () => {
      const seed = seedFromEnv();
      const report = await runFailover({ ...KILLS, seed, deadlineMs: DEADLINE_MS });
      const summary = `${describeReport(report)} SEED=${seed}`;
      expect(report.failovers, summary).toBe(2);
      expect(report.acknowledged, summary).toBeGreaterThan(100);
      expect(report.lost, summary).toBe(0);
      expect(report.oversold, summary).toBe(0);
      expect(report.problems, summary).toEqual([]);
      // Each failover completed: a new owner acknowledged orders sent after the kill.
      expect(report.failoverMs.length, summary).toBe(2);
    },
    RUN_MS_MAX,
  );

  it(
    'a paused primary acknowledges nothing once its lease lapsed (zombie)',
    async () => {
      const seed = seedFromEnv();
      const report = await runFailover({
        scenario: 'zombie',
        failovers: 1,
        replication: 'async',
        roundMsMin: 500,
        roundMsMax: 1_000,
        leaseMs: 2_000,
        seed,
        deadlineMs: DEADLINE_MS,
      });
      const summary = `${describeReport(report)} SEED=${seed}`;
      expect(report.failovers, summary).toBe(1);
      // Nothing decided after the deadline: the only acknowledgements allowed after SIGCONT are
      // those the node reports as checked before it (the pause fell between check and write).
      expect(report.zombieAcks, summary).toBeLessThanOrEqual(report.zombieAcksExplained);
      expect(report.oversold, summary).toBe(0);
      expect(
        report.problems.filter((problem) => !problem.includes('missing')),
        summary,
      ).toEqual([]);
    },
    RUN_MS_MAX,
  );
});
