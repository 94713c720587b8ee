/**
 * The order event ring within one thread (across threads and with the log, see
 * order-stream.integration.test.ts): events come back in log order with their fields and
 * LSNs, only up to the published THROUGH; ids of any UTF-8 survive; a bounded read says how
 * far it got; a lapped reader or a writer that skipped is reported as a gap, with a position
 * past every event passed over.
 */

import { describe, expect, it } from 'vitest';
import type { OrderEventView } from '../protocol/messages.js';
import {
  createOrderEventRing,
  ORDER_EVENT_TYPES,
  OrderEventReader,
  OrderEventWriter,
} from './order-event-ring.js';

const AT = 1_700_000_000_000;

function write(writer: OrderEventWriter, lsn: number, orderId = `o-${lsn}`): void {
  const type = ORDER_EVENT_TYPES[lsn % ORDER_EVENT_TYPES.length];
  writer.write(lsn, type, orderId, lsn % 2 === 0 ? 'held' : 'confirmed', AT + lsn);
}

describe('order event ring', () => {
  it('delivers events in log order with every field, across laps, up to THROUGH', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer, 100);
    const reader = new OrderEventReader(buffer);
    const seen: OrderEventView[] = [];
    let after = 100;
    // Every third LSN is not an order record: the stream's seqs have gaps.
    for (let lsn = 101; lsn <= 160; lsn++) {
      if (lsn % 3 !== 0) write(writer, lsn);
      if (lsn % 5 === 0) {
        writer.publishThrough(lsn);
        const read = reader.read(seen, 100, after);
        expect(read.gap).toBe(false);
        expect(read.through).toBe(lsn);
        after = read.through;
      }
    }
    const expected = Array.from({ length: 60 }, (_, i) => 101 + i).filter((lsn) => lsn % 3 !== 0);
    expect(seen.map((view) => view.seq)).toEqual(expected);
    expect(seen[0]).toEqual({
      seq: 101,
      type: ORDER_EVENT_TYPES[101 % ORDER_EVENT_TYPES.length],
      orderId: 'o-101',
      status: 'confirmed',
      at: AT + 101,
    });
  });

  it('holds back events written but not yet published', () => {
    const buffer = createOrderEventRing(16);
    const writer = new OrderEventWriter(buffer, 0);
    const reader = new OrderEventReader(buffer);
    for (let lsn = 1; lsn <= 6; lsn++) write(writer, lsn);
    writer.publishThrough(3);
    const seen: OrderEventView[] = [];
    expect(reader.read(seen, 100, 0)).toEqual({ through: 3, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([1, 2, 3]);
    writer.publishThrough(6);
    expect(reader.read(seen, 100, 3)).toEqual({ through: 6, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps ids of multi-byte UTF-8 and of the full 64 bytes', () => {
    const buffer = createOrderEventRing(4);
    const writer = new OrderEventWriter(buffer, 0);
    const reader = new OrderEventReader(buffer);
    const ids = ['ordre-ø-ü', '注文-42', '🧾-receipt', 'x'.repeat(64)];
    for (const [index, id] of ids.entries()) write(writer, index + 1, id);
    writer.publishThrough(4);
    const seen: OrderEventView[] = [];
    reader.read(seen, 10, 0);
    expect(seen.map((view) => view.orderId)).toEqual(ids);
  });

  it('bounds a read and says where it stopped; max 0 passes events over', () => {
    const buffer = createOrderEventRing(16);
    const writer = new OrderEventWriter(buffer, 0);
    const reader = new OrderEventReader(buffer);
    for (let lsn = 2; lsn <= 20; lsn += 2) write(writer, lsn);
    writer.publishThrough(21);
    const seen: OrderEventView[] = [];
    // Four events (2..8): complete up to just before the fifth (10).
    expect(reader.read(seen, 4, 0)).toEqual({ through: 9, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([2, 4, 6, 8]);
    expect(reader.read(seen, 0, 9)).toEqual({ through: 21, gap: false });
    expect(seen).toHaveLength(4);
    write(writer, 22);
    writer.publishThrough(22);
    expect(reader.read(seen, 10, 21)).toEqual({ through: 22, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([2, 4, 6, 8, 22]);
  });

  it('reports a lapped reader as a gap, with a position past what it lost', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer, 0);
    const reader = new OrderEventReader(buffer);
    for (let lsn = 1; lsn <= 20; lsn++) write(writer, lsn);
    writer.publishThrough(20);
    const seen: OrderEventView[] = [];
    const read = reader.read(seen, 100, 0);
    expect(read.gap).toBe(true);
    // Everything up to `through` is for the log to supply; nothing it passed over is newer.
    expect(read.through).toBe(20);
    for (let lsn = 21; lsn <= 23; lsn++) write(writer, lsn);
    writer.publishThrough(23);
    seen.length = 0;
    expect(reader.read(seen, 100, read.through)).toEqual({ through: 23, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([21, 22, 23]);
  });

  it('reports a gap after the writer skipped, and counts subscribers across readers', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer, 10);
    const one = new OrderEventReader(buffer);
    const two = new OrderEventReader(buffer);
    expect(writer.subscribers()).toBe(0);
    one.addSubscribers(1);
    two.addSubscribers(2);
    two.addSubscribers(-1);
    expect(writer.subscribers()).toBe(2);
    writer.skipThrough(30);
    expect(writer.skipping()).toBe(true);
    writer.resume();
    expect(writer.skipping()).toBe(false);
    write(writer, 31);
    writer.publishThrough(31);
    const seen: OrderEventView[] = [];
    // 11..30 never reached the ring: a reader at 10 has a gap, one at 30 does not.
    expect(one.read(seen, 10, 10).gap).toBe(true);
    seen.length = 0;
    expect(two.read(seen, 10, 30)).toEqual({ through: 31, gap: false });
    expect(seen.map((view) => view.seq)).toEqual([31]);
  });

  it('refuses sizes that are not powers of two', () => {
    expect(() => createOrderEventRing(12)).toThrow(RangeError);
    expect(() => createOrderEventRing(1)).toThrow(RangeError);
  });
});
