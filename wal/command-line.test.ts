/**
 * The shared command line: strict parsing with --help/-h, refusals as one-line UsageErrors,
 * the exit statuses and messages every program prints, and the key variables tools read.
 */

import { describe, expect, it } from 'vitest';
import {
  EXIT_USAGE,
  keyFromEnvironment,
  parseCommandLine,
  reportFailure,
  UsageError,
} from './command-line.js';

const FLAGS = { url: { type: 'string' }, json: { type: 'boolean' } } as const;

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('not refused');
}

describe('parseCommandLine', () => {
  it('parses flags and positionals, and answers --help and -h', () => {
    expect(parseCommandLine(['--url', 'ws://x', '--json', 'a.csv'], FLAGS, 1)).toEqual({
      help: false,
      values: { url: 'ws://x', json: true },
      positionals: ['a.csv'],
    });
    expect(parseCommandLine(['--help'], FLAGS)).toEqual({ help: true });
    expect(parseCommandLine(['--url', 'x', '-h'], FLAGS)).toEqual({ help: true });
  });

  it('refuses unknown flags, missing values and stray arguments in one line', () => {
    for (const positionalsMax of [0, 1]) {
      expect(refusal(() => parseCommandLine(['--nope'], FLAGS, positionalsMax))).toBe(
        "Unknown option '--nope'",
      );
    }
    expect(refusal(() => parseCommandLine(['-x'], FLAGS))).toBe("Unknown option '-x'");
    expect(refusal(() => parseCommandLine(['--url'], FLAGS))).toContain("'--url <value>'");
    expect(refusal(() => parseCommandLine(['stray'], FLAGS))).toContain("'stray'");
    expect(refusal(() => parseCommandLine(['a', 'b'], FLAGS, 1))).toBe("unexpected argument 'b'");
  });
});

describe('reportFailure', () => {
  it('prints a usage error with the usage and a bug with its stack', () => {
    let text = '';
    const stderr = { write: (chunk: string) => (text += chunk) };
    expect(reportFailure(new UsageError('--url needs a value'), 'Usage: x\n', stderr)).toBe(
      EXIT_USAGE,
    );
    expect(text).toBe('--url needs a value\n\nUsage: x\n');
    text = '';
    expect(reportFailure(new TypeError('broken'), 'Usage: x\n', stderr)).toBe(1);
    expect(text).toMatch(/^TypeError: broken\n\s+at /);
  });
});

describe('keyFromEnvironment', () => {
  it('reads the documented variables, first set wins, old name accepted', () => {
    const env = { INVENTORY_KEY: 'any', INVENTORY_ADMIN_KEY: 'admin', ADMIN_KEY: 'old' };
    expect(keyFromEnvironment(env, 'admin')).toBe('admin');
    expect(keyFromEnvironment(env, 'any')).toBe('any');
    expect(keyFromEnvironment({ ADMIN_KEY: 'old', INVENTORY_KEY: '' }, 'admin')).toBe('old');
    expect(keyFromEnvironment({ INVENTORY_ADMIN_KEY: 'admin' }, 'any')).toBe('admin');
    expect(keyFromEnvironment({ INVENTORY_KEY: '' }, 'any')).toBeUndefined();
  });
});
