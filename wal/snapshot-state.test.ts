/**
 * writeState streams the packed engine state piece by piece; the bytes must be exactly those
 * of packing the state as one value, for order lists under each MessagePack array header.
 */

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { EngineState } from '../engine/index.js';
import { writeState } from './snapshot-store.js';
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
