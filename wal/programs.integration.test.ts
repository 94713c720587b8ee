/**
 * Every program the project ships, run as a user runs it (a child process of the built dist/):
 * `--help` and `-h` print its usage on stdout and exit 0; an unknown flag prints one line
 * naming it, then the usage, on stderr and exits 64, with no stack trace. The list is checked
 * against package.json's scripts and the `node dist/...` commands the documentation shows, so
 * a new program cannot be left out.
 */

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE } from './command-line.js';

const ROOT = resolve(import.meta.dirname, '..');

/** Each program's entry point under dist/, without `.js`. */
const PROGRAMS = [
  'edge/main',
  'wal/cli',
  'tools/bulk-load',
  'tools/stats',
  'tools/metrics-overhead',
  'tools/wal-measure',
  'tools/sdk-measure-cpu',
  'bench/run',
  'bench/scale',
  'loadtest/ws-load',
  'loadtest/http-load',
  'loadtest/contention',
  'loadtest/crash',
  'loadtest/failover',
  'loadtest/replication-cost',
  'loadtest/reference-node',
  'loadtest/local-cluster',
  'loadtest/simulate',
  'loadtest/compare/main',
  'loadtest/node-launcher',
  'protocol/client/example',
];

const DOCUMENTS = [
  'README.md',
  'ARCHITECTURE.md',
  'edge/README.md',
  'wal/README.md',
  'loadtest/RESULTS.md',
];

/** Runs at once at most, on a machine of two cores. */
const PARALLEL_MAX = 3;
const RUN_TIMEOUT_MS = 90_000;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runProgram(program: string, args: string[]): Promise<Outcome> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [resolve(ROOT, 'dist', `${program}.js`), ...args],
      { cwd: ROOT, timeout: RUN_TIMEOUT_MS, env: { ...process.env, SEED: '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        done({ code, stdout, stderr });
      },
    );
  });
}

async function runAll<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const at = next++;
      results[at] = await jobs[at]();
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_MAX }, worker));
  return results;
}

/** The `dist/<x>.js` entry points a text names (scripts, or commands in documentation). */
function entryPointsIn(text: string): string[] {
  return [...text.matchAll(/dist\/([\w/-]+)\.js/g)].map((match) => match[1]);
}

describe('every shipped program', () => {
  it('is in the list this test runs', () => {
    const scripts = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')).scripts;
    const named = [
      ...entryPointsIn(Object.values(scripts).join('\n')),
      ...DOCUMENTS.flatMap((path) => entryPointsIn(readFileSync(resolve(ROOT, path), 'utf8'))),
    ];
    expect(named.length).toBeGreaterThan(10);
    for (const program of new Set(named)) expect(PROGRAMS, program).toContain(program);
  });

  it('answers --help and -h with its usage, and an unknown flag with exit 64', async () => {
    const outcomes = await runAll(
      PROGRAMS.flatMap((program) =>
        [['--help'], ['-h'], ['--no-such-flag']].map((args) => async () => ({
          program,
          args,
          ...(await runProgram(program, args)),
        })),
      ),
    );
    const usageOf = new Map<string, string>();
    for (const { program, args, code, stdout, stderr } of outcomes) {
      const what = `${program} ${args.join(' ')}: ${stderr}`;
      if (args[0] !== '--no-such-flag') {
        expect(code, what).toBe(0);
        expect(stdout, what).toMatch(/^usage: /i);
        expect(stderr, what).toBe('');
        if (args[0] === '--help') usageOf.set(program, stdout);
        else expect(stdout, what).toBe(usageOf.get(program));
        continue;
      }
      expect(code, what).toBe(EXIT_USAGE);
      expect(stdout, what).toBe('');
      const [first, blank, ...rest] = stderr.split('\n');
      expect(first, what).toContain("'--no-such-flag'");
      expect(blank, what).toBe('');
      expect(rest.join('\n'), what).toBe(usageOf.get(program));
      expect(stderr, what).not.toMatch(/^\s+at /m);
    }
  }, 400_000);
});
