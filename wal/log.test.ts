import { describe, expect, it } from 'vitest';
import { CONTROL_DURABLE_POSITION, RING_CAPACITY_BYTES_MIN } from './constants.js';
import { LogUnavailableError } from './errors.js';
import { DurabilityTimeoutError, SharedLog } from './log.js';
import { createRingBuffer } from './ring.js';
import { testRecord } from './testing/records.js';
import { markFailed } from './writer.js';

/** Plays the writer: publishes the durable position up to (and including) a frame. */
function publishThrough(log: SharedLog, ticket: number): void {
  const ring = log.ring;
  const start = ticket - 1;
  const end = ring.nextPosition(start, ring.readyWordAt(start));
  Atomics.store(ring.control, CONTROL_DURABLE_POSITION, end);
  Atomics.notify(ring.control, CONTROL_DURABLE_POSITION);
}

function settled(promise: Promise<void>) {
  const state = { done: false, error: null as unknown };
  promise.then(
    () => {
      state.done = true;
    },
    (error) => {
      state.error = error;
    },
  );
  return state;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('SharedLog', () => {
  it('resolves waiters in order as the durable position passes them, never early', async () => {
    const log = new SharedLog(
      createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'fsync' }),
    );
    const tickets = [0, 1, 2, 3].map((i) => log.append(testRecord(0, i)));
    const waits = tickets.map((ticket) => settled(log.waitDurable(ticket)));
    const flushed = settled(log.waitFlushed());
    await tick();
    expect(waits.map((w) => w.done)).toEqual([false, false, false, false]);
    publishThrough(log, tickets[1]);
    await tick();
    expect(waits.map((w) => w.done)).toEqual([true, true, false, false]);
    expect(flushed.done).toBe(false);
    expect(log.pendingWaiters()).toBe(3);
    publishThrough(log, tickets[3]);
    await tick();
    expect(waits.every((w) => w.done) && flushed.done).toBe(true);
    expect(log.pendingWaiters()).toBe(0);
    await expect(log.waitDurable(0)).resolves.toBeUndefined();
    log.close();
  });

  it('rejects a wait that passes its bound with OUTCOME_UNKNOWN, keeping later waits', async () => {
    let now = 1_000;
    const log = new SharedLog(
      createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'fsync' }),
      { durableWaitMsMax: 50, now: () => now },
    );
    const first = log.append(testRecord(0, 0));
    const early = settled(log.waitDurable(first));
    now += 40;
    const second = log.append(testRecord(0, 1));
    const late = settled(log.waitDurable(second));
    now += 20;
    // The first has waited 60 ms (past its 50), the second 20: only the first is given up.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(early.error).toBeInstanceOf(DurabilityTimeoutError);
    expect((early.error as DurabilityTimeoutError).code).toBe('OUTCOME_UNKNOWN');
    expect(late.done || late.error !== null).toBe(false);
    publishThrough(log, second);
    await tick();
    expect(late.done).toBe(true);
    log.close();
  });

  it('rejects waiters that are not durable once the log fails, and stays read-only', async () => {
    const log = new SharedLog(
      createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'write' }),
    );
    const first = log.append(testRecord(0, 0));
    const second = log.append(testRecord(0, 1));
    publishThrough(log, first);
    const waits = [first, second].map((ticket) => settled(log.waitDurable(ticket)));
    expect(log.writable()).toBe(true);
    markFailed(log.ring, 'WRITE_FAILED');
    await tick();
    expect(waits[0].done).toBe(true);
    expect(waits[1].error).toBeInstanceOf(LogUnavailableError);
    expect((waits[1].error as LogUnavailableError).failure).toBe('WRITE_FAILED');
    expect(log.writable()).toBe(false);
    expect(log.stats()).toMatchObject({
      writable: false,
      failure: 'WRITE_FAILED',
      policy: 'write',
    });
    await expect(log.waitDurable(log.append(testRecord(0, 2)))).rejects.toThrow(/WRITE_FAILED/);
    log.close();
  });

  it("acknowledges at once under 'none'", async () => {
    const log = new SharedLog(
      createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'none' }),
    );
    const ticket = log.append(testRecord(0, 0));
    await expect(log.waitDurable(ticket)).resolves.toBeUndefined();
    await expect(log.waitFlushed()).resolves.toBeUndefined();
    log.close();
  });

  it('reports not writable while the ring lacks room for two largest records', () => {
    const log = new SharedLog(
      createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_MIN, policy: 'fsync' }),
    );
    let appended = 0;
    while (log.writable()) {
      log.append(testRecord(0, appended++));
    }
    expect(appended).toBeGreaterThan(100);
    // Room for the next mutation's records was kept: appending still does not block.
    expect(log.ring.freeBytes()).toBeGreaterThan(log.ring.payloadBytesMax);
    log.ring.release(log.ring.tail());
    expect(log.writable()).toBe(true);
    log.close();
  });
});
