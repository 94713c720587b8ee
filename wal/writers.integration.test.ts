import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config.js';
import { Engine } from '../engine/index.js';
import { runCli } from './cli.js';
import { RECORD_FLAG_BATCH_END } from './constants.js';
import { lockDirectory } from './dir-lock.js';
import { SILENT_LOGGER } from './logger.js';
import { RecordEncoder, recordSession, storedValue } from './record.js';
import { openWal } from './recovery.js';
import { openStore, readWriterInfo, registerWriterSession } from './store.js';
import { testRecord } from './testing/records.js';
import { TempDirs } from './testing/temp-dir.js';
import { ManualClock, setupNetwork, WORKLOAD_CONFIG } from './testing/workload.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());
const CONFIG = resolveConfig(WORKLOAD_CONFIG);
const BY = { actor: 'test' };

async function start(dataDir: string) {
  const clock = new ManualClock(1_700_000_000_000);
  const opened = await openWal({
    dataDir,
    engineConfig: CONFIG,
    policy: 'write',
    ringCapacityBytes: 1 << 23,
    clock: clock.read,
    randomId: () => 'writers-test',
    logger: SILENT_LOGGER,
  });
  if (!opened.ok) throw new Error(opened.error.message);
  const wal = opened.value;
  const engine = Engine.create(CONFIG, { clock: clock.read, log: wal.log });
  const recovered = await wal.recover(engine);
  if (!recovered.ok) throw new Error(recovered.error.message);
  return { wal, engine };
}

async function cli(args: string[]) {
  let out = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk);
      done();
    },
  });
  const code = await runCli(args, { stdout: stream, stderr: stream });
  return { code, out };
}

describe('one writer per log', () => {
  it('refuses a second open of a locked directory, and names the holder', async () => {
    const dataDir = dirs.missing();
    const { wal } = await start(dataDir);
    wal.lock.describe('node on 127.0.0.1:1234');
    const second = await openWal({
      dataDir,
      engineConfig: CONFIG,
      policy: 'write',
      clock: Date.now,
      randomId: () => 'x',
      logger: SILENT_LOGGER,
    });
    expect(second.ok).toBe(false);
    if (second.ok) return;
    expect(second.error.code).toBe('DATA_DIR_LOCKED');
    expect(second.error.exitCode).toBe(75);
    expect(second.error.message).toContain(`process ${process.pid}`);
    expect(second.error.message).toContain('node on 127.0.0.1:1234');
    await wal.close();
    // Released at close: the directory opens again.
    const third = await start(dataDir);
    await third.wal.close();
  });

  it('a lock is released with its holder and can be taken again', async () => {
    const dir = dirs.make();
    const first = await lockDirectory(dir);
    if (!first.ok) throw new Error(first.error.message);
    const refused = await lockDirectory(dir);
    expect(!refused.ok && refused.error.code).toBe('DATA_DIR_LOCKED');
    await first.value.release();
    const again = await lockDirectory(dir);
    expect(again.ok).toBe(true);
    if (again.ok) await again.value.release();
  });

  it('fences a writer whose session was replaced: nothing more is acknowledged', async () => {
    const dataDir = dirs.missing();
    const { wal, engine } = await start(dataDir);
    setupNetwork(engine);
    engine.receive('dc-a', 'sku-0', 5, BY);
    await wal.log.waitDurable(engine.lastTicket);
    const durable = wal.log.durableLsn();
    // Another writer registers itself (as a process that got past the lock would).
    const intruder = openStore({ path: dataDir, policy: 'write' });
    const session = registerWriterSession(intruder, durable + 1);
    expect(readWriterInfo(intruder)?.session).toBe(session);
    engine.receive('dc-a', 'sku-0', 1, BY);
    await expect(wal.log.waitDurable(engine.lastTicket)).rejects.toMatchObject({
      code: 'READ_ONLY',
      failure: 'WRITER_FENCED',
    });
    expect(wal.log.writable()).toBe(false);
    expect(wal.log.durableLsn()).toBe(durable);
    let last = 0;
    for (const key of intruder.log.getKeys({ reverse: true, limit: 1, snapshot: false })) {
      last = key;
    }
    expect(last).toBe(durable);
    await intruder.close();
    await wal.close();
  });

  it('records carry their writer session, and a restart moves to a new one', async () => {
    const dataDir = dirs.missing();
    const first = await start(dataDir);
    setupNetwork(first.engine);
    await first.wal.log.waitDurable(first.engine.lastTicket);
    await first.wal.close();
    const second = await start(dataDir);
    second.engine.receive('dc-a', 'sku-0', 1, BY);
    await second.wal.log.waitDurable(second.engine.lastTicket);
    const lastLsn = second.wal.log.durableLsn();
    await second.wal.close();
    const store = openStore({ path: dataDir, policy: 'write', readOnly: true });
    const sessions = new Set<number>();
    for (const { value } of store.log.getRange({ snapshot: false })) {
      sessions.add(recordSession(value));
    }
    expect([...sessions]).toEqual([1, 2]);
    expect(readWriterInfo(store)).toMatchObject({ session: 2, pid: process.pid });
    expect(recordSession(store.log.getBinary(lastLsn)!)).toBe(2);
    await store.close();
  });

  it('verify and recovery detect a log written by two writers in turn', async () => {
    const dataDir = dirs.missing();
    const { wal, engine } = await start(dataDir);
    setupNetwork(engine);
    await wal.log.waitDurable(engine.lastTicket);
    const lastLsn = wal.log.durableLsn();
    await wal.close();
    expect((await cli([dataDir, 'verify'])).code).toBe(0);
    // Session 2 writes a batch, then session 1 (the first writer, still running) another.
    const encoder = new RecordEncoder();
    const store = openStore({ path: dataDir, policy: 'write' });
    store.log.transactionSync(() => {
      for (let i = 1; i <= 4; i++) {
        const session = i <= 2 ? 2 : 1;
        const flags = i % 2 === 0 ? RECORD_FLAG_BATCH_END : 0;
        const payload = encoder.encode(testRecord(0, i));
        store.log.putSync(lastLsn + i, storedValue(payload, flags, lastLsn + i, session));
      }
    });
    await store.close();
    const verified = await cli([dataDir, 'verify']);
    expect(verified.code).toBe(1);
    expect(verified.out).toMatch(/session 1 after session 2 \(two writers\)/);
    const refused = await openWal({
      dataDir,
      engineConfig: CONFIG,
      policy: 'write',
      clock: Date.now,
      randomId: () => 'x',
      logger: SILENT_LOGGER,
    });
    if (!refused.ok) throw new Error(refused.error.message);
    const fresh = Engine.create(CONFIG, { clock: Date.now, log: refused.value.log });
    const recovered = await refused.value.recover(fresh);
    expect(!recovered.ok && recovered.error.code).toBe('LOG_CORRUPT');
    await refused.value.close();
  });
});
