import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.js';
import { ID_BYTES_MAX, ORDER_OVERFLOW_BLOCKS_MIN } from '../constants.js';
import { describeSeed, Prng, seedFromEnv } from '../testing/prng.js';
import {
  ENTRIES_RESERVED,
  inlineEntries,
  overflowBlocks,
  SLOT_BYTES,
  SLOT_PAYLOAD_BYTES,
  STATE_HELD,
} from './order-slot.js';
import { allocateOrderTable, OrderTable, touchOrderTable } from './order-table.js';
import { BLOCK_ENTRIES_MAX, NO_BLOCK, POOL_SHORT } from './overflow-pool.js';

function table(orderCapacity = 64): OrderTable {
  const config = resolveConfig({ orderCapacity });
  return new OrderTable(config, allocateOrderTable(config));
}

function keyOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Entries i → (cell 1000 + i, qty i + 1), staged in fresh arrays. */
function entries(count: number): { cells: Int32Array; qtys: Int32Array } {
  const cells = new Int32Array(count);
  const qtys = new Int32Array(count);
  for (let entry = 0; entry < count; entry++) {
    cells[entry] = 1000 + entry;
    qtys[entry] = entry + 1;
  }
  return { cells, qtys };
}

describe('slot layout', () => {
  it('is two cache lines with the id and the inline entries sharing the second', () => {
    expect(SLOT_BYTES).toBe(128);
    expect(SLOT_PAYLOAD_BYTES).toBe(64);
    expect(inlineEntries(1)).toBe(7);
    expect(inlineEntries(8)).toBe(7);
    expect(inlineEntries(20)).toBe(5);
    expect(inlineEntries(36)).toBe(3);
    expect(inlineEntries(ID_BYTES_MAX)).toBe(0);
    expect(overflowBlocks(20, 5)).toBe(0);
    expect(overflowBlocks(20, 6)).toBe(1);
    expect(overflowBlocks(20, 5 + BLOCK_ENTRIES_MAX)).toBe(1);
    expect(overflowBlocks(20, 6 + BLOCK_ENTRIES_MAX)).toBe(2);
    expect(overflowBlocks(ID_BYTES_MAX, 32)).toBe(5);
  });
});

describe('slot records', () => {
  it('round-trips entries inline and through a chain, and frees what a shrink leaves', () => {
    const orders = table();
    const { records, pool } = orders;
    const key = keyOf('k'.repeat(36));
    const slot = 5;
    for (const count of [0, 1, 3, 4, 10, 17, 32, 9, 3, 0, 25]) {
      expect(records.reserveEntries(slot, key.length, count)).toBe(ENTRIES_RESERVED);
      records.writeKey(slot, key, key.length);
      const staged = entries(count);
      records.writeEntries(slot, staged.cells, staged.qtys, count);
      const cells = new Int32Array(32).fill(-1);
      const qtys = new Int32Array(32).fill(-1);
      expect(records.readEntries(slot, cells, qtys)).toBe(count);
      expect(Array.from(cells.subarray(0, count))).toEqual(Array.from(staged.cells));
      expect(Array.from(qtys.subarray(0, count))).toEqual(Array.from(staged.qtys));
      expect(records.chainBlocks(slot)).toBe(overflowBlocks(key.length, count));
      expect(pool.blocksInUse()).toBe(records.chainBlocks(slot));
      expect(pool.checkAccounting(records.chainBlocks(slot))).toEqual([]);
      expect(records.keyString(slot)).toBe('k'.repeat(36));
    }
  });

  it('keeps a reused slot consistent when the new id is longer than the old', () => {
    const orders = table();
    const { records } = orders;
    const slot = 7;
    const short = keyOf('a');
    expect(records.reserveEntries(slot, short.length, 9)).toBe(ENTRIES_RESERVED);
    records.writeKey(slot, short, short.length);
    const nine = entries(9);
    records.writeEntries(slot, nine.cells, nine.qtys, 9);
    expect(records.chainBlocks(slot)).toBe(1);
    // The same slot takes an order with a 64-byte id: no room inline, all 9 in the chain.
    const long = keyOf('b'.repeat(ID_BYTES_MAX));
    expect(records.reserveEntries(slot, long.length, 9)).toBe(ENTRIES_RESERVED);
    records.writeKey(slot, long, long.length);
    records.writeEntries(slot, nine.cells, nine.qtys, 9);
    expect(records.chainBlocks(slot)).toBe(2);
    const cells = new Int32Array(9);
    const qtys = new Int32Array(9);
    records.readEntries(slot, cells, qtys);
    expect(Array.from(cells)).toEqual(Array.from(nine.cells));
    expect(records.keyEquals(slot, long, long.length)).toBe(false); // still FREE
    orders.setState(slot, STATE_HELD, 0);
    expect(records.keyEquals(slot, long, long.length)).toBe(true);
    expect(records.keyEquals(slot, short, short.length)).toBe(false);
  });

  it('refuses room the pool does not have, taking nothing', () => {
    const orders = table(16);
    const { records, pool } = orders;
    expect(pool.blockCount).toBe(ORDER_OVERFLOW_BLOCKS_MIN);
    const others = pool.take(pool.blockCount - 2);
    expect(pool.blocksLeft()).toBe(2);
    // A 64-byte id leaves no entry inline: 3 blocks' worth needs 3 blocks, 2 are left.
    expect(records.reserveEntries(3, ID_BYTES_MAX, 3 * BLOCK_ENTRIES_MAX)).toBe(POOL_SHORT);
    expect(records.chainBlocks(3)).toBe(0);
    expect(pool.blocksLeft()).toBe(2);
    expect(pool.take(3)).toBe(POOL_SHORT);
    expect(records.reserveEntries(3, ID_BYTES_MAX, 2 * BLOCK_ENTRIES_MAX)).toBe(ENTRIES_RESERVED);
    expect(pool.blocksLeft()).toBe(0);
    expect(records.chainBlocks(3)).toBe(2);
    pool.free(others);
    expect(pool.blocksLeft()).toBe(pool.blockCount - 2);
    expect(pool.checkAccounting(2)).toEqual([]);
  });
});

