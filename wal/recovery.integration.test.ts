import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config.js';
import { Engine } from '../engine/index.js';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { memoryLogger } from './logger.js';
import { openWal, type Wal } from './recovery.js';
import { foldSnapshot } from './snapshot.js';
import { listSnapshots, orphanChunkLsns } from './snapshot-store.js';
import { logBounds, openStore, type Store } from './store.js';
import { TempDirs } from './testing/temp-dir.js';
import { runTestWorker } from './testing/threads.js';
import {
  CUSTOMER,
  engineSnapshot,
  ManualClock,
  runWorkload,
  setupNetwork,
  WORKLOAD_CONFIG,
} from './testing/workload.js';
import type { WorkloadTask } from './testing/workload-worker.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const CONFIG = resolveConfig(WORKLOAD_CONFIG);
const T0 = 1_700_000_000_000;

async function open(dataDir: string, clock: ManualClock) {
  const logger = memoryLogger();
  let ids = 0;
  const opened = await openWal({
    dataDir,
    engineConfig: CONFIG,
    policy: 'write',
    ringCapacityBytes: 1 << 23,
    clock: clock.read,
    randomId: () => `id-${ids++}`,
    logger,
    verify: true,
  });
  if (!opened.ok) throw new Error(opened.error.message);
  return { wal: opened.value, logger };
}

async function start(dataDir: string, clock: ManualClock) {
  const { wal, logger } = await open(dataDir, clock);
  const engine = Engine.create(CONFIG, { clock: clock.read, log: wal.log });
  const recovered = await wal.recover(engine);
  if (!recovered.ok) throw new Error(recovered.error.message);
  return { wal, engine, report: recovered.value, logger };
}

/** Settles the live engine (expire what is due, wait for the log) and captures its state. */
async function settle(wal: Wal, engine: Engine) {
  engine.expireDue();
  await wal.log.waitFlushed();
  return engineSnapshot(engine);
}

function withSeed<T>(seed: number, body: () => Promise<T>): Promise<T> {
  return body().catch((error) => {
    console.error(describeSeed(seed));
    throw error;
  });
}

