/**
 * A data directory's capacities across restarts, on real LMDB in temporary directories,
 * configured the way a node configures them (edge/wal-port.ts): a new directory takes the
 * given capacities, an existing one its recorded ones with the given ones on top.
 *
 * - a restart that gives no capacity keeps the recorded ones;
 * - a larger DC or SKU capacity grows the directory, from the log alone and from a snapshot
 *   written at the smaller capacity, keeping every stock counter and every order (their
 *   allocations' cell indexes are worked out again: conservation holds, and cancelling every
 *   order gives each cell its units back);
 * - a smaller one is refused (CONFIG_TOO_SMALL), a different order capacity too
 *   (CONFIG_MISMATCH), capacities that do not fit together as well (CONFIG_INVALID), each
 *   changing nothing.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { type EngineConfig, resolveConfig, resolveConfigOver } from '../engine/config.js';
import { Engine, type EngineState } from '../engine/index.js';
import { Prng, seedFromEnv } from '../engine/testing/index.js';
import { memoryLogger } from './logger.js';
import { openWal } from './recovery.js';
import { TempDirs } from './testing/temp-dir.js';
import {
  ManualClock,
  runWorkload,
  setupNetwork,
  WORKLOAD_CONFIG,
  WORKLOAD_DCS,
  WORKLOAD_SKUS,
} from './testing/workload.js';

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const SEED = seedFromEnv(20_240_613);
const REPLAY = `SEED=${SEED}`;
const T0 = 1_700_000_000_000;
const BY = { actor: 'test' };
/** The capacities the directory is created with: room for the workload's 4 DCs, 12 SKUs. */
const CREATED: Partial<EngineConfig> = {
  ...WORKLOAD_CONFIG,
  dcCapacity: 6,
  skuCapacity: 20,
  dcsPerShard: undefined,
  verify: true,
};

/** Opens `dataDir` as a node does with these capacities given (none: the recorded ones). */
async function openGiven(dataDir: string, given: Partial<EngineConfig>, clock: ManualClock) {
  return openWal({
    dataDir,
    engineConfig: (stored) =>
      stored === null ? resolveConfig({ ...CREATED, ...given }) : resolveConfigOver(stored, given),
    policy: 'fsync',
    ringCapacityBytes: 1 << 23,
    clock: clock.read,
    randomId: () => 'id',
    logger: memoryLogger(),
  });
}

async function start(dataDir: string, given: Partial<EngineConfig>, clock: ManualClock) {
  const opened = await openGiven(dataDir, given, clock);
  if (!opened.ok) throw new Error(`${opened.error.code}: ${opened.error.message}`);
  const wal = opened.value;
  const engine = Engine.create(wal.engineConfig, { clock: clock.read, log: wal.log });
  const recovered = await wal.recover(engine);
  if (!recovered.ok) throw new Error(recovered.error.message);
  return { wal, engine, report: recovered.value };
}

/** The state by value, without the capacities (they are what changes). */
function stateOf(engine: Engine): { state: Omit<EngineState, 'capacities'>; stock: number[][] } {
  const { capacities: _capacities, ...state } = engine.exportState();
  const stock = state.dcs.map((_, dc) => Array.from(engine.exportStockOfDc(dc)));
  return { state, stock };
}

/** A directory with the workload's network, stock and a few hundred orders of every kind. */
async function populated(clock: ManualClock) {
  const dataDir = dirs.missing();
  const { wal, engine } = await start(dataDir, {}, clock);
  setupNetwork(engine);
  for (const dc of WORKLOAD_DCS) {
    for (const sku of WORKLOAD_SKUS) engine.receive(dc, sku, 40, BY);
  }
  const stats = runWorkload(engine, new Prng(SEED), clock, 't', 600);
  // Recovery expires the holds already due; so does the live engine, before it is compared.
  engine.expireDue();
  await wal.log.waitDurable(Math.max(stats.lastTicket, engine.lastTicket));
  await wal.log.waitFlushed();
  const live = stateOf(engine);
  const liveOrders = live.state.orders.filter((order) => order.state <= 2);
  expect(liveOrders.length, REPLAY).toBeGreaterThan(10);
  return { dataDir, wal, engine, live };
}

/** Cancels every live order: each cell must then have all its units free again. */
function cancelAllAndCheck(engine: Engine): void {
  expect(engine.checkInvariants(), REPLAY).toEqual([]);
  for (const order of engine.exportState().orders) {
    const result = engine.getOrder(order.orderId);
    if (!result.ok) continue;
    const status = result.order.status;
    if (status === 'held' || status === 'confirmed') {
      expect(engine.cancel(order.orderId).ok, REPLAY).toBe(true);
    }
  }
  for (const dc of WORKLOAD_DCS) {
    for (const sku of WORKLOAD_SKUS) {
      const stock = engine.getStock(dc, sku);
      if (!stock.ok) throw new Error(stock.error.code);
      expect(stock.stock.reserved, `${REPLAY}: ${dc}/${sku}`).toBe(0);
      expect(stock.stock.available, `${REPLAY}: ${dc}/${sku}`).toBe(stock.stock.onHand);
    }
  }
  expect(engine.checkInvariants(), REPLAY).toEqual([]);
}

