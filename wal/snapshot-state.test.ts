/**
 * writeState streams the packed engine state piece by piece; the bytes must be exactly those
 * of packing the state as one value, for order lists under each MessagePack array header.
 * readStateStreaming reads them back the same way: the state, then the orders in batches.
 */

import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { EngineState } from '../engine/index.js';
import { readStateStreaming, writeState } from './snapshot-store.js';
import { STRUCTURED_OPTIONS } from './store.js';

function state(orders: number): EngineState {
  return {
    format: 1,
    capacities: {
      dcCapacity: 8,
      skuCapacity: 16,
      orderCapacity: 1 << 20,
      allocationsPerOrderMax: 8,
    },
    dcs: [{ id: 'dc-1', name: 'One' }],
    skus: [{ id: 'sku-1', name: 'Sku' }],
    orders: Array.from({ length: orders }, (_, n) => ({
      slot: n,
      orderId: `order-${n}`,
      state: n % 3,
      expiresAt: 1_780_000_000_000 + n,
      lat: 12.5 + n / 1e6,
      allocation: [0, n % 16, 1 + (n % 4)],
    })),
  } as unknown as EngineState;
}

describe('writeState', () => {
  it('writes the same bytes as packing the whole state, under every array header', () => {
    for (const count of [0, 1, 15, 16, 65_535, 65_536, 70_001]) {
      const packr = new Packr(STRUCTURED_OPTIONS);
      const pieces: Uint8Array[] = [];
      const written = writeState(packr, state(count), {
        write: (bytes) => pieces.push(Uint8Array.from(bytes)),
      });
      const streamed = Buffer.concat(pieces);
      const whole = Buffer.from(new Packr(STRUCTURED_OPTIONS).pack(state(count)));
      expect(written, `${count} orders`).toBe(whole.length);
      expect(streamed.equals(whole), `${count} orders`).toBe(true);
    }
  });

  it('refuses a state whose orders are not its last key', () => {
    const { orders, ...rest } = state(2);
    const reordered = { orders, ...rest } as EngineState;
    expect(() => writeState(new Packr(STRUCTURED_OPTIONS), reordered, { write: () => {} })).toThrow(
      /last key/,
    );
  });
});

describe('readStateStreaming', () => {
  const unpackr = () => new Unpackr(STRUCTURED_OPTIONS);
  const read = (bytes: Uint8Array) => {
    const heads: EngineState[] = [];
    const batches: EngineState['orders'][] = [];
    const streamed = readStateStreaming(
      unpackr(),
      bytes,
      (head) => heads.push(head),
      (orders) => batches.push(orders),
    );
    return { streamed, heads, batches };
  };

  it('gives the state, then every order in batches, under every array header', () => {
    for (const count of [0, 1, 15, 16, 4_096, 4_097, 65_536, 70_001]) {
      const whole = state(count);
      const bytes = new Packr(STRUCTURED_OPTIONS).pack(whole);
      const { streamed, heads, batches } = read(bytes);
      expect(streamed, `${count} orders`).toBe(true);
      expect(heads, `${count} orders`).toEqual([{ ...whole, orders: [] }]);
      expect(batches.flat(), `${count} orders`).toEqual(whole.orders);
      for (const batch of batches) expect(batch.length).toBeLessThanOrEqual(4_096);
    }
  });

  it('declines, calling nothing, when the orders are not the last key or it is no map', () => {
    const { orders, ...rest } = state(3);
    const packr = new Packr(STRUCTURED_OPTIONS);
    for (const value of [{ orders, ...rest }, rest, [1, 2], 'state']) {
      const { streamed, heads, batches } = read(packr.pack(value));
      expect(streamed).toBe(false);
      expect(heads).toEqual([]);
      expect(batches).toEqual([]);
    }
  });

  it('throws when the order list is shorter than its header says', () => {
    const bytes = Buffer.from(new Packr(STRUCTURED_OPTIONS).pack(state(20)));
    // 20 orders under an array-16 header; claim 21.
    const at = bytes.indexOf(Buffer.from([0xdc, 0x00, 20]));
    expect(at).toBeGreaterThan(0);
    bytes[at + 2] = 21;
    expect(() => read(bytes)).toThrow(/holds 20 orders, its header says 21/);
  });
});
