import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { type EngineConfig, resolveConfig } from '../engine/config.js';
import { Engine } from '../engine/index.js';
import { memoryLogger } from './logger.js';
import { RecordEncoder, storedValue } from './record.js';
import { openWal } from './recovery.js';
import { openStore, readMeta, writeMeta } from './store.js';
import { testRecord } from './testing/records.js';
import { TempDirs } from './testing/temp-dir.js';
import {
  engineSnapshot,
  ManualClock,
  setupNetwork,
  WORKLOAD_CONFIG,
  WORKLOAD_DCS,
  WORKLOAD_SKUS,
} from './testing/workload.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const CONFIG = resolveConfig(WORKLOAD_CONFIG);
const T0 = 1_700_000_000_000;
const BY = { actor: 'test' };

async function openDir(dataDir: string, config: EngineConfig = CONFIG) {
  const clock = new ManualClock(T0);
  const logger = memoryLogger();
  const opened = await openWal({
    dataDir,
    engineConfig: config,
    policy: 'fsync',
    ringCapacityBytes: 1 << 23,
    clock: clock.read,
    randomId: () => 'id',
    logger,
  });
  return { opened, clock, logger };
}

async function start(dataDir: string, config: EngineConfig = CONFIG) {
  const { opened, clock, logger } = await openDir(dataDir, config);
  if (!opened.ok) throw new Error(opened.error.message);
  const engine = Engine.create(config, { clock: clock.read, log: opened.value.log });
  const recovered = await opened.value.recover(engine);
  return { wal: opened.value, engine, recovered, logger };
}

/** A store with the network and `batches` separately committed batches of receives. */
async function populated(batches: number) {
  const dataDir = dirs.missing();
  const { wal, engine } = await start(dataDir);
  setupNetwork(engine);
  for (let batch = 0; batch < batches; batch++) {
    for (let i = 0; i < 3; i++) engine.receive(WORKLOAD_DCS[i], WORKLOAD_SKUS[batch % 12], 5, BY);
    await wal.log.waitDurable(engine.lastTicket);
  }
  const live = engineSnapshot(engine);
  const lastLsn = wal.log.durableLsn();
  await wal.close();
  return { dataDir, live, lastLsn };
}

function fingerprint(dataDir: string): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dataDir).sort()) {
    if (name === 'lock.mdb') continue;
    hash.update(name).update(readFileSync(join(dataDir, name)));
  }
  return hash.digest('hex');
}

async function withStore(dataDir: string, body: (store: ReturnType<typeof openStore>) => void) {
  const store = openStore({ path: dataDir, policy: 'fsync' });
  body(store);
  await store.close();
}