describe('recovery', () => {
  it('replays a random workload into exactly the live state', async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      const dataDir = dirs.missing();
      const clock = new ManualClock(T0);
      const first = await start(dataDir, clock);
      expect(first.report.created).toBe(true);
      setupNetwork(first.engine);
      runWorkload(first.engine, new Prng(seed), clock, 'main', 3_000);
      const live = await settle(first.wal, first.engine);
      await first.wal.close();
      const second = await start(dataDir, clock);
      expect(second.report.created).toBe(false);
      expect(second.report.expired).toBe(0);
      expect(second.report.replayed).toBeGreaterThan(1_000);
      expect(engineSnapshot(second.engine)).toEqual(live);
      expect(second.engine.checkInvariants()).toEqual([]);
      await second.wal.close();
    });
  });

  it('replays records appended from several threads into the live state', async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      const dataDir = dirs.missing();
      const clock = new ManualClock(T0);
      const first = await start(dataDir, clock);
      setupNetwork(first.engine);
      const tasks = [1, 2].map((stream) => {
        const task: WorkloadTask = {
          shared: first.engine.shared(),
          ringBuffer: first.wal.ringBuffer,
          catalogue: first.engine.catalogueRecords(),
          seed,
          stream,
          tag: `t${stream}`,
          operations: 2_000,
          clockStart: T0,
        };
        return runTestWorker<{ stats: { mutations: number } }>('workload-worker.js', task);
      });
      runWorkload(first.engine, new Prng(seed, 0), clock, 'main', 2_000);
      const results = await Promise.all(tasks);
      expect(results.every((result) => result.stats.mutations > 500)).toBe(true);
      // The workers' clocks ran ahead on their own; expire by the latest of them.
      clock.now += 3_600_000;
      const live = await settle(first.wal, first.engine);
      await first.wal.close();
      const second = await start(dataDir, clock);
      expect(second.report.expired).toBe(0);
      expect(engineSnapshot(second.engine)).toEqual(live);
      expect(second.engine.checkInvariants()).toEqual([]);
      await second.wal.close();
    });
  });

  it('restores holds with their deadlines, expires overdue ones, keeps idempotency', async () => {
    const dataDir = dirs.missing();
    const clock = new ManualClock(T0);
    const first = await start(dataDir, clock);
    setupNetwork(first.engine);
    const by = { actor: 'test' };
    expect(first.engine.receive('dc-a', 'sku-1', 10, by).ok).toBe(true);
    const line = [{ sku: 'sku-1', qty: 2 }];
    const long = {
      orderId: 'long',
      location: CUSTOMER,
      lines: line,
      mode: 'hold' as const,
      ttlSeconds: 60,
    };
    const short = { ...long, orderId: 'short', ttlSeconds: 5 };
    const committed = { ...long, orderId: 'committed', mode: 'commit' as const };
    const confirmed = { ...long, orderId: 'confirmed' };
    for (const input of [long, short, committed, confirmed]) {
      expect(first.engine.placeOrder(input).ok).toBe(true);
    }
    expect(first.engine.confirm('confirmed').ok).toBe(true);
    await first.wal.log.waitDurable(first.engine.lastTicket);
    const longBefore = first.engine.getOrder('long');
    await first.wal.close();

    clock.now += 10_000;
    const second = await start(dataDir, clock);
    expect(second.report.expired).toBe(1);
    const engine = second.engine;
    const shortAfter = engine.getOrder('short');
    expect(shortAfter.ok && shortAfter.order.status).toBe('expired');
    const longAfter = engine.getOrder('long');
    expect(longAfter).toEqual(longBefore);
    expect(longAfter.ok && longAfter.order.expiresAt).toBe(T0 + 60_000);
    // 10 on hand; long (2), committed (2) and confirmed (2) still hold stock.
    const stock = engine.getStock('dc-a', 'sku-1');
    expect(stock.ok && stock.stock.available).toBe(4);
    // A retry of an order placed before the crash gets the first answer, and takes nothing.
    const retry = engine.placeOrder(committed);
    expect(retry.ok && retry.created).toBe(false);
    const again = engine.getStock('dc-a', 'sku-1');
    expect(again.ok && again.stock.available).toBe(4);
    expect(engine.getOrder('confirmed').ok && engine.confirm('long').ok).toBe(true);
    await second.wal.log.waitDurable(engine.lastTicket);
    const live = await settle(second.wal, engine);
    await second.wal.close();

    // The expiry was logged: a third start needs no expiry and lands on the same state.
    const third = await start(dataDir, clock);
    expect(third.report.expired).toBe(0);
    expect(engineSnapshot(third.engine)).toEqual(live);
    await third.wal.close();
  });

  it('recovers from snapshots and a compacted log into the live state', async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      const dataDir = dirs.missing();
      const clock = new ManualClock(T0);
      const prng = new Prng(seed);
      const first = await start(dataDir, clock);
      setupNetwork(first.engine);
      runWorkload(first.engine, prng, clock, 'a', 1_000);
      await first.wal.log.waitFlushed();
      const one = await first.wal.snapshot();
      expect(one.ok && one.value.manifest?.lsn).toBe(first.wal.log.durableLsn());
      runWorkload(first.engine, prng, clock, 'b', 1_000);
      await first.wal.log.waitFlushed();
      const two = await first.wal.snapshot();
      if (!one.ok || !two.ok) throw new Error('snapshot failed');
      expect(two.value.baseLsn).toBe(one.value.manifest?.lsn);
      // Two snapshots kept: the log is compacted only up to the older one.
      expect(two.value.deletedRecords).toBe(one.value.manifest?.lsn);
      runWorkload(first.engine, prng, clock, 'c', 1_000);
      const live = await settle(first.wal, first.engine);
      await first.wal.close();

      const store = openStore({ path: dataDir, policy: 'write' });
      const firstKey = [...store.log.getKeys({ limit: 1, snapshot: false })][0];
      await store.close();
      expect(firstKey).toBe((one.value.manifest?.lsn ?? 0) + 1);

      const second = await start(dataDir, clock);
      expect(second.report.snapshotLsn).toBe(two.value.manifest?.lsn);
      expect(engineSnapshot(second.engine)).toEqual(live);
      await second.wal.close();
    });
  });

  it('takes snapshots while other threads append, and recovers the live state', async () => {
    const seed = seedFromEnv();
    await withSeed(seed, async () => {
      const dataDir = dirs.missing();
      const clock = new ManualClock(T0);
      const first = await start(dataDir, clock);
      setupNetwork(first.engine);
      const task: WorkloadTask = {
        shared: first.engine.shared(),
        ringBuffer: first.wal.ringBuffer,
        catalogue: first.engine.catalogueRecords(),
        seed,
        stream: 1,
        tag: 'worker',
        operations: 6_000,
        clockStart: T0,
      };
      const working = runTestWorker('workload-worker.js', task);
      let done = false;
      void working.finally(() => {
        done = true;
      });
      const snapshots: number[] = [];
      while (!done && snapshots.length < 4) {
        const taken = await first.wal.snapshot();
        if (!taken.ok) throw new Error(taken.error.message);
        if (taken.value.manifest !== null) snapshots.push(taken.value.manifest.lsn);
      }
      await working;
      expect(snapshots.length).toBeGreaterThan(0);
      clock.now += 3_600_000;
      const live = await settle(first.wal, first.engine);
      await first.wal.close();
      const second = await start(dataDir, clock);
      expect(second.report.snapshotLsn).toBe(snapshots[snapshots.length - 1]);
      expect(engineSnapshot(second.engine)).toEqual(live);
      await second.wal.close();
    });
  });
});

