import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeSeed, seedFromEnv } from '../../engine/testing/index.js';
import { repoRoot } from '../node-process.js';
import { ensurePostgresInstalled, ensureRedisInstalled } from './servers.js';

// `npm run compare`, short: the real command (dist/, built by `npm test`) starts every system
// on 127.0.0.1 and drives it briefly. It must conserve stock in every system, print orders/s,
// p50 and p99 for each system and scenario with the ratios, and print availability for the
// engine and Redis with their agreement. Speed is not asserted: the machine is shared.

const seed = seedFromEnv(20_241_121);
const because = describeSeed(seed);
/** A few minutes for apt-get when the servers are missing (the helper's own bound is 15). */
const INSTALL_MS_MAX = 15 * 60_000;
const RUN_MS_MAX = 240_000;
/** The test's own bound: the run's, plus time for the command to stop its servers. */
const TEST_MS_MAX = RUN_MS_MAX + 60_000;
const SYSTEMS = ['engine-fsync', 'engine-write', 'redis-everysec', 'redis-always', 'postgres'];
/** The figures run leaves out engine-write: the same system as engine-fsync, one more start. */
const FIGURES_SYSTEMS = SYSTEMS.filter((system) => system !== 'engine-write');
/** Row names as printed, in FIGURES_SYSTEMS order (regular expressions). */
const FIGURES_NAMES = [
  'engine \\(--fsync fsync\\)',
  'redis \\+ Lua \\(appendfsync everysec\\)',
  'redis \\+ Lua \\(appendfsync always\\)',
  'postgresql \\d+ \\(one transaction per order\\)',
];
const FIGURES_ARGS = [
  ['--systems', FIGURES_SYSTEMS.join(',')],
  ['--dcs', '8'],
  ['--skus', '100'],
  ['--duration', '0.6'],
  ['--warmup', '0.2'],
  ['--concurrency', '32'],
  ['--connections', '2'],
  ['--threads', '1'],
  ['--max-orders', '20000'],
  ['--agreement', '20'],
].flat();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compare command with `args`, killing it (by its PID) if it overruns. */
function compare(args: string[]): Promise<Run> {
  const main = join(repoRoot(), 'dist', 'loadtest', 'compare', 'main.js');
  const child = spawn(process.execPath, [main, '--seed', String(seed), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((done) => {
    // SIGINT: the command stops the servers it started, then exits.
    const timer = setTimeout(() => child.kill('SIGINT'), RUN_MS_MAX);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const NUMBER = '[\\d,.]+';

/** A table row: the name, the scenario, then the rate, p50 and p99 as numbers. */
function rowPattern(name: string, scenario: string): RegExp {
  return new RegExp(`^${name} +${scenario} +${NUMBER} +${NUMBER} +${NUMBER} `, 'm');
}

/** The agreement lines' counts, or null when they are not printed. */
function agreementOf(stdout: string) {
  const answers = /same answer to (\d+) of (\d+) queries/.exec(stdout);
  const totals = /\((\d+) of (\d+) per-SKU totals equal\); (\d+) differed only/.exec(stdout);
  const otherwise = /; (\d+) differed otherwise/.exec(stdout);
  if (answers === null || totals === null || otherwise === null) return null;
  return {
    agreed: Number(answers[1]),
    queries: Number(answers[2]),
    totalsEqual: Number(totals[1]),
    totals: Number(totals[2]),
    onEdge: Number(totals[3]),
    unexplained: Number(otherwise[1]),
  };
}

describe('npm run compare, short', () => {
  beforeAll(() => {
    // The command's own helpers: apt-get install -y when a server is missing, never a skip.
    const say = (line: string) => process.stderr.write(`${line}\n`);
    ensureRedisInstalled(say);
    ensurePostgresInstalled(say);
  }, INSTALL_MS_MAX);

  it(
    'every system conserves stock and never oversells',
    async () => {
      const run = await compare(['--check']);
      const context = `${because}\n${run.stdout}\n${run.stderr}`;
      expect(run.code, context).toBe(0);
      const verdicts = run.stdout.split('\n').filter((line) => /^(PASS|FAIL) /.test(line));
      expect(verdicts, context).toHaveLength(SYSTEMS.length);
      for (const verdict of verdicts) expect(verdict, context).toMatch(/^PASS /);
    },
    TEST_MS_MAX,
  );

  it(
    'prints orders/s, p50, p99 and the ratios, and availability with agreement',
    async () => {
      const run = await compare(FIGURES_ARGS);
      const context = `${because}\n${run.stdout}\n${run.stderr}`;
      expect(run.code, context).toBe(0);
      for (const name of FIGURES_NAMES) {
        for (const scenario of ['uniform', 'hot']) {
          expect(run.stdout, context).toMatch(rowPattern(name, scenario));
        }
      }
      for (const scenario of ['uniform', 'hot']) {
        for (const other of ['redis-always', 'redis-everysec', 'postgres']) {
          const ratio = `^${scenario} +engine-fsync ÷ ${other}: ${NUMBER}× orders/s`;
          expect(run.stdout, context).toMatch(new RegExp(ratio, 'm'));
        }
      }
      // Availability: the engine and the first Redis configuration, and their ratio.
      expect(run.stdout, context).toMatch(rowPattern(FIGURES_NAMES[0], 'avail'));
      expect(run.stdout, context).toMatch(rowPattern(FIGURES_NAMES[1], 'avail'));
      const ratio = `^avail +engine-fsync ÷ redis-everysec: ${NUMBER}× queries/s \\(p50 `;
      expect(run.stdout, context).toMatch(new RegExp(ratio, 'm'));
      const agreement = agreementOf(run.stdout);
      expect(agreement, context).not.toBeNull();
      expect(agreement!.queries, context).toBe(20);
      expect(agreement!.unexplained, context).toBe(0);
      expect(agreement!.agreed + agreement!.onEdge, context).toBe(agreement!.queries);
      // Totals differ only where a DC's circle passes by the customer (see availability.ts).
      if (agreement!.onEdge === 0) expect(agreement!.totalsEqual, context).toBe(agreement!.totals);
      expect(run.stdout, context).toMatch(/results: .*\.json, .*\.html/);
    },
    TEST_MS_MAX,
  );

  it(
    "with --rounds, prints each round's runs and the median of the rounds' ratios",
    async () => {
      const args = [
        ...FIGURES_ARGS.slice(2),
        ...['--systems', 'engine-fsync,redis-always', '--scenarios', 'uniform', '--rounds', '2'],
      ];
      const run = await compare(args);
      const context = `${because}\n${run.stdout}\n${run.stderr}`;
      expect(run.code, context).toBe(0);
      for (const name of [FIGURES_NAMES[0], FIGURES_NAMES[2]]) {
        for (const round of [1, 2]) {
          expect(run.stdout, context).toMatch(rowPattern(name, `uniform ${round}`));
        }
      }
      const ratio = new RegExp(
        `^uniform +engine-fsync ÷ redis-always: ${NUMBER}× orders/s, median of 2 rounds ` +
          `\\(${NUMBER} / ${NUMBER}\\) \\(p99 `,
        'm',
      );
      expect(run.stdout, context).toMatch(ratio);
    },
    TEST_MS_MAX,
  );
});
