import { afterEach, describe, expect, it } from 'vitest';
import {
  type DurabilityPolicy,
  RECORD_FLAG_BATCH_END,
  STORE_SIZE_BYTES_DEFAULT,
} from './constants.js';
import { LogUnavailableError } from './errors.js';
import { SharedLog } from './log.js';
import { memoryLogger } from './logger.js';
import { checkStoredRecord, RecordDecoder, recordFlags } from './record.js';
import { createRingBuffer } from './ring.js';
import { openStore } from './store.js';
import type { ProducerTask } from './testing/producer-worker.js';
import { testRecord, testRecordOrigin } from './testing/records.js';
import { TempDirs } from './testing/temp-dir.js';
import { runTestWorker } from './testing/threads.js';
import { LogWriter } from './writer.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

async function startLog(policy: DurabilityPolicy, storeSizeBytesMax = STORE_SIZE_BYTES_DEFAULT) {
  const dataDir = dirs.make();
  const ringBuffer = createRingBuffer({ capacityBytes: 1 << 22, policy });
  const logger = memoryLogger();
  const writer = await LogWriter.start({
    ringBuffer,
    dataDir,
    nextLsn: 1,
    storeSizeBytesMax,
    verify: true,
    logger,
  });
  return { dataDir, ringBuffer, writer, log: new SharedLog(ringBuffer), logger };
}

/** Reads the whole log back, checking CRCs, LSN contiguity and the batch-end flags. */
async function readBack(dataDir: string, policy: DurabilityPolicy) {
  const store = openStore({ path: dataDir, policy });
  const decoder = new RecordDecoder();
  const origins: { producer: number; sequence: number }[] = [];
  let expectedLsn = 1;
  let batchEnds = 0;
  let lastFlags = 0;
  for (const { key, value } of store.log.getRange({ snapshot: false })) {
    expect(key).toBe(expectedLsn++);
    expect(checkStoredRecord(value, key)).toBe('ok');
    lastFlags = recordFlags(value);
    if (lastFlags & RECORD_FLAG_BATCH_END) batchEnds++;
    const record = decoder.decode(value);
    expect(record).not.toBeNull();
    origins.push(testRecordOrigin(record!));
  }
  await store.close();
  // The last record always closes a batch.
  if (origins.length > 0) expect(lastFlags & RECORD_FLAG_BATCH_END).toBe(RECORD_FLAG_BATCH_END);
  return { origins, batchEnds };
}

describe('log writer', () => {
  for (const policy of ['fsync', 'write', 'none'] as const) {
    it(`writes records durably in order under '${policy}'`, async () => {
      const { dataDir, writer, log } = await startLog(policy);
      const tickets: number[] = [];
      for (let sequence = 0; sequence < 2_000; sequence++) {
        tickets.push(log.append(testRecord(0, sequence)));
      }
      await Promise.all(tickets.map((ticket) => log.waitDurable(ticket)));
      if (policy !== 'none') expect(log.isDurable(tickets[tickets.length - 1])).toBe(true);
      const summary = await writer.stop();
      expect(summary?.records).toBe(2_000);
      expect(log.durableLsn()).toBe(2_000);
      const { origins, batchEnds } = await readBack(dataDir, policy);
      expect(origins.map((origin) => origin.sequence)).toEqual(tickets.map((_, i) => i));
      expect(batchEnds).toBe(summary?.batches);
    });
  }

  it('groups records from several threads into few commits, in order per thread', async () => {
    const { dataDir, ringBuffer, writer, log } = await startLog('fsync');
    const count = 5_000;
    const tasks = [1, 2].map((producer) => {
      const task: ProducerTask = { ringBuffer, producer, count, mode: 'log' };
      return runTestWorker<{ tickets: number[] }>('producer-worker.js', task);
    });
    let mainLast = 0;
    for (let sequence = 0; sequence < count; sequence++) {
      mainLast = log.append(testRecord(0, sequence));
    }
    await log.waitDurable(mainLast);
    await Promise.all(tasks);
    const summary = await writer.stop();
    expect(summary?.records).toBe(3 * count);
    // Group commit: many records per fsync.
    expect(summary!.batches).toBeLessThan(summary!.records / 4);
    const { origins } = await readBack(dataDir, 'fsync');
    const next = new Map<number, number>();
    for (const { producer, sequence } of origins) {
      expect(sequence).toBe(next.get(producer) ?? 0);
      next.set(producer, sequence + 1);
    }
    expect([...next.entries()].sort()).toEqual([
      [0, count],
      [1, count],
      [2, count],
    ]);
  });

  it('goes read-only when the store would pass its size limit, and rejects waiters', async () => {
    const { writer, log, logger } = await startLog('write', 2 * 1024 * 1024);
    const record = testRecord(0, 0);
    const big = { ...record, reason: 'x'.repeat(100) };
    const tickets: number[] = [];
    for (let i = 0; i < 20_000 && log.writable(); i++) {
      tickets.push(log.append(big));
      if (i % 1_000 === 999) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const outcomes = await Promise.allSettled(tickets.map((ticket) => log.waitDurable(ticket)));
    const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(LogUnavailableError);
    expect(reason.code).toBe('READ_ONLY');
    // Durable waiters come first, in order: no acknowledgement after the first refusal.
    const firstRejected = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    expect(outcomes.slice(firstRejected).every((o) => o.status === 'rejected')).toBe(true);
    expect(log.writable()).toBe(false);
    expect(log.failure()).toBe('STORE_FULL');
    await expect(log.waitDurable(log.append(record))).rejects.toThrow(/STORE_FULL/);
    // The thread's report arrives by message; it has arrived once the thread exited.
    await writer.stop();
    expect(writer.failure?.failure).toBe('STORE_FULL');
    expect(logger.entries.some((entry) => /read-only/.test(entry.message))).toBe(true);
  });
});
