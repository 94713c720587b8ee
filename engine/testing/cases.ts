/**
 * One list of scenarios for every implementation of the engine's operations (the real Engine
 * and the reference model), as hono runs one router suite against every router. A scenario is
 * a sequence of operations on a fixed small network, each with the answer expected (matched
 * as a subset: what the scenario is about), and clock moves between them.
 *
 * The network (fixed, so the expected answers can be worked out by hand):
 *   CUSTOMER is served by dc-near (ETA 7.3 min) then dc-mid (12.0 min); dc-far serves neither.
 *   TIE_POINT is served by dc-west and dc-east at exactly the same distance and ETA: the tie
 *   goes to the lower DC index, dc-west. REMOTE is served by nobody.
 *   SKUs milk, bread, eggs, tea; console has a per-order limit of 2.
 */

import type { EngineConfig } from '../config.js';
import type { Location, OrderLineInput, PlaceOrderInput } from '../types.js';
import type { Operation } from './operations.js';

export const CASE_CONFIG: Partial<EngineConfig> = {
  dcCapacity: 8,
  skuCapacity: 16,
  dcsPerShard: 4,
  orderCapacity: 1024,
  linesPerOrderMax: 4,
  allocationsPerOrderMax: 6,
  holdTtlSecondsDefault: 600,
  maxMinutesDefault: 60,
  verify: true,
};

export const CASE_CLOCK_START = 1_700_000_000_000;

export const CUSTOMER: Location = { lat: 12.975, lng: 77.595 };
export const TIE_POINT: Location = { lat: 12.5, lng: 77.5 };
export const REMOTE: Location = { lat: 28.6, lng: 77.2 };

const DC_TRAVEL = { prepMinutes: 5, speedKmh: 20 };

/** The catalogue every scenario starts from, in this order (DC indexes 0..4). */
export const CASE_NETWORK: Operation[] = [
  dc('dc-near', 12.97, 77.59, 5),
  dc('dc-mid', 12.99, 77.61, 8),
  dc('dc-far', 13.5, 78.0, 3),
  dc('dc-west', 12.5, 77.4375, 10),
  dc('dc-east', 12.5, 77.5625, 10),
  { kind: 'sku', input: { id: 'milk', name: 'Milk', category: 'dairy' } },
  { kind: 'sku', input: { id: 'bread', name: 'Bread', category: 'bakery' } },
  { kind: 'sku', input: { id: 'eggs', name: 'Eggs', category: 'dairy' } },
  { kind: 'sku', input: { id: 'tea', name: 'Tea', category: 'beverages' } },
  { kind: 'sku', input: { id: 'console', name: 'Console', maxPerOrder: 2 } },
];

function dc(id: string, lat: number, lng: number, radiusKm: number): Operation {
  return { kind: 'dc', input: { id, name: id, location: { lat, lng }, radiusKm, ...DC_TRAVEL } };
}

export interface CaseStep {
  /** Move the clock forward before the operation (or alone, without one). */
  advanceMs?: number;
  op?: Operation;
  /** A subset of the answer (toMatchObject); absent: the answer is not checked here. */
  expect?: unknown;
}

export interface Case {
  name: string;
  steps: CaseStep[];
}

// ---------------------------------------------------------------- builders

type Lines = OrderLineInput[];

function place(orderId: string, lines: Lines, extra: Partial<PlaceOrderInput> = {}): Operation {
  return { kind: 'place', input: { orderId, location: CUSTOMER, lines, mode: 'hold', ...extra } };
}

function receive(dcId: string, sku: string, qty: number): CaseStep {
  return { op: { kind: 'receive', dc: dcId, sku, qty }, expect: { ok: true } };
}

function stock(dcId: string, sku: string, expected: Record<string, number>): CaseStep {
  return { op: { kind: 'stock', dc: dcId, sku }, expect: { ok: true, stock: expected } };
}

function refused(code: string, details: Record<string, unknown> = {}): unknown {
  return { ok: false, error: { code, ...details } };
}

function order(fields: Record<string, unknown>, created?: boolean): unknown {
  return created === undefined ? { ok: true, order: fields } : { ok: true, created, order: fields };
}

