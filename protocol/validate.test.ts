/**
 * Validator tests: boundary values for every kind of field (0, -1, 2^31, NaN, Infinity,
 * 64/65-byte ids, non-strings, duplicates), the code each mistake gets, and that valid args
 * come back as fresh objects holding only known fields.
 */

import { describe, expect, it } from 'vitest';
import { ERROR_CODE_LIST } from './codes.js';
import {
  AREA_VERTICES_MAX,
  ID_BYTES_MAX,
  LINES_PER_ORDER_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MIN,
  SKUS_PER_REQUEST_MAX,
  SPEED_KMH_MIN,
  SUBSCRIPTION_DCS_MAX,
  SUBSCRIPTION_SKUS_MAX,
  TTL_SECONDS_MAX,
} from './limits.js';
import { chooseVersion, OP_LIST, type Op, roleAllows, SUBSCRIPTION_ROLES } from './messages.js';
import { idProblem, isValidId, validateArgs } from './validate.js';

const ORDER = {
  orderId: 'o-1',
  location: { lat: 12.97, lng: 77.59 },
  lines: [
    { sku: 'milk', qty: 2 },
    { sku: 'bread', qty: 1 },
  ],
  mode: 'hold',
};

/** The code validateArgs answers, or 'ok'. */
function codeOf(op: Op, args: unknown): string {
  const result = validateArgs(op, args);
  return result.ok ? 'ok' : result.error.code;
}

function withField(base: Record<string, unknown>, field: string, value: unknown) {
  return { ...base, [field]: value };
}

describe('ids', () => {
  it('accepts 1..64 UTF-8 bytes and refuses the rest', () => {
    expect(isValidId('a')).toBe(true);
    expect(isValidId('a'.repeat(ID_BYTES_MAX))).toBe(true);
    expect(idProblem('a'.repeat(ID_BYTES_MAX + 1))).toMatch(/longer/);
    expect(idProblem('')).toBe('is empty');
    // 21 × 3-byte characters = 63 bytes; one more 2-byte character makes 65.
    expect(isValidId('€'.repeat(21))).toBe(true);
    expect(isValidId(`${'€'.repeat(21)}é`)).toBe(false);
    // 16 × 4-byte emoji = 64 bytes (32 UTF-16 units); 17 = 68 bytes.
    expect(isValidId('🍕'.repeat(16))).toBe(true);
    expect(isValidId('🍕'.repeat(17))).toBe(false);
  });

  it('refuses control characters, unpaired surrogates and non-strings', () => {
    for (const bad of ['a\nb', 'a\u0000', '\u007f', '\u0085x', '\ud800', 'x\udc00', '\ud83dx']) {
      expect(isValidId(bad), JSON.stringify(bad)).toBe(false);
    }
    for (const bad of [1, null, undefined, {}, ['a'], true]) {
      expect(idProblem(bad)).toBe('must be a string');
    }
  });

  it('gives BAD_ORDER_ID for order ids and BAD_ID for DC and SKU ids', () => {
    expect(codeOf('getOrder', { orderId: 'x'.repeat(65) })).toBe('BAD_ORDER_ID');
    expect(codeOf('getOrder', { orderId: 12 })).toBe('BAD_ORDER_ID');
    expect(codeOf('getOrder', {})).toBe('BAD_ORDER_ID');
    expect(codeOf('getStock', { dc: 'd', sku: 5 })).toBe('BAD_ID');
    expect(codeOf('getStock', { dc: '', sku: 's' })).toBe('BAD_ID');
    expect(codeOf('getStock', { dc: 'd', sku: 's' })).toBe('ok');
  });
});

describe('quantities', () => {
  const receive = { dc: 'd', sku: 's', qty: 1 };

  it('accepts 1..2^31-1 for qty and refuses 0, -1, 2^31, fractions, NaN, Infinity, strings', () => {
    expect(codeOf('receive', receive)).toBe('ok');
    expect(codeOf('receive', withField(receive, 'qty', QUANTITY_MAX))).toBe('ok');
    for (const bad of [0, -1, 2 ** 31, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', null]) {
      expect(codeOf('receive', withField(receive, 'qty', bad)), String(bad)).toBe('BAD_QUANTITY');
    }
  });

  it('accepts 0 for an adjusted on-hand count but not -1', () => {
    const adjust = { dc: 'd', sku: 's', onHand: 0 };
    expect(codeOf('adjust', adjust)).toBe('ok');
    expect(codeOf('adjust', withField(adjust, 'onHand', -1))).toBe('BAD_QUANTITY');
    expect(codeOf('adjust', withField(adjust, 'onHand', 2 ** 31))).toBe('BAD_QUANTITY');
  });

  it('refuses bad line quantities with the field named', () => {
    const result = validateArgs('placeOrder', {
      ...ORDER,
      lines: [
        { sku: 'a', qty: 1 },
        { sku: 'b', qty: 0 },
      ],
    });
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'BAD_QUANTITY', field: 'lines[1].qty' },
    });
  });
});

