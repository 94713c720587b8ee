/** `npm run loadtest`'s defaults: the in-flight shape by scenario, the started node's threads. */

import { describe, expect, it } from 'vitest';
import { startedNodeThreads } from './node-process.js';
import { parseWsLoadArgs } from './ws-load.js';

describe('parseWsLoadArgs defaults', () => {
  it('keeps fewer queries than orders in flight, for the tighter p99 bar', () => {
    const availability = parseWsLoadArgs(['--scenario', 'availability'])!;
    const orders = parseWsLoadArgs(['--scenario', 'orders'])!;
    expect(availability.run.window * availability.run.connections).toBe(128);
    expect(availability.run.batch).toBe(32);
    expect(orders.run.window * orders.run.connections).toBe(256);
    expect(orders.run.batch).toBe(orders.run.window);
  });

  it('lets the flags override the scenario shape', () => {
    const options = parseWsLoadArgs([
      '--scenario',
      'availability',
      '--window',
      '256',
      '--batch',
      '0',
    ])!;
    expect(options.run.window).toBe(256);
    expect(options.run.batch).toBe(0);
  });

  it('gives a started node the cores the generators leave, at least one', () => {
    expect(startedNodeThreads(2, 1)).toBe(1);
    expect(startedNodeThreads(8, 2)).toBe(6);
    expect(startedNodeThreads(2, 4)).toBe(1);
    expect(parseWsLoadArgs(['--threads', '3'])!.threads).toBe(3);
  });
});