describe('recovery faults', () => {
  it('truncates garbage after the last record and continues after it', async () => {
    const { dataDir, live, lastLsn } = await populated(4);
    await withStore(dataDir, (store) => {
      store.log.putSync(lastLsn + 1, Buffer.from('garbage written after the last record'));
    });
    const { wal, engine, recovered, logger } = await start(dataDir);
    if (!recovered.ok) throw new Error(recovered.error.message);
    expect(recovered.value.tornTail).toMatchObject({ fromLsn: lastLsn + 1, records: 1 });
    expect(logger.entries.some((entry) => /torn log tail/.test(entry.message))).toBe(true);
    expect(engineSnapshot(engine)).toEqual(live);
    // The writer continues right after the last good record.
    engine.receive('dc-a', 'sku-0', 1, BY);
    await wal.log.waitDurable(engine.lastTicket);
    expect(wal.log.durableLsn()).toBe(lastLsn + 1);
    await wal.close();
  });

  it('truncates a last batch that never got its batch end', async () => {
    const { dataDir, live, lastLsn } = await populated(3);
    const encoder = new RecordEncoder();
    await withStore(dataDir, (store) => {
      for (let i = 1; i <= 3; i++) {
        // Flags 0: valid records, but the batch never got its end.
        const payload = encoder.encode(testRecord(0, i));
        store.log.putSync(lastLsn + i, storedValue(payload, 0, lastLsn + i));
      }
    });
    const { wal, engine, recovered } = await start(dataDir);
    if (!recovered.ok) throw new Error(recovered.error.message);
    expect(recovered.value.tornTail).toMatchObject({ fromLsn: lastLsn + 1, records: 3 });
    expect(engineSnapshot(engine)).toEqual(live);
    await wal.close();
  });

  it('refuses corruption in the middle of the log and changes nothing', async () => {
    const { dataDir, lastLsn } = await populated(6);
    const victim = lastLsn - 8;
    await withStore(dataDir, (store) => {
      const value = Buffer.from(store.log.getBinary(victim)!);
      value[value.length - 1] ^= 0xff;
      store.log.putSync(victim, value);
    });
    const before = fingerprint(dataDir);
    const { recovered, wal } = await start(dataDir);
    expect(recovered.ok).toBe(false);
    if (recovered.ok) return;
    expect(recovered.error.code).toBe('LOG_CORRUPT');
    expect(recovered.error.message).toContain(`LSN ${victim}`);
    expect(recovered.error.exitCode).toBe(65);
    await wal.close();
    expect(fingerprint(dataDir)).toBe(before);
  });

  it('refuses a gap in the middle of the log', async () => {
    const { dataDir, lastLsn } = await populated(6);
    await withStore(dataDir, (store) => {
      store.log.removeSync(lastLsn - 8);
    });
    const { recovered, wal } = await start(dataDir);
    expect(!recovered.ok && recovered.error.code).toBe('LOG_GAP');
    expect(!recovered.ok && recovered.error.message).toContain(`LSN ${lastLsn - 8}`);
    await wal.close();
  });

  it('refuses a directory that is not ours, and leaves it alone', async () => {
    const dataDir = dirs.make();
    writeFileSync(join(dataDir, 'notes.txt'), 'mine');
    const { opened } = await openDir(dataDir);
    expect(!opened.ok && opened.error.code).toBe('DATA_DIR_FOREIGN');
    expect(!opened.ok && opened.error.exitCode).toBe(65);
    expect(readdirSync(dataDir)).toEqual(['notes.txt']);

    const fake = dirs.make();
    writeFileSync(join(fake, 'data.mdb'), Buffer.alloc(8192, 7));
    const fakeOpened = (await openDir(fake)).opened;
    expect(!fakeOpened.ok && fakeOpened.error.message).toMatch(/not an LMDB/);
  });

  it("refuses another application's LMDB store without changing its data", async () => {
    const dataDir = dirs.make();
    const other = openLmdb({ path: dataDir, encoding: 'binary', maxDbs: 4 });
    other.openDB('accounts', { encoding: 'binary' }).putSync('alice', Buffer.from('100'));
    await other.close();
    const before = fingerprint(dataDir);
    const { opened } = await openDir(dataDir);
    expect(!opened.ok && opened.error.code).toBe('DATA_DIR_FOREIGN');
    expect(fingerprint(dataDir)).toBe(before);
  });

  it('refuses an unknown format version and a configuration that does not fit', async () => {
    const { dataDir } = await populated(1);
    const before = fingerprint(dataDir);
    const smaller = (await openDir(dataDir, { ...CONFIG, dcCapacity: CONFIG.dcCapacity / 2 }))
      .opened;
    expect(!smaller.ok && smaller.error.code).toBe('CONFIG_TOO_SMALL');
    expect(!smaller.ok && smaller.error.exitCode).toBe(78);
    const fewerSkus = (await openDir(dataDir, { ...CONFIG, skuCapacity: CONFIG.skuCapacity / 2 }))
      .opened;
    expect(!fewerSkus.ok && fewerSkus.error.code).toBe('CONFIG_TOO_SMALL');
    const other = (await openDir(dataDir, { ...CONFIG, orderCapacity: CONFIG.orderCapacity * 2 }))
      .opened;
    expect(!other.ok && other.error.code).toBe('CONFIG_MISMATCH');
    expect(fingerprint(dataDir)).toBe(before);

    await withStore(dataDir, (store) =>
      writeMeta(store, { ...readMeta(store)!, formatVersion: 99 }),
    );
    const versioned = fingerprint(dataDir);
    const { opened } = await openDir(dataDir);
    expect(!opened.ok && opened.error.code).toBe('DATA_VERSION_MISMATCH');
    expect(!opened.ok && opened.error.message).toContain('99');
    expect(fingerprint(dataDir)).toBe(versioned);
  });

  it('accepts grown capacities and records them', async () => {
    const { dataDir, live } = await populated(2);
    const grown = { ...CONFIG, dcCapacity: CONFIG.dcCapacity * 2 };
    const { wal, engine, recovered } = await start(dataDir, grown);
    expect(recovered.ok).toBe(true);
    expect(wal.meta.engineConfig.dcCapacity).toBe(grown.dcCapacity);
    const capacities = { ...(live as { capacities: object }).capacities, dcCapacity: 16 };
    expect(engineSnapshot(engine)).toEqual({ ...(live as object), capacities });
    await wal.close();
    const again = (await openDir(dataDir)).opened;
    expect(!again.ok && again.error.code).toBe('CONFIG_TOO_SMALL');
  });

  it('creates a missing directory, nested', async () => {
    const dataDir = join(dirs.make(), 'a', 'b');
    const { wal, recovered } = await start(dataDir);
    expect(recovered.ok && recovered.value.created).toBe(true);
    expect(wal.meta.formatVersion).toBe(2);
    await wal.close();
    expect(existsSync(join(dataDir, 'data.mdb'))).toBe(true);
  });

  it('falls back to the older snapshot when the newest is damaged', async () => {
    const dataDir = dirs.missing();
    const first = await start(dataDir);
    setupNetwork(first.engine);
    first.engine.receive('dc-a', 'sku-1', 3, BY);
    await first.wal.log.waitDurable(first.engine.lastTicket);
    const one = await first.wal.snapshot();
    first.engine.receive('dc-b', 'sku-2', 4, BY);
    await first.wal.log.waitDurable(first.engine.lastTicket);
    const two = await first.wal.snapshot();
    first.engine.receive('dc-c', 'sku-3', 5, BY);
    await first.wal.log.waitDurable(first.engine.lastTicket);
    const live = engineSnapshot(first.engine);
    await first.wal.close();
    if (!one.ok || !two.ok || two.value.manifest === null) throw new Error('no snapshot');
    const newest = two.value.manifest.lsn;
    await withStore(dataDir, (store) => {
      const chunk = Buffer.from(store.snapshotChunks.getBinary([newest, 0])!);
      chunk[10] ^= 1;
      store.snapshotChunks.putSync([newest, 0], chunk);
    });
    const second = await start(dataDir);
    if (!second.recovered.ok) throw new Error(second.recovered.error.message);
    expect(second.recovered.value.snapshotLsn).toBe(one.value.manifest?.lsn);
    expect(second.recovered.value.skippedSnapshots).toEqual([
      { lsn: newest, problem: 'chunk 0 is missing or fails its CRC check' },
    ]);
    expect(engineSnapshot(second.engine)).toEqual(live);
    await second.wal.close();
  });

  it('refuses bad options before touching the directory', async () => {
    const dataDir = dirs.missing();
    const base = { dataDir, engineConfig: CONFIG, clock: () => T0, randomId: () => 'id' };
    const logger = memoryLogger();
    const small = await openWal({ ...base, logger, ringCapacityBytes: 1 << 20 });
    expect(!small.ok && small.error.code).toBe('BAD_LOG_OPTIONS');
    const policy = await openWal({ ...base, logger, policy: 'always' as never });
    expect(!policy.ok && policy.error.code).toBe('BAD_LOG_OPTIONS');
    expect(existsSync(dataDir)).toBe(false);
  });
});