describe('locations', () => {
  it('accepts the edges of the globe and refuses anything off it', () => {
    for (const location of [
      { lat: 90, lng: 180 },
      { lat: -90, lng: -180 },
      { lat: 0, lng: 0 },
    ]) {
      expect(codeOf('placeOrder', withField(ORDER, 'location', location))).toBe('ok');
    }
    for (const location of [
      { lat: 90.0001, lng: 0 },
      { lat: 0, lng: -180.5 },
      { lat: Number.NaN, lng: 0 },
      { lat: 0, lng: Number.POSITIVE_INFINITY },
      { lat: '1', lng: 2 },
      { lat: 1 },
      [1, 2],
      null,
      'here',
    ]) {
      expect(codeOf('placeOrder', withField(ORDER, 'location', location))).toBe('BAD_LOCATION');
    }
    expect(codeOf('availability', { lat: 91, lng: 0, skus: [] })).toBe('BAD_LOCATION');
    expect(codeOf('browse', { lat: 0, lng: Number.NaN })).toBe('BAD_LOCATION');
  });
});

describe('orders', () => {
  it('accepts a plain order and copies only known fields', () => {
    const input = {
      ...ORDER,
      junk: 'x'.repeat(1000),
      location: { lat: 1, lng: 2, junk: true },
      lines: [{ sku: 'a', qty: 1, junk: [1, 2, 3] }],
      ttlSeconds: null,
      policy: undefined,
    };
    const result = validateArgs('placeOrder', input);
    expect(result).toEqual({
      ok: true,
      args: {
        orderId: 'o-1',
        location: { lat: 1, lng: 2 },
        lines: [{ sku: 'a', qty: 1 }],
        mode: 'hold',
      },
    });
    if (result.ok) {
      expect(result.args.location).not.toBe(input.location);
      expect(result.args.lines[0]).not.toBe(input.lines[0]);
      expect(Object.keys(result.args)).not.toContain('ttlSeconds');
    }
  });

  it('checks lines: type, empty, too many, duplicates', () => {
    expect(codeOf('placeOrder', withField(ORDER, 'lines', 'milk'))).toBe('BAD_FIELD');
    expect(codeOf('placeOrder', withField(ORDER, 'lines', []))).toBe('EMPTY_ORDER');
    const many = (count: number) =>
      Array.from({ length: count }, (_, index) => ({ sku: `s${index}`, qty: 1 }));
    expect(codeOf('placeOrder', withField(ORDER, 'lines', many(LINES_PER_ORDER_MAX)))).toBe('ok');
    expect(codeOf('placeOrder', withField(ORDER, 'lines', many(LINES_PER_ORDER_MAX + 1)))).toBe(
      'TOO_MANY_LINES',
    );
    const duplicated = [...many(3), { sku: 's1', qty: 4 }];
    expect(validateArgs('placeOrder', withField(ORDER, 'lines', duplicated))).toMatchObject({
      ok: false,
      error: { code: 'DUPLICATE_LINE', field: 'lines[3].sku' },
    });
    expect(codeOf('placeOrder', withField(ORDER, 'lines', [null]))).toBe('BAD_FIELD');
    expect(codeOf('placeOrder', withField(ORDER, 'lines', [{ sku: 1, qty: 1 }]))).toBe('BAD_ID');
  });

  it('finds duplicates in long baskets too (the Set path)', () => {
    const limits = { linesPerOrderMax: 100, skusPerRequestMax: 500 };
    const lines = Array.from({ length: 60 }, (_, index) => ({ sku: `s${index}`, qty: 1 }));
    expect(validateArgs('placeOrder', { ...ORDER, lines }, limits).ok).toBe(true);
    lines.push({ sku: 's7', qty: 1 });
    expect(validateArgs('placeOrder', { ...ORDER, lines }, limits)).toMatchObject({
      ok: false,
      error: { code: 'DUPLICATE_LINE', field: 'lines[60].sku' },
    });
  });

  it('checks mode, policy, ttl and maxMinutes', () => {
    expect(codeOf('placeOrder', withField(ORDER, 'mode', 'maybe'))).toBe('BAD_MODE');
    expect(codeOf('placeOrder', withField(ORDER, 'mode', undefined))).toBe('BAD_MODE');
    expect(codeOf('placeOrder', withField(ORDER, 'policy', 'split'))).toBe('ok');
    expect(codeOf('placeOrder', withField(ORDER, 'policy', 'nearest'))).toBe('BAD_POLICY');
    expect(codeOf('placeOrder', withField(ORDER, 'ttlSeconds', TTL_SECONDS_MAX))).toBe('ok');
    for (const bad of [0, -1, TTL_SECONDS_MAX + 1, 1.5, Number.NaN, '60']) {
      expect(codeOf('placeOrder', withField(ORDER, 'ttlSeconds', bad))).toBe('BAD_TTL');
    }
    expect(codeOf('placeOrder', withField(ORDER, 'maxMinutes', 30.5))).toBe('ok');
    for (const bad of [0, -5, 1441, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(codeOf('placeOrder', withField(ORDER, 'maxMinutes', bad))).toBe('BAD_FIELD');
    }
    expect(codeOf('checkBasket', withField(ORDER, 'mode', 'commit'))).toBe('ok');
  });

  it('checks the order lifecycle ops', () => {
    expect(codeOf('confirm', { orderId: 'o' })).toBe('ok');
    expect(codeOf('confirm', { orderId: 'o', lines: [{ sku: 'a', qty: 0 }] })).toBe('ok');
    expect(codeOf('confirm', { orderId: 'o', lines: [{ sku: 'a', qty: -1 }] })).toBe(
      'BAD_QUANTITY',
    );
    expect(codeOf('confirm', { orderId: 'o', lines: [] })).toBe('EMPTY_ORDER');
    expect(codeOf('extend', { orderId: 'o', ttlSeconds: 60 })).toBe('ok');
    expect(codeOf('extend', { orderId: 'o' })).toBe('BAD_TTL');
    expect(codeOf('changeOrder', { orderId: 'o', lines: [{ sku: 'a', qty: 0 }] })).toBe(
      'BAD_QUANTITY',
    );
    expect(codeOf('changeOrder', { orderId: 'o', lines: [{ sku: 'a', qty: 3 }] })).toBe('ok');
    expect(codeOf('cancel', { orderId: 'o' })).toBe('ok');
    expect(codeOf('fulfil', { orderId: ['o'] })).toBe('BAD_ORDER_ID');
  });
});

describe('reads', () => {
  it('bounds availability SKU lists', () => {
    const skus = (count: number) => Array.from({ length: count }, (_, index) => `s${index}`);
    expect(codeOf('availability', { lat: 1, lng: 2, skus: [] })).toBe('ok');
    expect(codeOf('availability', { lat: 1, lng: 2, skus: skus(SKUS_PER_REQUEST_MAX) })).toBe('ok');
    expect(codeOf('availability', { lat: 1, lng: 2, skus: skus(SKUS_PER_REQUEST_MAX + 1) })).toBe(
      'TOO_MANY_SKUS',
    );
    expect(codeOf('availability', { lat: 1, lng: 2, skus: 'a,b' })).toBe('BAD_FIELD');
    expect(codeOf('availability', { lat: 1, lng: 2, skus: ['a', 7] })).toBe('BAD_ID');
  });

  it('checks browse options', () => {
    expect(codeOf('browse', { lat: 1, lng: 2, limit: 500, category: 'dairy', cursor: 'c' })).toBe(
      'ok',
    );
    for (const limit of [0, 501, 2.5, '10']) {
      expect(codeOf('browse', { lat: 1, lng: 2, limit })).toBe('BAD_FIELD');
    }
    expect(codeOf('browse', { lat: 1, lng: 2, category: '' })).toBe('BAD_FIELD');
    expect(codeOf('browse', { lat: 1, lng: 2, cursor: 'c'.repeat(257) })).toBe('BAD_FIELD');
  });

  it('checks hello versions', () => {
    expect(codeOf('hello', { versions: [1] })).toBe('ok');
    expect(codeOf('hello', { versions: [] })).toBe('BAD_FIELD');
    expect(codeOf('hello', { versions: [-1] })).toBe('BAD_FIELD');
    expect(codeOf('hello', { versions: new Array(17).fill(1) })).toBe('BAD_FIELD');
    expect(codeOf('ping', { anything: 1 })).toBe('ok');
  });
});

describe('catalogue', () => {
  const dc = { id: 'dc-1', name: 'Koramangala', location: { lat: 12.93, lng: 77.62 } };
  const square = [
    [
      [77.6, 12.9],
      [77.7, 12.9],
      [77.7, 13.0],
      [77.6, 13.0],
      [77.6, 12.9],
    ],
  ];

  it('checks DC fields and delivery areas', () => {
    const circle = { ...dc, radiusKm: 5 };
    expect(codeOf('upsertDc', circle)).toBe('ok');
    expect(codeOf('upsertDc', { ...circle, speedKmh: 20, prepMinutes: 0 })).toBe('ok');
    expect(codeOf('upsertDc', { ...circle, name: '' })).toBe('BAD_FIELD');
    // The wire's ranges are the engine's (catalogue.ts): nothing passes one and fails the other.
    expect(codeOf('upsertDc', { ...dc, radiusKm: RADIUS_KM_MIN })).toBe('ok');
    expect(codeOf('upsertDc', { ...dc, radiusKm: RADIUS_KM_MIN / 2 })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...dc, radiusKm: 0 })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...dc, radiusKm: 201 })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...circle, speedKmh: Number.NaN })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...circle, speedKmh: SPEED_KMH_MIN })).toBe('ok');
    expect(codeOf('upsertDc', { ...circle, speedKmh: SPEED_KMH_MIN / 2 })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...circle, prepMinutes: -1 })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...circle, active: 'yes' })).toBe('BAD_FIELD');
    expect(codeOf('upsertDc', { ...dc, area: { type: 'Polygon', coordinates: square } })).toBe(
      'ok',
    );
    // A DC needs a delivery area: a radius or a polygon.
    expect(codeOf('upsertDc', dc)).toBe('BAD_AREA');
    expect(codeOf('upsertDc', { ...dc, radiusKm: null, area: null })).toBe('BAD_AREA');
    const open = [square[0].slice(0, 4)];
    for (const area of [
      { type: 'Point', coordinates: [1, 2] },
      { type: 'Polygon', coordinates: [] },
      { type: 'Polygon', coordinates: open },
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [1, 1],
            [0, 0],
          ],
        ],
      },
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [1, 91],
            [2, 2],
            [0, 0],
          ],
        ],
      },
      {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [1, Number.NaN],
            [2, 2],
            [0, 0],
          ],
        ],
      },
    ]) {
      expect(codeOf('upsertDc', { ...dc, area }), JSON.stringify(area)).toBe('BAD_AREA');
    }
    const ring = Array.from({ length: AREA_VERTICES_MAX + 1 }, () => [0, 0]);
    expect(codeOf('upsertDc', { ...dc, area: { type: 'Polygon', coordinates: [ring] } })).toBe(
      'BAD_AREA',
    );
  });

  it('copies the area, dropping altitudes and extra fields', () => {
    const withAltitude = square.map((ring) => ring.map(([lng, lat]) => [lng, lat, 900]));
    const result = validateArgs('upsertDc', {
      ...dc,
      area: { type: 'Polygon', coordinates: withAltitude, junk: 1 },
    });
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.args.area).toEqual({ type: 'Polygon', coordinates: square });
  });

  it('checks SKU fields', () => {
    const sku = { id: 'milk', name: 'Milk 1 l' };
    expect(codeOf('upsertSku', { ...sku, category: 'dairy', lowStockThreshold: 0 })).toBe('ok');
    expect(codeOf('upsertSku', { ...sku, maxPerOrder: -1 })).toBe('BAD_FIELD');
    expect(codeOf('upsertSku', { ...sku, lowStockThreshold: 2 ** 31 })).toBe('BAD_FIELD');
    expect(codeOf('upsertSku', { ...sku, name: 'n'.repeat(201) })).toBe('BAD_FIELD');
    expect(codeOf('upsertSku', { ...sku, id: 'x'.repeat(65) })).toBe('BAD_ID');
    expect(codeOf('receive', { dc: 'd', sku: 's', qty: 1, reason: 'r'.repeat(201) })).toBe(
      'BAD_FIELD',
    );
  });
});

