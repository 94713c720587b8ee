import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type DurabilityPolicy, STORE_SIZE_BYTES_DEFAULT } from './constants.js';
import { FileReserve } from './file-reserve.js';
import { SharedLog } from './log.js';
import { memoryLogger } from './logger.js';
import { checkStoredRecord } from './record.js';
import { createRingBuffer } from './ring.js';
import { openStore, storeUsedBytes } from './store.js';
import { testRecord } from './testing/records.js';
import { TempDirs } from './testing/temp-dir.js';
import { LogWriter } from './writer.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const MIB = 1024 * 1024;
/** Makes each record about 600 bytes, so the log outgrows a small reserve quickly. */
const PADDING = 'p'.repeat(560);
const STEP = 1_000;

async function startLog(
  policy: DurabilityPolicy,
  fileReserveBytes: number | undefined,
  dataDir = dirs.make(),
  nextLsn = 1,
  storeSizeBytesMax = STORE_SIZE_BYTES_DEFAULT,
) {
  const ringBuffer = createRingBuffer({ capacityBytes: 1 << 22, policy });
  const writer = await LogWriter.start({
    ringBuffer,
    dataDir,
    nextLsn,
    storeSizeBytesMax,
    fileReserveBytes,
    verify: true,
    logger: memoryLogger(),
  });
  return { dataDir, writer, log: new SharedLog(ringBuffer) };
}

/** Appends in steps of STEP records, each durable before the next: the ring holds 4 MiB. */
async function appendDurably(log: SharedLog, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += STEP) {
    let ticket = 0;
    for (let sequence = start; sequence < Math.min(from + count, start + STEP); sequence++) {
      ticket = log.append({ ...testReceive(sequence), reason: PADDING });
    }
    await log.waitDurable(ticket);
  }
}

function testReceive(sequence: number) {
  const record = testRecord(0, sequence);
  if (record.type !== 'receive') throw new Error('testRecord makes receive records');
  return record;
}

const fileBytes = (dataDir: string) => statSync(join(dataDir, 'data.mdb')).size;

async function usedBytes(dataDir: string, policy: DurabilityPolicy): Promise<number> {
  const store = openStore({ path: dataDir, policy });
  try {
    return storeUsedBytes(store.env);
  } finally {
    await store.close();
  }
}

describe('zeroed reserve past the log (fsync policy)', () => {
  it('keeps zeroed room ahead of the log, and the store reopens and continues over it', async () => {
    const first = await startLog('fsync', 4 * MIB);
    // Ready means the reserve was filled first.
    expect(fileBytes(first.dataDir)).toBeGreaterThanOrEqual(4 * MIB);
    // Enough records to use the first reserve up several times over (about 600 bytes each).
    await appendDurably(first.log, 0, 20_000);
    await first.writer.stop();
    const used = await usedBytes(first.dataDir, 'fsync');
    const size = fileBytes(first.dataDir);
    expect(used).toBeGreaterThan(8 * MIB);
    // Refilled while it ran: at least half the reserve is still ahead, and past the last page
    // the file holds only zeros.
    expect(size - used).toBeGreaterThanOrEqual(2 * MIB);
    const tail = readFileSync(join(first.dataDir, 'data.mdb')).subarray(used);
    expect(tail.every((byte) => byte === 0)).toBe(true);

    // A new writer (a restart) appends after the reserve's zeros were partly overwritten.
    const second = await startLog('fsync', 4 * MIB, first.dataDir, 20_001);
    await appendDurably(second.log, 20_000, 5_000);
    await second.writer.stop();
    const store = openStore({ path: first.dataDir, policy: 'fsync' });
    let lsn = 0;
    for (const { key, value } of store.log.getRange({ snapshot: false })) {
      expect(key).toBe(++lsn);
      expect(checkStoredRecord(value, key)).toBe('ok');
    }
    await store.close();
    expect(lsn).toBe(25_000);
  });

  it('never grows the file past the store ceiling', async () => {
    const ceiling = 6 * MIB;
    const { dataDir, writer, log } = await startLog('fsync', 32 * MIB, dirs.make(), 1, ceiling);
    await appendDurably(log, 0, 2_000);
    await writer.stop();
    expect(fileBytes(dataDir)).toBeLessThanOrEqual(ceiling);
  });

  for (const [policy, reserve] of [
    ['write', undefined],
    ['fsync', 0],
  ] as const) {
    it(`is off under '${policy}' with reserve ${reserve ?? 'default'}`, async () => {
      const { dataDir, writer, log } = await startLog(policy, reserve);
      await appendDurably(log, 0, 100);
      await writer.stop();
      expect(fileBytes(dataDir) - (await usedBytes(dataDir, policy))).toBeLessThan(MIB);
    });
  }

  it('turns itself off with a reason when it cannot open the file', () => {
    const opened = FileReserve.open(join(dirs.make(), 'missing'), {
      aheadBytes: MIB,
      chunkBytes: MIB,
      ceilingBytes: 8 * MIB,
    });
    expect('reason' in opened && opened.reason).toMatch(/cannot open data.mdb/);
  });
});
