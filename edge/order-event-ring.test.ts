/**
 * The order event ring within one thread (the cross-thread ordering is exercised by the
 * subscriptions integration test): events come back in order with their fields, ids of any
 * UTF-8 survive, a reader a lap behind counts what it lost, a slot whose writer never finished
 * holds readers back until the stall limit, and skipping to the head delivers nothing.
 */

import { describe, expect, it } from 'vitest';
import type { OrderEvent } from '../engine/types.js';
import type { OrderEventView } from '../protocol/messages.js';
import { ORDER_EVENT_STALL_MS_MAX } from './constants.js';
import {
  createOrderEventRing,
  ORDER_EVENT_TYPES,
  OrderEventReader,
  OrderEventWriter,
} from './order-event-ring.js';

function event(index: number, orderId = `o-${index}`): OrderEvent {
  return {
    type: ORDER_EVENT_TYPES[index % ORDER_EVENT_TYPES.length],
    orderId,
    status: index % 2 === 0 ? 'held' : 'confirmed',
    at: 1_700_000_000_000 + index,
  };
}

describe('order event ring', () => {
  it('delivers events in order with every field, across laps', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer);
    const reader = new OrderEventReader(buffer, () => 0);
    const seen: OrderEventView[] = [];
    for (let index = 0; index < 30; index++) {
      writer.write(event(index));
      if (index % 5 === 4) reader.read(seen, 100);
    }
    expect(seen).toHaveLength(30);
    expect(seen.map((view) => view.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(seen[7]).toEqual({ seq: 7, ...event(7) });
    expect(reader.next).toBe(30);
    expect(reader.backlog()).toBe(0);
  });

  it('keeps ids of multi-byte UTF-8 and of the full 64 bytes', () => {
    const buffer = createOrderEventRing(4);
    const writer = new OrderEventWriter(buffer);
    const reader = new OrderEventReader(buffer, () => 0);
    const ids = ['ordre-ø-ü', '注文-42', '🧾-receipt', 'x'.repeat(64)];
    for (const [index, id] of ids.entries()) writer.write(event(index, id));
    const seen: OrderEventView[] = [];
    reader.read(seen, 10);
    expect(seen.map((view) => view.orderId)).toEqual(ids);
  });

  it('counts the events a lapped reader lost, then carries on', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer);
    const reader = new OrderEventReader(buffer, () => 0);
    for (let index = 0; index < 20; index++) writer.write(event(index));
    const seen: OrderEventView[] = [];
    const outcome = reader.read(seen, 100);
    expect(outcome).toEqual({ read: 8, missed: 12 });
    expect(seen.map((view) => view.seq)).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('bounds a read, and skipToHead delivers nothing', () => {
    const buffer = createOrderEventRing(16);
    const writer = new OrderEventWriter(buffer);
    const reader = new OrderEventReader(buffer, () => 0);
    for (let index = 0; index < 10; index++) writer.write(event(index));
    const seen: OrderEventView[] = [];
    expect(reader.read(seen, 4).read).toBe(4);
    reader.skipToHead();
    writer.write(event(10));
    seen.length = 0;
    reader.read(seen, 100);
    expect(seen.map((view) => view.seq)).toEqual([10]);
  });

  it('waits at a slot whose writer has not finished, and skips it after the stall limit', () => {
    const buffer = createOrderEventRing(8);
    const writer = new OrderEventWriter(buffer);
    const now = { ms: 1_000 };
    const reader = new OrderEventReader(buffer, () => now.ms);
    // A writer that took its number and died before publishing: the head moved, the slot did not.
    const control = new Int32Array(buffer, 0, 1);
    Atomics.add(control, 0, 1);
    writer.write(event(1));
    const seen: OrderEventView[] = [];
    expect(reader.read(seen, 10)).toEqual({ read: 0, missed: 0 });
    now.ms += ORDER_EVENT_STALL_MS_MAX - 1;
    expect(reader.read(seen, 10)).toEqual({ read: 0, missed: 0 });
    now.ms += 1;
    expect(reader.read(seen, 10)).toEqual({ read: 1, missed: 1 });
    expect(seen.map((view) => view.seq)).toEqual([1]);
  });

  it('refuses sizes that are not powers of two', () => {
    expect(() => createOrderEventRing(12)).toThrow(RangeError);
    expect(() => createOrderEventRing(1)).toThrow(RangeError);
  });
});
