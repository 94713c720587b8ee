import { describe, expect, it } from 'vitest';
import {
  createReplicationBuffer,
  REPLICATION_QUEUE_SLOTS,
  ReplicationQueue,
} from './replication-queue.js';

describe('ReplicationQueue', () => {
  it('hands entries over in order, with LSNs beyond 32 bits', async () => {
    const queue = new ReplicationQueue(createReplicationBuffer('sync'));
    expect(queue.mode).toBe('sync');
    const big = 2 ** 40 + 5;
    expect(queue.push(big, 123, 7)).toBe(true);
    expect(queue.push(big + 3, -8, 3)).toBe(true);
    await queue.waitForEntries(10);
    const entry = { lastLsn: 0, endPosition: 0, records: 0 };
    expect(queue.peek(0, entry)).toEqual({ lastLsn: big, endPosition: 123, records: 7 });
    expect(queue.peek(1, entry)).toEqual({ lastLsn: big + 3, endPosition: -8, records: 3 });
    queue.pop(1);
    expect(queue.size()).toBe(1);
    expect(queue.peek(0, entry).lastLsn).toBe(big + 3);
    queue.storeShippedLsn(big + 3);
    expect(queue.shippedLsn()).toBe(big + 3);
  });

  it('refuses a push when full, and wraps around its slots', () => {
    const queue = new ReplicationQueue(createReplicationBuffer('async'));
    for (let index = 0; index < REPLICATION_QUEUE_SLOTS; index++) {
      expect(queue.push(index + 1, index, 1)).toBe(true);
    }
    expect(queue.push(0, 0, 1)).toBe(false);
    queue.pop(10);
    for (let index = 0; index < 10; index++) expect(queue.push(10_000 + index, 0, 1)).toBe(true);
    const entry = { lastLsn: 0, endPosition: 0, records: 0 };
    expect(queue.peek(REPLICATION_QUEUE_SLOTS - 1, entry).lastLsn).toBe(10_009);
    expect(() => queue.pop(REPLICATION_QUEUE_SLOTS + 1)).toThrow();
  });

  it('is refused over memory of another shape', () => {
    expect(() => new ReplicationQueue(new SharedArrayBuffer(64))).toThrow();
  });
});
