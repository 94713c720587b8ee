import { afterEach, describe, expect, it } from 'vitest';
import type { EngineState } from '../engine/index.js';
import type { LogRecord } from '../engine/log.js';
import { SNAPSHOT_CHUNK_BYTES, STORE_ONE_PAGE_VALUE_BYTES } from './constants.js';
import type { SnapshotableEngine } from './engine-port.js';
import {
  checkSnapshot,
  compactLog,
  listSnapshots,
  loadSnapshot,
  orphanChunkLsns,
  pruneAndCompact,
  SnapshotCancelled,
  writeSnapshot,
} from './snapshot-store.js';
import { openStore } from './store.js';
import { TempDirs } from './testing/temp-dir.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

/** An engine that holds a state and per-DC counters, and records what it is given. */
class FakeEngine implements SnapshotableEngine {
  readonly lastTicket = 0;
  state: EngineState;
  stock: Int32Array[] = [];

  constructor(dcs: number, skus: number, seed: number) {
    this.state = {
      format: 1,
      capacities: {
        dcCapacity: dcs,
        skuCapacity: skus,
        orderCapacity: 16,
        allocationsPerOrderMax: 4,
      },
      dcs: Array.from({ length: dcs }, (_, index) => ({
        index,
        id: `dc-${index}`,
        name: 'x'.repeat(1_000),
        location: { lat: 1, lng: 2 },
        radiusKm: 3,
        area: null,
        speedKmh: 20,
        prepMinutes: 5,
        active: true,
      })),
      skus: Array.from({ length: skus }, (_, index) => ({
        index,
        id: `sku-${index}`,
        name: 'n',
        category: null,
        lowStockThreshold: 0,
        maxPerOrder: 0,
      })),
      orders: [],
    };
    for (let dc = 0; dc < dcs; dc++) {
      this.stock.push(Int32Array.from({ length: skus * 2 }, (_, i) => (i * 31 + dc * seed) | 0));
    }
  }

  applyRecord(_record: LogRecord): void {}
  exportState(): EngineState {
    return this.state;
  }
  importState(state: EngineState): void {
    this.state = { ...state, orders: [...state.orders] };
  }
  importOrders(orders: EngineState['orders']): void {
    this.state.orders.push(...orders);
  }
  exportStockOfDc(dc: number): Int32Array {
    return this.stock[dc];
  }
  importStockOfDc(dc: number, cells: Int32Array): void {
    this.stock[dc] = cells.slice();
  }
  expireDue(): number {
    return 0;
  }
}

