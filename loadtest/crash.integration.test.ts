/**
 * The short crash check for CI: a real node as a child process, killed with SIGKILL at random
 * moments under load and restarted, three times. `npm run loadtest:crash` runs the long one.
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeSeed, seedFromEnv } from '../engine/testing/prng.js';
import { runCrashTest } from './crash.js';

describe('crash and recover', () => {
  it('loses no acknowledged order and never oversells across SIGKILLs', async () => {
    expect(existsSync(resolve(import.meta.dirname, '../dist/edge/main.js')), 'build first').toBe(
      true,
    );
    const seed = seedFromEnv();
    const report = await runCrashTest({
      crashes: 3,
      roundMsMin: 200,
      roundMsMax: 900,
      fsync: 'fsync',
      seed,
    });
    const context = `${describeSeed(seed)}: ${report.problems.slice(0, 5).join('; ')}`;
    expect(report.crashes).toBe(3);
    expect(report.acked, context).toBeGreaterThan(100);
    expect(report.lost, context).toBe(0);
    expect(report.oversold, context).toBe(0);
    expect(report.duplicated, context).toBe(0);
    expect(report.problems, context).toEqual([]);
  }, 180_000);
});
