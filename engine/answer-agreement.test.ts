/**
 * What a client reads from answers it compares: the dry run's ETA against the placed order's,
 * and an availability answer's "no DC delivers here" against "sold out" and "unknown SKU".
 */

import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { Engine } from './engine.js';
import { Model } from './testing/model.js';

const ADMIN = { actor: 'test', reason: 'fixture' };
const CONFIG = { dcCapacity: 8, skuCapacity: 16, orderCapacity: 1024, verify: true };
/** A DC and a customer whose distance gives an ETA with many decimals, not a round tenth. */
const DC = {
  id: 'dc-1',
  name: 'One',
  location: { lat: 12.97, lng: 77.59 },
  radiusKm: 9,
  prepMinutes: 5,
  speedKmh: 17,
};
const CUSTOMER = { lat: 13.0113, lng: 77.6231 };
const NOWHERE = { lat: -33.86, lng: 151.2 };

function network(): Engine {
  const engine = Engine.create(CONFIG);
  expect(engine.upsertDc(DC, ADMIN).ok).toBe(true);
  for (const id of ['milk', 'bread']) {
    expect(engine.upsertSku({ id, name: id }, ADMIN).ok).toBe(true);
  }
  expect(engine.receive('dc-1', 'milk', 10, ADMIN).ok).toBe(true);
  return engine;
}

function isTenth(value: number): boolean {
  return Math.round(value * 10) / 10 === value;
}

describe('checkBasket', () => {
  it('answers the ETA placeOrder gives for the same allocation, rounded to a tenth', () => {
    const engine = network();
    const input = {
      orderId: 'o-1',
      location: CUSTOMER,
      lines: [{ sku: 'milk', qty: 2 }],
      mode: 'hold' as const,
    };
    const check = engine.checkBasket(input);
    const placed = engine.placeOrder(input);
    if (!check.ok || !placed.ok) throw new Error('the fixture allocates');
    expect(placed.order.etaMinutes).toBeGreaterThan(5);
    expect(isTenth(placed.order.etaMinutes)).toBe(true);
    expect(check.etaMinutes).toBe(placed.order.etaMinutes);
    expect(check.allocation).toEqual(placed.order.allocation);
  });

  it('agrees with the reference model', () => {
    const model = new Model(resolveConfig(CONFIG), () => 1_700_000_000_000);
    expect(model.upsertDc(DC, ADMIN).ok).toBe(true);
    expect(model.upsertSku({ id: 'milk', name: 'milk' }, ADMIN).ok).toBe(true);
    expect(model.receive('dc-1', 'milk', 10, ADMIN).ok).toBe(true);
    const input = {
      orderId: 'o-1',
      location: CUSTOMER,
      lines: [{ sku: 'milk', qty: 1 }],
      mode: 'commit' as const,
    };
    const fromModel = model.checkBasket(input);
    const fromEngine = network().checkBasket(input);
    expect(fromModel).toEqual(fromEngine);
  });
});

describe('availability', () => {
  it('tells "no DC delivers here" from "sold out" and from "unknown SKU"', () => {
    const engine = network();
    const here = engine.availability(CUSTOMER, ['milk', 'bread', 'caviar']);
    const nowhere = engine.availability(NOWHERE, ['milk', 'bread']);
    if (!here.ok || !nowhere.ok) throw new Error('availability answers');
    expect(here.dcsInRange).toBe(1);
    expect(here.skus.milk).toMatchObject({ available: 10, dcs: [{ dc: 'dc-1', available: 10 }] });
    // Sold out nearby: a DC delivers here, it has none.
    expect(here.skus.bread).toEqual({ available: 0, etaMinutes: null, dcs: [] });
    expect(here.skus.caviar).toEqual({ available: 0, etaMinutes: null, dcs: [], unknown: true });
    // No DC delivers here: the SKU entries look like "sold out"; the count does not.
    expect(nowhere.dcsInRange).toBe(0);
    expect(nowhere.skus.milk).toEqual({ available: 0, etaMinutes: null, dcs: [] });
    expect(nowhere.skus.bread).toEqual(here.skus.bread);
  });

  it('counts DCs in range whether or not they have stock, and only active ones', () => {
    const engine = network();
    const second = { ...DC, id: 'dc-2', name: 'Two', location: { lat: 12.99, lng: 77.6 } };
    expect(engine.upsertDc(second, ADMIN).ok).toBe(true);
    const both = engine.availability(CUSTOMER, ['bread'], undefined, false);
    expect(both.ok && both.dcsInRange).toBe(2);
    expect(engine.upsertDc({ ...second, active: false }, ADMIN).ok).toBe(true);
    const one = engine.availability(CUSTOMER, ['bread'], undefined, false);
    expect(one.ok && one.dcsInRange).toBe(1);
    // A window too short for any DC (preparation alone takes 5 minutes): none in range.
    const none = engine.availability(CUSTOMER, ['milk'], 4);
    expect(none.ok && none.dcsInRange).toBe(0);
  });
});