describe('subscriptions', () => {
  const skus = ['milk', 'bread'];

  it('takes a location or a DC set, exactly one, and 1..limit SKUs', () => {
    expect(validateArgs('subscribe', { kind: 'availability', lat: 1, lng: 2, skus })).toEqual({
      ok: true,
      args: { kind: 'availability', lat: 1, lng: 2, skus },
    });
    expect(codeOf('subscribe', { kind: 'availability', dcs: ['d'], skus, extra: 1 })).toBe('ok');
    expect(codeOf('subscribe', { kind: 'availability', skus })).toBe('BAD_FIELD');
    expect(codeOf('subscribe', { kind: 'availability', lat: 1, lng: 2, dcs: ['d'], skus })).toBe(
      'BAD_FIELD',
    );
    expect(codeOf('subscribe', { kind: 'availability', lat: 91, lng: 2, skus })).toBe(
      'BAD_LOCATION',
    );
    expect(codeOf('subscribe', { kind: 'availability', lat: 1, skus })).toBe('BAD_LOCATION');
    expect(codeOf('subscribe', { kind: 'availability', lat: 1, lng: 2, skus: [] })).toBe(
      'BAD_FIELD',
    );
    const many = Array.from({ length: SUBSCRIPTION_SKUS_MAX + 1 }, (_, index) => `s${index}`);
    expect(codeOf('subscribe', { kind: 'availability', lat: 1, lng: 2, skus: many })).toBe(
      'TOO_MANY_SKUS',
    );
    const dcs = Array.from({ length: SUBSCRIPTION_DCS_MAX + 1 }, (_, index) => `d${index}`);
    expect(codeOf('subscribe', { kind: 'availability', dcs, skus })).toBe('BAD_FIELD');
    expect(codeOf('subscribe', { kind: 'availability', dcs: ['d'], skus, maxMinutes: 30 })).toBe(
      'BAD_FIELD',
    );
    expect(codeOf('subscribe', { kind: 'availability', dcs: ['d'], skus: ['x'.repeat(65)] })).toBe(
      'BAD_ID',
    );
  });

  it('checks the other kinds and unsubscribe', () => {
    expect(validateArgs('subscribe', { kind: 'orders', skus: 5 })).toEqual({
      ok: true,
      args: { kind: 'orders' },
    });
    expect(validateArgs('subscribe', { kind: 'lowStock', dcs: ['d'] })).toEqual({
      ok: true,
      args: { kind: 'lowStock', dcs: ['d'] },
    });
    expect(codeOf('subscribe', { kind: 'lowStock', skus: 'milk' })).toBe('BAD_FIELD');
    expect(codeOf('subscribe', { kind: 'everything' })).toBe('BAD_FIELD');
    expect(codeOf('subscribe', {})).toBe('BAD_FIELD');
    expect(validateArgs('unsubscribe', { sub: 12 })).toEqual({ ok: true, args: { sub: 12 } });
    for (const sub of [-1, 1.5, 2 ** 32, '3', null]) {
      expect(codeOf('unsubscribe', { sub })).toBe('BAD_FIELD');
    }
  });

  it('opens the order stream to orderers only', () => {
    expect(SUBSCRIPTION_ROLES.orders).not.toContain('reader');
    expect(SUBSCRIPTION_ROLES.availability).toContain('reader');
    expect(roleAllows('reader', 'subscribe')).toBe(true);
  });
});

