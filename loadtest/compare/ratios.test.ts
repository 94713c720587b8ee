/**
 * The comparison's ratio lines: one round gives each pair's ratio, several give the median of
 * the rounds' ratios, each round's two runs paired with each other only.
 */

import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli.js';
import { median } from '../../engine/testing/index.js';
import { parseCompareArgs, ratioLines, resultsTable, type RunRow } from './main.js';

function row(
  system: RunRow['system'],
  scenario: RunRow['scenario'],
  round: number,
  ordersPerSecond: number,
  p99: number,
): RunRow {
  return {
    system,
    name: system,
    scenario,
    round,
    ordersPerSecond,
    accepted: ordersPerSecond,
    refused: 0,
    errors: {},
    p50: p99 / 2,
    p99,
    p999: p99,
    max: p99,
    serverCores: 1,
    generatorCores: 1,
    histogram: '',
  };
}

/** The ratio line of engine-fsync ÷ redis-always in `scenario`, or undefined. */
function alwaysLine(lines: string[], scenario: string): string | undefined {
  return lines.find((line) => line.startsWith(`${scenario.padEnd(8)} engine-fsync ÷ redis-always`));
}

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });
});

describe('ratioLines', () => {
  it('gives one round its ratio and p99s as before', () => {
    const rows = [
      row('engine-fsync', 'uniform', 1, 100, 4),
      row('redis-always', 'uniform', 1, 50, 8),
    ];
    const line = alwaysLine(ratioLines(rows), 'uniform');
    expect(line).toMatch(
      /^uniform +engine-fsync ÷ redis-always: 2\.00× orders\/s \(p99 4\.00 vs 8\.00 ms;/,
    );
    expect(line).not.toContain('rounds');
  });

  it('pairs runs of the same round only, and gives the median of the rounds', () => {
    // Round 2's engine is fast and round 3's Redis slow: pairing across rounds would differ.
    const rows = [
      row('engine-fsync', 'uniform', 1, 100, 4),
      row('engine-fsync', 'uniform', 2, 300, 2),
      row('engine-fsync', 'uniform', 3, 90, 6),
      row('redis-always', 'uniform', 1, 100, 8),
      row('redis-always', 'uniform', 2, 150, 9),
      row('redis-always', 'uniform', 3, 60, 10),
    ];
    const line = alwaysLine(ratioLines(rows), 'uniform');
    // Ratios 1.00, 2.00, 1.50: the median is 1.50; p99 medians 4 and 9.
    expect(line).toContain('1.50× orders/s, median of 3 rounds (1.00 / 2.00 / 1.50)');
    expect(line).toContain('(p99 4.00 vs 9.00 ms;');
  });

  it('leaves out a round that lacks one of the pair', () => {
    const rows = [
      row('engine-fsync', 'hot', 1, 120, 4),
      row('redis-always', 'hot', 1, 60, 8),
      row('engine-fsync', 'hot', 2, 500, 4),
    ];
    expect(alwaysLine(ratioLines(rows), 'hot')).toMatch(/: 2\.00× orders\/s \(p99/);
    expect(alwaysLine(ratioLines(rows), 'uniform')).toBeUndefined();
  });

  it('labels each row with its round in the table when there are several', () => {
    const rows = [row('engine-fsync', 'uniform', 2, 100, 4)];
    expect(resultsTable(rows, 3)).toMatch(/^engine-fsync +uniform 2 +100 /m);
    expect(resultsTable(rows, 1)).toMatch(/^engine-fsync +uniform +100 /m);
  });
});

describe('--rounds', () => {
  it('defaults to one and refuses what is out of range', () => {
    expect(parseCompareArgs([])?.rounds).toBe(1);
    expect(parseCompareArgs(['--rounds', '3'])?.rounds).toBe(3);
    expect(() => parseCompareArgs(['--rounds', '0'])).toThrow(UsageError);
    expect(() => parseCompareArgs(['--rounds', 'x'])).toThrow(UsageError);
  });
});
