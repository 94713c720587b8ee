/**
 * A short failover run in CI (issue 10): a 3-server NATS JetStream cluster on loopback, a
 * region's primary and standby as real node processes, durable orders through the cluster SDK
 * while the primary is SIGKILLed (sync replication), and a primary paused past its lease.
 * Every acknowledged order must be found on the new owner and the stock must be exact. The
 * full runs (20 failovers, async, a NATS server killed) are `npm run loadtest:failover`.
 */

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedFromEnv } from '../engine/testing/prng.js';
import { statFields } from '../wal/index.js';
import { describeReport, runFailover } from './failover.js';

const RUN_MS_MAX = 150_000;
/** The run's own deadline: it stops every process it started with time left before the test's. */
const DEADLINE_MS = RUN_MS_MAX - 40_000;

const PROGRAM = resolve(import.meta.dirname, '../dist/loadtest/failover.js');

/** PIDs of the children of `parent` (this process's by default: it starts NATS and the nodes). */
function childPids(parent = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (Number(statFields(stat)[1]) === parent) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/**
 * The lease of these runs: short, so a failover takes seconds, but with room for scheduling.
 * A primary renews every lease / 3 and deposes itself when its renewals stall past the lease;
 * on two cores shared with the rest of the suite a renewal can wait a second or more, and a
 * node that deposes itself stays down here (no supervisor restarts it during the scenario).
 */
const LEASE_MS = 4_000;

/** Two kills of the primary under sync replication, short rounds and a short lease. */
const KILLS = {
  scenario: 'kill',
  failovers: 2,
  replication: 'sync',
  roundMsMin: 500,
  roundMsMax: 1_000,
  leaseMs: LEASE_MS,
} as const;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('failover on a NATS JetStream cluster', () => {
  it(
    'npm run loadtest:failover stops its NATS servers and nodes when interrupted',
    async () => {
      // They run in process groups of their own, so a Ctrl-C reaches only the tool.
      const tool = spawn(process.execPath, [PROGRAM, '--scenario', 'kill', '--failovers', '50'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let output = '';
      const exited = new Promise<number | null>((done) => tool.once('exit', done));
      await new Promise<void>((done, fail) => {
        tool.stderr!.on('data', (chunk: Buffer) => {
          output += chunk.toString('utf8');
          if (output.includes('under load')) done();
        });
        tool.once('exit', () => fail(new Error(`the tool exited early:\n${output}`)));
      });
      const started = childPids(tool.pid!);
      const clusterDir = /--data (\S+)\/bengaluru-1/.exec(
        started
          .map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
          .join(' ')
          .replaceAll('\0', ' '),
      )?.[1];
      expect(started.length).toBe(5);
      expect(clusterDir).toBeDefined();
      tool.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(output).toContain("SIGINT: stopping the cluster's processes");
      expect(started.filter(alive)).toEqual([]);
      expect(existsSync(clusterDir!)).toBe(false);
    },
    RUN_MS_MAX,
  );

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
        leaseMs: LEASE_MS,
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