describe('envelope', () => {
  it('refuses args that are not a map and ops that do not exist, never throwing', () => {
    for (const op of OP_LIST) {
      for (const args of [null, undefined, [], 'x', 5, Buffer.from([1])]) {
        expect(codeOf(op, args)).toBe('BAD_REQUEST');
      }
      // Every op survives an empty map and a map of garbage with a code from the table.
      for (const args of [{}, { lat: Number.NaN, orderId: {}, lines: [[]], skus: {}, id: 1 }]) {
        const code = codeOf(op, args);
        expect(code === 'ok' || ERROR_CODE_LIST.includes(code as never), `${op}: ${code}`).toBe(
          true,
        );
      }
    }
    expect(codeOf('toString' as Op, {})).toBe('UNKNOWN_OP');
    expect(codeOf('__proto__' as Op, {})).toBe('UNKNOWN_OP');
  });
});

describe('tables', () => {
  it('settles the hello version and checks roles', () => {
    expect(chooseVersion([1])).toBe(1);
    expect(chooseVersion([3, 2, 1])).toBe(2);
    expect(chooseVersion([2])).toBe(2);
    expect(chooseVersion([3])).toBeUndefined();
    expect(roleAllows('reader', 'availability')).toBe(true);
    expect(roleAllows('reader', 'placeOrder')).toBe(false);
    expect(roleAllows('orderer', 'placeOrder')).toBe(true);
    expect(roleAllows('orderer', 'receive')).toBe(false);
    expect(OP_LIST.every((op) => roleAllows('admin', op))).toBe(true);
  });
});