const op = (operation: Operation, expect?: unknown): CaseStep => ({ op: operation, expect });

// ---------------------------------------------------------------- scenarios

export const CASES: Case[] = [
  {
    name: 'a hold is confirmed, then fulfilled: units are reserved, then leave the building',
    steps: [
      receive('dc-near', 'milk', 10),
      op(
        place('o-1', [{ sku: 'milk', qty: 3 }], { ttlSeconds: 60 }),
        order(
          {
            status: 'held',
            mode: 'hold',
            policy: 'single-dc',
            allocation: [{ sku: 'milk', dc: 'dc-near', qty: 3 }],
            etaMinutes: 7.3,
            expiresAt: CASE_CLOCK_START + 60_000,
          },
          true,
        ),
      ),
      stock('dc-near', 'milk', { onHand: 10, available: 7, reserved: 3, shortfall: 0 }),
      op({ kind: 'fulfil', orderId: 'o-1' }, refused('INVALID_STATE', { status: 'held' })),
      op({ kind: 'confirm', orderId: 'o-1' }, order({ status: 'confirmed' }, false)),
      op({ kind: 'confirm', orderId: 'o-1' }, order({ status: 'confirmed' })),
      op({ kind: 'extend', orderId: 'o-1', ttlSeconds: 30 }, refused('INVALID_STATE')),
      op({ kind: 'fulfil', orderId: 'o-1' }, order({ status: 'fulfilled' })),
      op({ kind: 'fulfil', orderId: 'o-1' }, order({ status: 'fulfilled' })),
      stock('dc-near', 'milk', { onHand: 7, available: 7, reserved: 0 }),
      op({ kind: 'cancel', orderId: 'o-1' }, refused('INVALID_STATE', { status: 'fulfilled' })),
    ],
  },
  {
    name: 'a commit order is confirmed at once; cancelling it gives its units back',
    steps: [
      receive('dc-near', 'bread', 4),
      op(
        place('o-c', [{ sku: 'bread', qty: 4 }], { mode: 'commit' }),
        order({ status: 'confirmed', mode: 'commit' }, true),
      ),
      stock('dc-near', 'bread', { onHand: 4, available: 0, reserved: 4 }),
      op(place('o-d', [{ sku: 'bread', qty: 1 }]), refused('OUT_OF_STOCK')),
      op({ kind: 'cancel', orderId: 'o-c' }, order({ status: 'cancelled' })),
      op({ kind: 'cancel', orderId: 'o-c' }, order({ status: 'cancelled' })),
      stock('dc-near', 'bread', { onHand: 4, available: 4, reserved: 0 }),
      op({ kind: 'confirm', orderId: 'o-c' }, refused('INVALID_STATE', { status: 'cancelled' })),
    ],
  },
  {
    name: 'the order id is the idempotency key: same contents answer the order, others are refused',
    steps: [
      receive('dc-near', 'milk', 10),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60 }),
        order({ status: 'held' }, true),
      ),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60 }),
        order({ status: 'held' }, false),
      ),
      stock('dc-near', 'milk', { available: 8 }),
      op(place('o-i', [{ sku: 'milk', qty: 3 }], { ttlSeconds: 60 }), refused('ORDER_ID_REUSED')),
      op(place('o-i', [{ sku: 'milk', qty: 2 }]), refused('ORDER_ID_REUSED')),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60, policy: 'split' }),
        refused('ORDER_ID_REUSED'),
      ),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60, mode: 'commit' }),
        refused('ORDER_ID_REUSED'),
      ),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60, location: TIE_POINT }),
        refused('ORDER_ID_REUSED'),
      ),
      // single-dc is the default policy: naming it is the same request.
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60, policy: 'single-dc' }),
        order({ status: 'held', allocation: [{ sku: 'milk', dc: 'dc-near', qty: 2 }] }, false),
      ),
      op({ kind: 'cancel', orderId: 'o-i' }, order({ status: 'cancelled' })),
      op(
        place('o-i', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 60 }),
        order({ status: 'cancelled' }, false),
      ),
      stock('dc-near', 'milk', { available: 10, reserved: 0 }),
      // A refused placement took nothing and left no record: the same id can be placed later.
      op(place('o-j', [{ sku: 'milk', qty: 11 }]), refused('OUT_OF_STOCK')),
      op(place('o-j', [{ sku: 'milk', qty: 10 }]), order({ status: 'held' }, true)),
    ],
  },
  {
    name: 'a partial confirm keeps the listed quantities, nearest DC first, and releases the rest',
    steps: [
      receive('dc-near', 'milk', 2),
      receive('dc-mid', 'milk', 5),
      receive('dc-near', 'bread', 3),
      op(
        place(
          'o-p',
          [
            { sku: 'milk', qty: 4 },
            { sku: 'bread', qty: 2 },
          ],
          { policy: 'split' },
        ),
        order(
          {
            allocation: [
              { sku: 'milk', dc: 'dc-near', qty: 2 },
              { sku: 'milk', dc: 'dc-mid', qty: 2 },
              { sku: 'bread', dc: 'dc-near', qty: 2 },
            ],
            etaMinutes: 12,
          },
          true,
        ),
      ),
      op(
        { kind: 'confirm', orderId: 'o-p', lines: [{ sku: 'tea', qty: 1 }] },
        refused('BAD_FIELD'),
      ),
      op(
        { kind: 'confirm', orderId: 'o-p', lines: [{ sku: 'milk', qty: 5 }] },
        refused('BAD_QUANTITY'),
      ),
      op(
        { kind: 'confirm', orderId: 'o-p', lines: [{ sku: 'milk', qty: 0 }] },
        refused('EMPTY_ORDER'),
      ),
      op({ kind: 'confirm', orderId: 'o-p', lines: [] }, refused('EMPTY_ORDER')),
      op(
        {
          kind: 'confirm',
          orderId: 'o-p',
          lines: [
            { sku: 'milk', qty: 1 },
            { sku: 'milk', qty: 1 },
          ],
        },
        refused('DUPLICATE_LINE'),
      ),
      op(
        { kind: 'confirm', orderId: 'o-p', lines: [{ sku: 'caviar', qty: 1 }] },
        refused('UNKNOWN_SKU'),
      ),
      op({ kind: 'get', orderId: 'o-p' }, order({ status: 'held' })),
      op(
        { kind: 'confirm', orderId: 'o-p', lines: [{ sku: 'milk', qty: 3 }] },
        order({
          status: 'confirmed',
          allocation: [
            { sku: 'milk', dc: 'dc-near', qty: 2 },
            { sku: 'milk', dc: 'dc-mid', qty: 1 },
          ],
        }),
      ),
      stock('dc-mid', 'milk', { onHand: 5, available: 4, reserved: 1 }),
      stock('dc-near', 'bread', { available: 3, reserved: 0 }),
      op({ kind: 'cancel', orderId: 'o-p' }, order({ status: 'cancelled' })),
      stock('dc-near', 'milk', { available: 2, reserved: 0 }),
      stock('dc-mid', 'milk', { available: 5, reserved: 0 }),
    ],
  },
  {
    name: "a basket change counts the order's own hold as available to it",
    steps: [
      receive('dc-near', 'milk', 3),
      receive('dc-mid', 'milk', 5),
      receive('dc-mid', 'bread', 2),
      op(
        place('o-b', [{ sku: 'milk', qty: 3 }]),
        order({ allocation: [{ sku: 'milk', dc: 'dc-near', qty: 3 }] }, true),
      ),
      stock('dc-near', 'milk', { available: 0 }),
      // All of dc-near's milk is this order's own: it still fits there.
      op(
        { kind: 'change', orderId: 'o-b', lines: [{ sku: 'milk', qty: 2 }] },
        order({ status: 'held', allocation: [{ sku: 'milk', dc: 'dc-near', qty: 2 }] }),
      ),
      stock('dc-near', 'milk', { available: 1, reserved: 2 }),
      op(
        { kind: 'change', orderId: 'o-b', lines: [{ sku: 'milk', qty: 3 }] },
        order({ allocation: [{ sku: 'milk', dc: 'dc-near', qty: 3 }] }),
      ),
      // Bread is only at dc-mid: a single-dc basket moves there whole, freeing dc-near.
      op(
        {
          kind: 'change',
          orderId: 'o-b',
          lines: [
            { sku: 'milk', qty: 3 },
            { sku: 'bread', qty: 1 },
          ],
        },
        order({
          allocation: [
            { sku: 'milk', dc: 'dc-mid', qty: 3 },
            { sku: 'bread', dc: 'dc-mid', qty: 1 },
          ],
          etaMinutes: 12,
        }),
      ),
      stock('dc-near', 'milk', { available: 3, reserved: 0 }),
      stock('dc-mid', 'milk', { available: 2, reserved: 3 }),
      op(
        { kind: 'change', orderId: 'o-b', lines: [{ sku: 'milk', qty: 9 }] },
        refused('OUT_OF_STOCK', {
          lines: [{ sku: 'milk', code: 'OUT_OF_STOCK', requested: 9, available: 5 }],
        }),
      ),
      op({ kind: 'change', orderId: 'o-b', lines: [] }, refused('EMPTY_ORDER')),
      op(
        { kind: 'change', orderId: 'o-b', lines: [{ sku: 'console', qty: 3 }] },
        refused('OVER_LIMIT'),
      ),
      op(
        { kind: 'get', orderId: 'o-b' },
        order({
          allocation: [
            { dc: 'dc-mid', qty: 3 },
            { dc: 'dc-mid', qty: 1 },
          ],
        }),
      ),
      op({ kind: 'confirm', orderId: 'o-b' }, order({ status: 'confirmed' })),
      op(
        { kind: 'change', orderId: 'o-b', lines: [{ sku: 'milk', qty: 1 }] },
        refused('INVALID_STATE', { status: 'confirmed' }),
      ),
    ],
  },
  {
    name: 'a hold past its deadline expires whichever operation touches it first',
    steps: [
      receive('dc-near', 'eggs', 6),
      op(
        place('o-e1', [{ sku: 'eggs', qty: 2 }], { ttlSeconds: 1 }),
        order({ status: 'held' }, true),
      ),
      op(
        place('o-e2', [{ sku: 'eggs', qty: 2 }], { ttlSeconds: 1 }),
        order({ status: 'held' }, true),
      ),
      op(
        place('o-e3', [{ sku: 'eggs', qty: 2 }], { ttlSeconds: 5 }),
        order({ status: 'held' }, true),
      ),
      {
        advanceMs: 999,
        op: { kind: 'confirm', orderId: 'o-e1' },
        expect: order({ status: 'confirmed' }),
      },
      {
        advanceMs: 1,
        op: { kind: 'confirm', orderId: 'o-e2' },
        expect: refused('INVALID_STATE', { status: 'expired' }),
      },
      stock('dc-near', 'eggs', { available: 2, reserved: 4 }),
      op(
        { kind: 'extend', orderId: 'o-e3', ttlSeconds: 10 },
        order({ status: 'held', expiresAt: CASE_CLOCK_START + 11_000 }),
      ),
      op({ kind: 'expire' }, { expired: 0 }),
      { advanceMs: 10_000, op: { kind: 'expire' }, expect: { expired: 1 } },
      op({ kind: 'get', orderId: 'o-e3' }, order({ status: 'expired' })),
      op(
        { kind: 'extend', orderId: 'o-e3', ttlSeconds: 10 },
        refused('INVALID_STATE', { status: 'expired' }),
      ),
      op({ kind: 'cancel', orderId: 'o-e3' }, refused('INVALID_STATE', { status: 'expired' })),
      op(
        place('o-e3', [{ sku: 'eggs', qty: 2 }], { ttlSeconds: 5 }),
        order({ status: 'expired' }, false),
      ),
      stock('dc-near', 'eggs', { available: 4, reserved: 2 }),
      op({ kind: 'expire' }, { expired: 0 }),
    ],
  },
  {
    name: 'a placement retried after its hold is due expires it and answers the expired order',
    steps: [
      receive('dc-near', 'tea', 1),
      op(
        place('o-r', [{ sku: 'tea', qty: 1 }], { ttlSeconds: 2 }),
        order({ status: 'held' }, true),
      ),
      {
        advanceMs: 2_000,
        op: place('o-r', [{ sku: 'tea', qty: 1 }], { ttlSeconds: 2 }),
        expect: order({ status: 'expired' }, false),
      },
      stock('dc-near', 'tea', { available: 1 }),
      op(place('o-r', [{ sku: 'tea', qty: 1 }]), refused('ORDER_ID_REUSED')),
    ],
  },
  {
    name: 'a hold extended to a shorter deadline is expired by the sweep at that deadline',
    steps: [
      receive('dc-near', 'milk', 5),
      op(
        place('o-x', [{ sku: 'milk', qty: 2 }], { ttlSeconds: 600 }),
        order({ status: 'held' }, true),
      ),
      op(
        { kind: 'extend', orderId: 'o-x', ttlSeconds: 1 },
        order({ expiresAt: CASE_CLOCK_START + 1_000 }),
      ),
      { advanceMs: 5_000, op: { kind: 'expire' }, expect: { expired: 1 } },
      stock('dc-near', 'milk', { available: 5, reserved: 0 }),
    ],
  },
  {
    name: 'a count below what is reserved is a shortfall, and blocks reservations until stock returns',
    steps: [
      receive('dc-near', 'bread', 5),
      op(place('o-s', [{ sku: 'bread', qty: 4 }]), order({ status: 'held' }, true)),
      op(
        { kind: 'adjust', dc: 'dc-near', sku: 'bread', onHand: 2 },
        {
          ok: true,
          stock: { onHand: 2, available: 0, reserved: 4, shortfall: 2 },
        },
      ),
      op(
        place('o-t', [{ sku: 'bread', qty: 1 }]),
        refused('OUT_OF_STOCK', {
          lines: [{ sku: 'bread', code: 'OUT_OF_STOCK', requested: 1, available: 0 }],
        }),
      ),
      op(
        { kind: 'receive', dc: 'dc-near', sku: 'bread', qty: 1 },
        { ok: true, stock: { onHand: 3, shortfall: 1 } },
      ),
      op({ kind: 'cancel', orderId: 'o-s' }, order({ status: 'cancelled' })),
      stock('dc-near', 'bread', { onHand: 3, available: 3, reserved: 0, shortfall: 0 }),
      op(
        { kind: 'adjust', dc: 'dc-near', sku: 'bread', onHand: 0 },
        { ok: true, stock: { onHand: 0, available: 0 } },
      ),
      op({ kind: 'adjust', dc: 'dc-near', sku: 'bread', onHand: -1 }, refused('BAD_QUANTITY')),
      op(
        { kind: 'adjust', dc: 'dc-near', sku: 'bread', onHand: 7 },
        { ok: true, stock: { onHand: 7, available: 7 } },
      ),
    ],
  },
  {
    name: 'single-dc takes the nearest DC that has every line; split fills lines across DCs',
    steps: [
      receive('dc-near', 'milk', 2),
      receive('dc-mid', 'milk', 3),
      receive('dc-mid', 'bread', 1),
      op(
        place('o-1dc', [{ sku: 'milk', qty: 4 }]),
        refused('OUT_OF_STOCK', {
          lines: [{ sku: 'milk', code: 'OUT_OF_STOCK', requested: 4, available: 3 }],
        }),
      ),
      op(
        {
          kind: 'check',
          input: {
            location: CUSTOMER,
            lines: [{ sku: 'milk', qty: 4 }],
            mode: 'hold',
            policy: 'split',
          } as PlaceOrderInput,
        },
        {
          ok: true,
          allocation: [
            { sku: 'milk', dc: 'dc-near', qty: 2 },
            { sku: 'milk', dc: 'dc-mid', qty: 2 },
          ],
        },
      ),
      stock('dc-near', 'milk', { available: 2 }),
      op(
        place('o-split', [{ sku: 'milk', qty: 4 }], { policy: 'split' }),
        order(
          {
            policy: 'split',
            allocation: [
              { sku: 'milk', dc: 'dc-near', qty: 2 },
              { sku: 'milk', dc: 'dc-mid', qty: 2 },
            ],
            etaMinutes: 12,
          },
          true,
        ),
      ),
      op(
        place('o-one', [
          { sku: 'milk', qty: 1 },
          { sku: 'bread', qty: 1 },
        ]),
        order(
          {
            allocation: [
              { dc: 'dc-mid', qty: 1 },
              { dc: 'dc-mid', qty: 1 },
            ],
          },
          true,
        ),
      ),
      op(
        place('o-over', [{ sku: 'milk', qty: 1 }], { policy: 'split' }),
        refused('OUT_OF_STOCK', { lines: [{ sku: 'milk', requested: 1, available: 0 }] }),
      ),
    ],
  },
  {
    name: 'lines no one DC has together are refused NOT_IN_ONE_DC, and fit when split',
    steps: [
      receive('dc-near', 'milk', 1),
      receive('dc-mid', 'bread', 1),
      op(
        place('o-n', [
          { sku: 'milk', qty: 1 },
          { sku: 'bread', qty: 1 },
        ]),
        refused('NOT_IN_ONE_DC'),
      ),
      op(
        place(
          'o-n',
          [
            { sku: 'milk', qty: 1 },
            { sku: 'bread', qty: 1 },
          ],
          { policy: 'split' },
        ),
        order(
          {
            allocation: [
              { sku: 'milk', dc: 'dc-near', qty: 1 },
              { sku: 'bread', dc: 'dc-mid', qty: 1 },
            ],
          },
          true,
        ),
      ),
    ],
  },
  {
    name: 'a split order needing more allocation entries than an order holds is TOO_FRAGMENTED',
    steps: [
      ...['milk', 'bread', 'eggs', 'tea'].flatMap((sku) => [
        receive('dc-near', sku, 1),
        receive('dc-mid', sku, 1),
      ]),
      op(
        place(
          'o-f',
          ['milk', 'bread', 'eggs', 'tea'].map((sku) => ({ sku, qty: 2 })),
          { policy: 'split' },
        ),
        refused('TOO_FRAGMENTED'),
      ),
      stock('dc-near', 'milk', { available: 1 }),
      op(
        place(
          'o-f',
          ['milk', 'bread', 'eggs'].map((sku) => ({ sku, qty: 2 })),
          { policy: 'split' },
        ),
        order({ status: 'held' }, true),
      ),
    ],
  },
  {
    name: 'a location no active DC serves within the window is refused NO_DC_IN_RANGE',
    steps: [
      receive('dc-near', 'milk', 5),
      op(
        place('o-far', [{ sku: 'milk', qty: 1 }], { location: REMOTE }),
        refused('NO_DC_IN_RANGE', {
          lines: [{ sku: 'milk', code: 'NO_DC_IN_RANGE', requested: 1, available: 0 }],
        }),
      ),
      op(place('o-far', [{ sku: 'milk', qty: 1 }], { maxMinutes: 5 }), refused('NO_DC_IN_RANGE')),
      op(
        place('o-far', [{ sku: 'milk', qty: 1 }], { maxMinutes: 10 }),
        order({ status: 'held' }, true),
      ),
      op(
        {
          kind: 'dc',
          input: {
            id: 'dc-near',
            name: 'dc-near',
            location: { lat: 12.97, lng: 77.59 },
            radiusKm: 5,
            ...DC_TRAVEL,
            active: false,
          },
        },
        { ok: true, created: false },
      ),
      op(place('o-gone', [{ sku: 'milk', qty: 1 }], { maxMinutes: 10 }), refused('NO_DC_IN_RANGE')),
      op(place('o-gone', [{ sku: 'milk', qty: 1 }]), refused('OUT_OF_STOCK')),
      op(
        { kind: 'availability', location: CUSTOMER, skus: ['milk'] },
        { ok: true, skus: { milk: { available: 0, etaMinutes: null, dcs: [] } } },
      ),
      op(
        { kind: 'get', orderId: 'o-far' },
        order({ status: 'held', allocation: [{ dc: 'dc-near' }] }),
      ),
    ],
  },
  {
    name: 'bad lines are refused per line: UNKNOWN_SKU, OVER_LIMIT, DUPLICATE_LINE, BAD_QUANTITY',
    steps: [
      receive('dc-near', 'console', 10),
      op(
        place('o-u', [
          { sku: 'milk', qty: 1 },
          { sku: 'caviar', qty: 2 },
        ]),
        refused('UNKNOWN_SKU', {
          lines: [{ sku: 'caviar', code: 'UNKNOWN_SKU', requested: 2, available: 0 }],
        }),
      ),
      op(
        place('o-u', [{ sku: 'console', qty: 3 }]),
        refused('OVER_LIMIT', {
          lines: [{ sku: 'console', code: 'OVER_LIMIT', requested: 3, limit: 2 }],
        }),
      ),
      op(
        place('o-u', [
          { sku: 'console', qty: 1 },
          { sku: 'console', qty: 1 },
        ]),
        refused('DUPLICATE_LINE'),
      ),
      op(place('o-u', [{ sku: 'console', qty: 0 }]), refused('BAD_QUANTITY')),
      op(place('o-u', []), refused('EMPTY_ORDER')),
      op(
        place('o-u', [{ sku: 'console', qty: 2 }], { mode: 'keep' as 'hold' }),
        refused('BAD_MODE'),
      ),
      op(place('o-u', [{ sku: 'console', qty: 2 }], { ttlSeconds: 0 }), refused('BAD_TTL')),
      op(place('', [{ sku: 'console', qty: 2 }]), refused('BAD_ORDER_ID')),
      op(place('o-u', [{ sku: 'console', qty: 2 }]), order({ status: 'held' }, true)),
      op(
        { kind: 'sku', input: { id: 'console', name: 'Console', maxPerOrder: 1 } },
        { ok: true, created: false },
      ),
      op(place('o-u', [{ sku: 'console', qty: 2 }]), refused('OVER_LIMIT')),
      op({ kind: 'get', orderId: 'o-missing' }, refused('ORDER_NOT_FOUND')),
      op({ kind: 'extend', orderId: 'o-u', ttlSeconds: 0 }, refused('BAD_TTL')),
      op({ kind: 'receive', dc: 'dc-near', sku: 'caviar', qty: 1 }, refused('UNKNOWN_SKU')),
      op({ kind: 'receive', dc: 'dc-nowhere', sku: 'milk', qty: 1 }, refused('UNKNOWN_DC')),
      op({ kind: 'receive', dc: 'dc-near', sku: 'milk', qty: 0 }, refused('BAD_QUANTITY')),
    ],
  },
  {
    name: 'equal ETAs go to the lower DC index; availability counts holds at once',
    steps: [
      receive('dc-west', 'tea', 2),
      receive('dc-east', 'tea', 5),
      op(
        { kind: 'availability', location: TIE_POINT, skus: ['tea', 'caviar'] },
        {
          ok: true,
          skus: {
            tea: {
              available: 7,
              dcs: [
                { dc: 'dc-west', available: 2 },
                { dc: 'dc-east', available: 5 },
              ],
            },
            caviar: { available: 0, etaMinutes: null, unknown: true },
          },
        },
      ),
      op(
        place('o-tie', [{ sku: 'tea', qty: 2 }], { location: TIE_POINT }),
        order({ allocation: [{ sku: 'tea', dc: 'dc-west', qty: 2 }] }, true),
      ),
      op(
        place('o-tie2', [{ sku: 'tea', qty: 2 }], { location: TIE_POINT }),
        order({ allocation: [{ sku: 'tea', dc: 'dc-east', qty: 2 }] }, true),
      ),
      op(
        { kind: 'availability', location: TIE_POINT, skus: ['tea'] },
        { ok: true, skus: { tea: { available: 3, dcs: [{ dc: 'dc-east', available: 3 }] } } },
      ),
    ],
  },
];