describe('overflow pool', () => {
  it('never loses or doubles a block under random takes and frees', () => {
    const seed = seedFromEnv();
    const prng = new Prng(seed);
    const pool = table(1024).pool;
    const chains: { head: number; blocks: number }[] = [];
    const owned = new Set<number>();
    for (let step = 0; step < 5_000; step++) {
      if (chains.length > 0 && prng.int(3) === 0) {
        const [chain] = chains.splice(prng.int(chains.length), 1);
        for (let block = chain.head; block !== NO_BLOCK; block = pool.next(block)) {
          owned.delete(block);
        }
        pool.free(chain.head);
        continue;
      }
      const count = 1 + prng.int(6);
      const head = pool.take(count);
      if (head === POOL_SHORT) {
        expect(pool.blocksLeft(), describeSeed(seed)).toBeLessThan(count);
        continue;
      }
      let blocks = 0;
      for (let block = head; block !== NO_BLOCK; block = pool.next(block)) {
        expect(owned.has(block), `${describeSeed(seed)}: block ${block} handed out twice`).toBe(
          false,
        );
        owned.add(block);
        blocks++;
      }
      expect(blocks).toBe(count);
      chains.push({ head, blocks });
    }
    expect(pool.blocksInUse()).toBe(owned.size);
    expect(pool.checkAccounting(owned.size), describeSeed(seed)).toEqual([]);
  });
});

describe('committing the table', () => {
  it('changes nothing in a table in use', () => {
    const config = resolveConfig({ orderCapacity: 1024 });
    const buffers = allocateOrderTable(config);
    const orders = new OrderTable(config, buffers);
    const key = keyOf('h'.repeat(ID_BYTES_MAX));
    // Slot 32 starts the second page of records: its state word is what a page write hits.
    const slot = 32;
    expect(orders.records.reserveEntries(slot, key.length, 3)).toBe(ENTRIES_RESERVED);
    orders.records.writeKey(slot, key, key.length);
    const staged = entries(3);
    orders.records.writeEntries(slot, staged.cells, staged.qtys, 3);
    orders.setState(slot, STATE_HELD, 0);
    const before = new Uint8Array(buffers.slots).slice();
    touchOrderTable(buffers);
    expect(new Uint8Array(buffers.slots)).toEqual(before);
    expect(orders.state(slot)).toBe(STATE_HELD);
    expect(orders.records.keyString(slot)).toBe('h'.repeat(ID_BYTES_MAX));
  });
});