describe('capacities recorded in the data directory', () => {
  it('keeps the recorded capacities on a restart that gives none', async () => {
    const clock = new ManualClock(T0);
    const { dataDir, wal, live } = await populated(clock);
    await wal.close();
    const again = await start(dataDir, {}, clock);
    expect(again.wal.engineConfig).toMatchObject({ dcCapacity: 6, skuCapacity: 20 });
    expect(again.wal.meta.engineConfig).toMatchObject({ dcCapacity: 6, skuCapacity: 20 });
    expect(stateOf(again.engine)).toEqual(live);
    // Full: the seventh DC and the twenty-first SKU are refused, as before the restart.
    const location = { lat: 12.9, lng: 77.6 };
    for (const id of ['dc-e', 'dc-f']) {
      expect(again.engine.upsertDc({ id, name: id, location, radiusKm: 3 }, BY).ok).toBe(true);
    }
    const seventh = again.engine.upsertDc({ id: 'dc-g', name: 'g', location, radiusKm: 3 }, BY);
    expect(!seventh.ok && seventh.error.code).toBe('CAPACITY_EXHAUSTED');
    await again.wal.close();
  });

  it('grows DC and SKU capacity from the log alone, keeping stock and orders', async () => {
    const clock = new ManualClock(T0);
    const { dataDir, wal, live } = await populated(clock);
    await wal.close();
    const grown = await start(dataDir, { dcCapacity: 40, skuCapacity: 3_000 }, clock);
    expect(grown.report.snapshotLsn).toBe(0);
    expect(grown.wal.meta.engineConfig).toMatchObject({ dcCapacity: 40, skuCapacity: 3_000 });
    expect(stateOf(grown.engine)).toEqual(live);
    // The new room is usable: a new SKU past the old capacity, stocked and ordered.
    for (let sku = 12; sku < 25; sku++) {
      expect(grown.engine.upsertSku({ id: `new-${sku}`, name: 'new' }, BY).ok).toBe(true);
    }
    expect(grown.engine.receive('dc-a', 'new-24', 7, BY).ok).toBe(true);
    cancelAllAndCheck(grown.engine);
    await grown.wal.close();
    // And without the flags again, the grown capacities stay.
    const again = await start(dataDir, {}, clock);
    expect(again.wal.engineConfig).toMatchObject({ dcCapacity: 40, skuCapacity: 3_000 });
    expect(again.engine.getStock('dc-a', 'new-24')).toMatchObject({ stock: { onHand: 7 } });
    await again.wal.close();
  });

  it('grows from a snapshot written at the smaller capacity, and snapshots again', async () => {
    const clock = new ManualClock(T0);
    const { dataDir, wal, engine } = await populated(clock);
    const taken = await wal.snapshot();
    if (!taken.ok) throw new Error(taken.error.message);
    expect(taken.value.manifest).not.toBeNull();
    // Records after the snapshot: recovery replays them on top of it.
    const after = runWorkload(engine, new Prng(SEED, 2), clock, 'u', 200);
    engine.expireDue();
    await wal.log.waitDurable(Math.max(after.lastTicket, engine.lastTicket));
    await wal.log.waitFlushed();
    const live = stateOf(engine);
    await wal.close();

    const grown = await start(dataDir, { skuCapacity: 5_000 }, clock);
    expect(grown.report.snapshotLsn).toBe(taken.value.manifest!.lsn);
    expect(grown.report.replayed).toBeGreaterThan(0);
    expect(stateOf(grown.engine)).toEqual(live);
    // A snapshot folded at the new capacity (from the old snapshot), then a restart from it.
    const folded = await grown.wal.snapshot();
    if (!folded.ok) throw new Error(folded.error.message);
    expect(folded.value.manifest!.lsn).toBeGreaterThan(taken.value.manifest!.lsn);
    await grown.wal.close();
    const again = await start(dataDir, { dcCapacity: 64 }, clock);
    expect(again.report.snapshotLsn).toBe(folded.value.manifest!.lsn);
    expect(again.wal.engineConfig).toMatchObject({ dcCapacity: 64, skuCapacity: 5_000 });
    expect(stateOf(again.engine)).toEqual(live);
    cancelAllAndCheck(again.engine);
    await again.wal.close();
  });

  it('refuses to shrink, to change the order capacity and capacities that do not fit', async () => {
    const clock = new ManualClock(T0);
    const { dataDir, wal, live } = await populated(clock);
    await wal.close();
    const refusals: [Partial<EngineConfig>, string, RegExp][] = [
      [{ dcCapacity: 5 }, 'CONFIG_TOO_SMALL', /dcCapacity \(--dc-capacity\) is 5.*start without/],
      [{ skuCapacity: 19 }, 'CONFIG_TOO_SMALL', /skuCapacity \(--sku-capacity\) is 19.*data's 20/],
      [{ orderCapacity: 8_192 }, 'CONFIG_MISMATCH', /orderCapacity.*--order-capacity/],
      [{ dcCapacity: 1 << 20, skuCapacity: 4_096 }, 'CONFIG_INVALID', /2\^31 cells/],
    ];
    for (const [given, code, message] of refusals) {
      const opened = await openGiven(dataDir, given, clock);
      const what = JSON.stringify(given);
      expect(!opened.ok && opened.error.code, what).toBe(code);
      expect(!opened.ok && opened.error.message, what).toMatch(message);
      expect(!opened.ok && opened.error.exitCode, what).toBe(78);
    }
    // Nothing changed: the recorded capacities and the state are as they were.
    const again = await start(dataDir, {}, clock);
    expect(again.wal.meta.engineConfig).toMatchObject({ dcCapacity: 6, skuCapacity: 20 });
    expect(stateOf(again.engine)).toEqual(live);
    await again.wal.close();
  });
});
