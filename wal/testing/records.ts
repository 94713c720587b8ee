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
