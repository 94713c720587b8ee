import { describe, expect, it } from 'vitest';
import { RING_CAPACITY_BYTES_MIN, RING_FRAME_PAD } from './constants.js';
import { crc32 } from './crc32.js';
import { createRingBuffer, LogRing } from './ring.js';
import type { ProducerTask } from './testing/producer-worker.js';
import { runTestWorker } from './testing/threads.js';

/** Reads published frames like the writer does, checking CRCs and per-producer order. */
function drain(
  ring: LogRing,
  expected: Map<number, number>,
  seen: Map<number, number>,
  releaseEvery: number,
): number {
  let position = ring.head();
  let frames = 0;
  for (;;) {
    const ready = ring.readyWordAt(position);
    if (ready === 0) break;
    if (ready !== RING_FRAME_PAD) {
      const from = ring.payloadIndexAt(position);
      const payload = ring.data.subarray(from, from + ready);
      expect(crc32(payload)).toBe(ring.crcAt(position));
      const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
      const producer = view.getUint32(0, true);
      const sequence = view.getUint32(4, true);
      expect(expected.has(producer)).toBe(true);
      // Every record once, in order per producer.
      expect(sequence).toBe(seen.get(producer) ?? 0);
      seen.set(producer, sequence + 1);
      frames++;
    }
    position = ring.nextPosition(position, ready);
    if (frames % releaseEvery === 0) ring.release(position);
  }
  ring.release(position);
  return frames;
}

async function runProducers(capacityBytes: number, producers: number, count: number) {
  const buffer = createRingBuffer({ capacityBytes, policy: 'fsync' });
  const ring = new LogRing(buffer);
  const expected = new Map<number, number>();
  const tasks: Promise<unknown>[] = [];
  for (let producer = 1; producer <= producers; producer++) {
    expected.set(producer, count);
    const task: ProducerTask = {
      ringBuffer: buffer,
      producer,
      count,
      mode: 'raw',
      rawExtraBytesMax: 200,
    };
    tasks.push(runTestWorker('producer-worker.js', task));
  }
  let done = false;
  const all = Promise.all(tasks).finally(() => {
    done = true;
  });
  const seen = new Map<number, number>();
  let frames = 0;
  // The consumer runs on this thread, between event-loop turns, so producers fill the ring
  // while it is not draining (and wait when it is full).
  while (!done || ring.readyWordAt(ring.head()) !== 0) {
    frames += drain(ring, expected, seen, 16);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await all;
  frames += drain(ring, expected, seen, 16);
  return { ring, frames, seen, expected };
}

describe('log ring', () => {
  it('delivers every record of two producer threads once, in order, with valid CRCs', async () => {
    const { ring, frames, seen, expected } = await runProducers(1 << 20, 2, 20_000);
    expect(frames).toBe(40_000);
    expect(seen).toEqual(expected);
    expect(ring.head()).toBe(ring.tail());
    expect(ring.freeBytes()).toBe(ring.capacity);
  });

  it('makes producers wait while a small ring is full, and wraps with pads', async () => {
    // 64 KiB holds a few hundred frames; 3 × 5,000 frames must wait for the reader many times.
    const { frames, seen, expected } = await runProducers(RING_CAPACITY_BYTES_MIN, 3, 5_000);
    expect(frames).toBe(15_000);
    expect(seen).toEqual(expected);
  });

  it('blocks a producer on a full ring until the reader frees space', async () => {
    const buffer = createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'fsync' });
    const ring = new LogRing(buffer);
    // Twice what the ring holds: the producer must stop and wait for the reader.
    const count = Math.ceil((2 * ring.capacity) / 80);
    const task: ProducerTask = {
      ringBuffer: buffer,
      producer: 1,
      count,
      mode: 'raw',
      rawExtraBytesMax: 64,
    };
    const producing = runTestWorker('producer-worker.js', task);
    const deadline = Date.now() + 10_000;
    while (ring.freeBytes() >= 80 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(ring.freeBytes()).toBeLessThan(80);
    // Still full a while later: the producer is waiting, not overwriting.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ring.freeBytes()).toBeLessThan(80);
    const seen = new Map<number, number>();
    let frames = 0;
    let finished = false;
    void producing.finally(() => {
      finished = true;
    });
    while (!finished || ring.readyWordAt(ring.head()) !== 0) {
      frames += drain(ring, new Map([[1, count]]), seen, 4);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await producing;
    frames += drain(ring, new Map([[1, count]]), seen, 4);
    expect(frames).toBe(count);
  });

  it('hands out odd, wrap-safe tickets and tracks durability by position', () => {
    const buffer = createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'write' });
    const ring = new LogRing(buffer);
    const payload = new Uint8Array(100);
    const first = ring.append(payload, 0, 100, crc32(payload));
    const second = ring.append(payload, 0, 100, crc32(payload));
    expect(first).toBe(1);
    expect(second & 1).toBe(1);
    expect(ring.isDurable(0)).toBe(true);
    expect(ring.isDurable(first)).toBe(false);
    // Publish the first frame's end as durable, as the writer would.
    Atomics.store(ring.control, 32, ring.nextPosition(0, 100));
    expect(ring.isDurable(first)).toBe(true);
    expect(ring.isDurable(second)).toBe(false);
  });

  it('refuses a payload larger than a quarter of the ring', () => {
    const ring = new LogRing(createRingBuffer({ capacityBytes: 1 << 16, policy: 'none' }));
    const big = new Uint8Array(ring.payloadBytesMax + 1);
    expect(() => ring.append(big, 0, big.length, 0)).toThrow(/record of/);
    expect(() => createRingBuffer({ capacityBytes: 3 << 16, policy: 'none' })).toThrow(/power/);
  });
});
