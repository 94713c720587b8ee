/**
 * Records for the log's own tests: `testRecord(producer, sequence)` is a `receive` record that
 * names who appended it and in which order, so a reader can check delivery and order.
 */

import type { LogRecord } from '../../engine/index.js';

export function testRecord(producer: number, sequence: number): LogRecord {
  return {
    type: 'receive',
    at: 1_700_000_000_000 + sequence,
    actor: `producer-${producer}`,
    reason: 'test',
    dc: producer,
    sku: sequence,
    qty: 1,
  };
}

/** The (producer, sequence) a `testRecord` carries. */
export function testRecordOrigin(record: LogRecord): { producer: number; sequence: number } {
  if (record.type !== 'receive') throw new Error(`not a test record: ${record.type}`);
  return { producer: record.dc, sequence: record.sku };
}

/**
 * Numbers at every boundary of MessagePack's integer and float forms. (-0 is written as 0, as
 * msgpackr writes it; no record carries a signed zero.)
 */
export const EDGE_NUMBERS = [
  0,
  1,
  31,
  32,
  127,
  128,
  255,
  256,
  65_535,
  65_536,
  0xffff_ffff,
  0x1_0000_0000,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32_768,
  -32_769,
  -0x8000_0000,
  -0x8000_0001,
  1_700_000_000_123,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  0.5,
  -0.25,
  12.9716,
  1e-300,
  1e300,
];