/** What a fold may change: the snapshots listed, chunks without a manifest, the log's ends. */
function storeShape(store: Store) {
  return {
    snapshots: listSnapshots(store).map(({ lsn, problem }) => ({ lsn, problem })),
    orphans: orphanChunkLsns(store),
    log: logBounds(store),
  };
}

/**
 * A data directory with a snapshot (so a fold loads a base) and 2,000 orders' records after
 * it; returns the live state the log holds.
 */
async function logWithSnapshot(dataDir: string, clock: ManualClock) {
  const first = await start(dataDir, clock);
  setupNetwork(first.engine);
  const prng = new Prng(11);
  runWorkload(first.engine, prng, clock, 'a', 1_000);
  await first.wal.log.waitFlushed();
  const base = await first.wal.snapshot();
  if (!base.ok || base.value.manifest === null) throw new Error('base snapshot failed');
  runWorkload(first.engine, prng, clock, 'b', 2_000);
  first.engine.expireDue();
  await first.wal.log.waitFlushed();
  const live = engineSnapshot(first.engine);
  await first.wal.close();
  return { live, baseLsn: base.value.manifest.lsn };
}

describe('cancelling a snapshot fold', () => {
  it('stops at every step it polls, leaves the store as it was, and a later fold completes', async () => {
    const dataDir = dirs.missing();
    const clock = new ManualClock(T0);
    const { live, baseLsn } = await logWithSnapshot(dataDir, clock);

    const store = openStore({ path: dataDir, policy: 'write' });
    const before = storeShape(store);
    expect(before.snapshots).toEqual([{ lsn: baseLsn, problem: null }]);
    const target = before.log!.last;
    let stoppedWhileWriting = 0;
    let polls = 1;
    // Stop at the first poll, then the second, ...: every step a fold can be stopped at.
    for (; polls < 10_000; polls++) {
      let asked = 0;
      const result = foldSnapshot(store, {
        clock: () => T0,
        cancelled: () => {
          if (++asked < polls) return false;
          const written = [
            ...store.snapshotChunks.getKeys({ start: [target, 0], limit: 1, snapshot: false }),
          ];
          if (written.length > 0) stoppedWhileWriting++;
          return true;
        },
      });
      if (result.ok) break;
      expect(result.error.code, `stopped at poll ${polls}`).toBe('SNAPSHOT_CANCELLED');
      expect(storeShape(store), `stopped at poll ${polls}`).toEqual(before);
    }
    // Polls came from loading the base, replaying and writing; some stops found chunks written.
    expect(polls).toBeGreaterThan(3);
    expect(stoppedWhileWriting).toBeGreaterThan(0);

    const completed = storeShape(store);
    expect(completed.snapshots.map((s) => s.lsn)).toEqual([target, baseLsn]);
    expect(completed.orphans).toEqual([]);
    await store.close();

    const again = await start(dataDir, clock);
    expect(again.report.snapshotLsn).toBe(target);
    expect(engineSnapshot(again.engine)).toEqual(live);
    await again.wal.close();
  });

  it('answers SNAPSHOT_CANCELLED from the snapshot thread, and the next snapshot is taken', async () => {
    const dataDir = dirs.missing();
    const clock = new ManualClock(T0);
    const first = await start(dataDir, clock);
    setupNetwork(first.engine);
    runWorkload(first.engine, new Prng(12), clock, 'a', 1_000);
    await first.wal.log.waitFlushed();

    // Asked to stop before its thread has read anything: it stops at its first poll.
    const taking = first.wal.snapshot();
    const cancelled = first.wal.cancelSnapshot();
    const result = await taking;
    await cancelled;
    expect(result.ok ? 'ok' : result.error.code).toBe('SNAPSHOT_CANCELLED');

    const taken = await first.wal.snapshot();
    expect(taken.ok && taken.value.manifest?.lsn).toBe(first.wal.log.durableLsn());
    // Nothing runs: cancelling is a no-op that resolves.
    await first.wal.cancelSnapshot();
    await first.wal.close();

    const store = openStore({ path: dataDir, policy: 'write' });
    expect(orphanChunkLsns(store)).toEqual([]);
    expect(listSnapshots(store).map((s) => s.problem)).toEqual([null]);
    await store.close();
  });
});