describe('snapshot store', () => {
  it('round-trips a state spanning many chunks, with sections crossing chunk ends', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    // 7 DCs × 30,001 SKUs × 8 bytes ≈ 1.7 MB of stock plus ~2 MB of state: several chunks.
    const source = new FakeEngine(7, 30_001, 3);
    const manifest = writeSnapshot(store, source, 500, 1_700_000_000_000, () => 12);
    expect(manifest.chunkCount).toBe(Math.ceil(manifest.totalBytes / SNAPSHOT_CHUNK_BYTES));
    expect(manifest.chunkCount).toBeGreaterThan(3);
    expect(checkSnapshot(store, manifest)).toBeNull();
    const target = new FakeEngine(0, 0, 0);
    expect(loadSnapshot(store, manifest, target)).toBeNull();
    expect(target.state).toEqual(source.state);
    expect(target.stock).toEqual(source.stock);
    expect(listSnapshots(store)).toEqual([{ lsn: 500, manifest, problem: null }]);
    await store.close();
  });

  it('loads snapshots with orders whatever their chunk size, the 1 MiB of earlier versions too', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    const source = new FakeEngine(3, 20_001, 5);
    source.state.orders = Array.from({ length: 40_000 }, (_, n) => ({
      slot: n,
      orderId: `order-${n}`,
      state: n % 3,
      flags: 0,
      fingerprint: n * 7,
      createdAt: 1_780_000_000_000 + n,
      updatedAt: 1_780_000_000_000 + n,
      expiresAt: 0,
      lat: 12.5 + n / 1e6,
      lng: 77.5,
      etaMinutes: 10 + (n % 30),
      allocation: [n % 3, n % 20_001, 1 + (n % 4)],
    }));
    for (const [lsn, chunkBytes] of [
      [70, 1024 * 1024],
      [75, 256 * 1024],
      [80, SNAPSHOT_CHUNK_BYTES],
      [90, 4_099],
    ]) {
      const manifest = writeSnapshot(store, source, lsn, 0, () => 0, chunkBytes);
      expect(manifest.chunkCount).toBe(Math.ceil(manifest.totalBytes / chunkBytes));
      expect(checkSnapshot(store, manifest), `chunks of ${chunkBytes}`).toBeNull();
      const target = new FakeEngine(0, 0, 0);
      expect(loadSnapshot(store, manifest, target), `chunks of ${chunkBytes}`).toBeNull();
      expect(target.state).toEqual(source.state);
      expect(target.stock).toEqual(source.stock);
    }
    await store.close();
  });

  it('fits a chunk and its CRC in one overflow page, and a byte more takes two', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    const pagesOf = (lsn: number, bytes: number) => {
      const before = store.snapshotChunks.getStats() as { overflowPages: number };
      store.snapshotChunks.putSync([lsn, 0], Buffer.alloc(bytes, 7));
      const after = store.snapshotChunks.getStats() as { overflowPages: number };
      return after.overflowPages - before.overflowPages;
    };
    expect(pagesOf(1, STORE_ONE_PAGE_VALUE_BYTES)).toBe(1);
    expect(pagesOf(2, STORE_ONE_PAGE_VALUE_BYTES + 1)).toBe(2);
    const before = store.snapshotChunks.getStats() as { overflowPages: number };
    const manifest = writeSnapshot(store, new FakeEngine(3, 20_001, 2), 3, 0, () => 0);
    const after = store.snapshotChunks.getStats() as { overflowPages: number };
    const pages = after.overflowPages - before.overflowPages;
    // Every chunk but the last is full; the last may be small enough to sit in a leaf.
    expect(pages).toBeGreaterThanOrEqual(manifest.chunkCount - 1);
    expect(pages).toBeLessThanOrEqual(manifest.chunkCount);
    await store.close();
  });

  it('finds a damaged or missing chunk and a damaged manifest', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    const manifest = writeSnapshot(store, new FakeEngine(3, 100_000, 1), 9, 0, () => 0);
    const chunk = Buffer.from(store.snapshotChunks.getBinary([9, 1])!);
    chunk[chunk.length - 1] ^= 4;
    store.snapshotChunks.putSync([9, 1], chunk);
    expect(checkSnapshot(store, manifest)).toBe('chunk 1 is missing or fails its CRC check');
    store.snapshotChunks.removeSync([9, 1]);
    expect(checkSnapshot(store, manifest)).toBe('chunk 1 is missing or fails its CRC check');
    const sealed = Buffer.from(store.snapshotManifests.getBinary(9)!);
    sealed[6] ^= 1;
    store.snapshotManifests.putSync(9, sealed);
    expect(listSnapshots(store)[0].problem).toBe('the manifest fails its CRC check');
    await store.close();
  });

  it('keeps two snapshots and compacts the log up to the older one', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    store.log.transactionSync(() => {
      for (let lsn = 1; lsn <= 300; lsn++) store.log.putSync(lsn, Buffer.from([lsn & 0xff]));
    });
    for (const lsn of [100, 200, 300])
      writeSnapshot(store, new FakeEngine(1, 10, lsn), lsn, lsn, () => 0);
    expect(pruneAndCompact(store)).toEqual({
      removedSnapshots: 1,
      removedOrphans: 0,
      deletedRecords: 200,
    });
    expect(listSnapshots(store).map((s) => s.lsn)).toEqual([300, 200]);
    expect(
      [...store.snapshotChunks.getKeys({ snapshot: false })].every((key) => key[0] !== 100),
    ).toBe(true);
    expect([...store.log.getKeys({ limit: 1, snapshot: false })]).toEqual([201]);
    expect(compactLog(store, 250)).toBe(50);
    await store.close();
  });

  it('removes the chunks a stopped fold left without a manifest, and nothing else', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    store.log.transactionSync(() => {
      for (let lsn = 1; lsn <= 400; lsn++) store.log.putSync(lsn, Buffer.from([lsn & 0xff]));
    });
    for (const lsn of [100, 200])
      writeSnapshot(store, new FakeEngine(1, 10, lsn), lsn, lsn, () => 0);
    // A fold stopped in its third chunk transaction (or killed there): two are on disk.
    let transactions = 0;
    expect(() =>
      writeSnapshot(
        store,
        new FakeEngine(3, 100_000, 4),
        300,
        0,
        () => 0,
        undefined,
        () => {
          if (++transactions === 3) throw new SnapshotCancelled();
        },
      ),
    ).toThrow(SnapshotCancelled);
    expect(store.snapshotManifests.get(300)).toBeUndefined();
    const orphans = [...store.snapshotChunks.getKeys({ start: [300, 0], snapshot: false })];
    expect(orphans.length).toBeGreaterThan(0);
    expect(orphanChunkLsns(store)).toEqual([300]);
    expect(listSnapshots(store).map((s) => s.lsn)).toEqual([200, 100]);

    // A cleanup told to stop at once leaves them; the next one removes them and only them.
    expect(pruneAndCompact(store, 0, () => true)).toEqual({
      removedSnapshots: 0,
      removedOrphans: 0,
      deletedRecords: 0,
    });
    expect(orphanChunkLsns(store)).toEqual([300]);
    expect(pruneAndCompact(store)).toEqual({
      removedSnapshots: 0,
      removedOrphans: 1,
      deletedRecords: 100,
    });
    expect(orphanChunkLsns(store)).toEqual([]);
    expect([...store.snapshotChunks.getKeys({ start: [300, 0], snapshot: false })]).toEqual([]);
    const kept = listSnapshots(store);
    expect(kept.map((s) => [s.lsn, s.problem])).toEqual([
      [200, null],
      [100, null],
    ]);
    for (const { manifest } of kept) expect(checkSnapshot(store, manifest!)).toBeNull();
    await store.close();
  });

  it('stops compacting between transactions when told to', async () => {
    const store = openStore({ path: dirs.make(), policy: 'write' });
    store.log.transactionSync(() => {
      for (let lsn = 1; lsn <= 2_500; lsn++) store.log.putSync(lsn, Buffer.from([1]));
    });
    let asked = 0;
    // The first transaction runs, the second is refused: 1,000 records go.
    expect(compactLog(store, 2_500, () => ++asked > 1)).toBe(1_000);
    expect([...store.log.getKeys({ limit: 1, snapshot: false })]).toEqual([1_001]);
    expect(compactLog(store, 2_500)).toBe(1_500);
    await store.close();
  });
});
