/**
 * Seeded generators of hostile input for the edge: junk values, requests whose envelope is
 * valid but whose args are not, byte frames that break the protocol (random bytes, truncated
 * MessagePack, lying length headers, deep nesting, extension types, text), HTTP bodies, and
 * raw HTTP/1.1 connections that pipeline requests and then reset (as load testers do).
 *
 * Invariants: everything is a pure function of the Prng's state; every id generated starts
 * with HOSTILE_ID_PREFIX, so no generated request can name a DC, SKU or order that a test
 * created, and a request that happens to pass validation changes nothing that exists.
 */

import type { Packr } from 'msgpackr';
import type { Prng } from '../../engine/testing/index.js';
import {
  f64ColumnOfNumbers,
  i32ColumnOfNumbers,
  OP_LIST,
  SKU_REFS_MAX,
} from '../../protocol/index.js';

export const HOSTILE_ID_PREFIX = 'fz-';

const FIELD_NAMES = [
  'orderId',
  'location',
  'lat',
  'lng',
  'lines',
  'sku',
  'skus',
  'dc',
  'qty',
  'onHand',
  'mode',
  'policy',
  'ttlSeconds',
  'maxMinutes',
  'id',
  'name',
  'area',
  'radiusKm',
  'category',
  'cursor',
  'limit',
  'versions',
  'kind',
  'sub',
  'dcs',
  '__proto__',
  'constructor',
  'toString',
];

const SPECIAL_NUMBERS = [
  0,
  -0,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0x7fff_ffff,
  0x8000_0000,
  0xffff_ffff,
  0x1_0000_0000,
  -0x8000_0000,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  1e308,
  -1e308,
  5e-324,
  91,
  -181,
];

const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '💥',
  'hold',
  'commit',
  'split',
  'single-dc',
  'Polygon',
  '../../etc/passwd',
  '%00',
  '<script>',
  'NaN',
];

/**
 * Sets an own property, even `__proto__` (a plain assignment would replace the prototype and
 * turn the object into something else for every encoder).
 */
function setOwn(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, configurable: true, writable: true });
}

/**
 * The value as msgpackr should encode it: plain objects become Maps, so keys such as
 * `constructor` or `__proto__` are written as keys instead of steering the encoder.
 */
export function toWireValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toWireValue);
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  const map = new Map<string, unknown>();
  for (const key of Object.keys(value)) {
    map.set(key, toWireValue((value as Record<string, unknown>)[key]));
  }
  return map;
}

export function hostileId(prng: Prng): string {
  return `${HOSTILE_ID_PREFIX}${prng.nextUint32().toString(36)}`;
}

function hostileString(prng: Prng): string {
  switch (prng.int(4)) {
    case 0:
      return prng.pick(SPECIAL_STRINGS);
    case 1:
      return hostileId(prng);
    case 2:
      return `${HOSTILE_ID_PREFIX}${'x'.repeat(prng.range(60, 400))}`;
    default:
      return String.fromCharCode(
        ...Array.from({ length: prng.range(1, 12) }, () => prng.int(0x10000)),
      );
  }
}

/** Any value MessagePack can carry, nested up to `depth`, biased towards edge cases. */
export function junkValue(prng: Prng, depth = 3): unknown {
  const kind = prng.int(depth > 0 ? 9 : 6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return prng.chance(0.5);
    case 2:
      return prng.pick(SPECIAL_NUMBERS);
    case 3:
      return prng.uniform(-1e6, 1e6);
    case 4:
      return hostileString(prng);
    case 5:
      return Buffer.from(Array.from({ length: prng.int(8) }, () => prng.int(256)));
    case 6:
      return Array.from({ length: prng.int(6) }, () => junkValue(prng, depth - 1));
    default: {
      const map: Record<string, unknown> = {};
      const count = prng.int(6);
      for (let index = 0; index < count; index++) {
        setOwn(map, prng.pick(FIELD_NAMES), junkValue(prng, depth - 1));
      }
      return map;
    }
  }
}

/** A plausible args map for `op`, with hostile ids, then a few fields replaced by junk. */
export function hostileArgs(prng: Prng, op: string): Record<string, unknown> {
  const location = { lat: prng.uniform(-90, 90), lng: prng.uniform(-180, 180) };
  const lines = Array.from({ length: prng.range(0, 40) }, () => ({
    sku: hostileId(prng),
    qty: prng.pick([1, 2, 0, -1, 0x7fff_ffff, 0x8000_0000, 1.5]),
  }));
  const base: Record<string, unknown> = {
    orderId: hostileId(prng),
    location,
    lat: location.lat,
    lng: location.lng,
    lines,
    skus: Array.from({ length: prng.pick([0, 1, 3, 499, 501]) }, () => hostileId(prng)),
    mode: prng.pick(['hold', 'commit', 'maybe']),
    dc: hostileId(prng),
    sku: hostileId(prng),
    qty: prng.pick([1, -5, 0, 1e10]),
    onHand: prng.pick([0, 3, -1]),
    id: hostileId(prng),
    name: hostileString(prng),
    radiusKm: prng.pick([1, 0, -3, 1e9]),
    ttlSeconds: prng.pick([1, 0, -1, 1e12]),
    kind: prng.pick(['availability', 'lowStock', 'orders', 'everything']),
    sub: prng.pick([1, 2, 0, -1, 1.5, 0x1_0000_0000]),
    dcs: Array.from({ length: prng.pick([0, 1, 65]) }, () => hostileId(prng)),
  };
  const mutations = prng.range(0, 4);
  for (let index = 0; index < mutations; index++) {
    setOwn(base, prng.pick(FIELD_NAMES), junkValue(prng));
  }
  if (op === '' || prng.chance(0.05)) return {};
  return base;
}

/**
 * Args for a version-2 `availabilityMany` (or `placeOrders`) that names its SKUs by ref: columns of plausible
 * (sometimes wrong) lengths, refs mostly low (so later requests reuse them) and sometimes out of
 * range, definitions with hostile ids that now and then give a ref a second id or come without
 * their partner column, then a few fields replaced by junk.
 */
export function hostileRefArgs(
  prng: Prng,
  op: 'availabilityMany' | 'placeOrders' = 'availabilityMany',
): Record<string, unknown> {
  const queries = prng.pick([1, 1, 2, 3, 0, 257]);
  const counts = Array.from({ length: Math.max(queries, 0) }, () =>
    prng.pick([0, 1, 2, 5, -1, 501]),
  );
  const total = counts.reduce((sum, count) => sum + Math.max(count, 0), 0);
  const length = (wanted: number) => (prng.chance(0.05) ? wanted + 1 : wanted);
  const refs = Array.from({ length: length(total) }, () =>
    prng.chance(0.03) ? prng.pick([-1, SKU_REFS_MAX, 0x7fff_ffff]) : prng.int(24),
  );
  const defines = prng.int(6);
  const defineRefs = Array.from({ length: defines }, () => prng.int(24));
  const defineSkus = Array.from({ length: length(defines) }, () =>
    prng.chance(0.7) ? `${HOSTILE_ID_PREFIX}r${prng.int(24)}` : hostileId(prng),
  );
  const latCount = length(queries);
  const args: Record<string, unknown> = {
    lat: f64ColumnOfNumbers(
      Array.from({ length: latCount }, () => prng.uniform(-91, 91)),
      latCount,
    ),
    lng: f64ColumnOfNumbers(
      Array.from({ length: queries }, () => prng.uniform(-180, 180)),
      queries,
    ),
    skuRefs: i32ColumnOfNumbers(refs, refs.length),
  };
  if (op === 'availabilityMany') {
    args.queries = queries;
    args.skuCounts = i32ColumnOfNumbers(counts, counts.length);
  } else {
    // Orders by ref; their SKUs are hostile ids no test created, so none is placed.
    args.orders = queries;
    args.orderIds = Array.from({ length: Math.max(queries, 0) }, () => hostileId(prng));
    args.lineCounts = i32ColumnOfNumbers(counts, counts.length);
    args.qty = i32ColumnOfNumbers(
      Array.from({ length: total }, () => prng.pick([1, 2, 0, -1])),
      total,
    );
    args.mode = prng.pick(['hold', 'commit', 'maybe']);
  }
  if (defines > 0 || prng.chance(0.1)) {
    args.defineRefs = i32ColumnOfNumbers(defineRefs, defineRefs.length);
    if (prng.chance(0.95)) args.defineSkus = defineSkus;
  }
  if (prng.chance(0.05)) args.skus = [hostileId(prng)];
  const mutations = prng.chance(0.8) ? 0 : prng.range(1, 3);
  for (let index = 0; index < mutations; index++) {
    setOwn(args, prng.pick(REF_FIELD_NAMES), junkValue(prng));
  }
  return args;
}

const REF_FIELD_NAMES = [
  'queries',
  'orders',
  'orderIds',
  'lineCounts',
  'qty',
  'lat',
  'lng',
  'skuCounts',
  'skuRefs',
  'defineRefs',
  'defineSkus',
];

/** An op name: usually a real one, sometimes unknown or absurd. */
export function hostileOp(prng: Prng, exclude: readonly string[] = []): string {
  if (prng.chance(0.15)) {
    return prng.pick(['', 'nope', 'constructor', '__proto__', 'placeorder', hostileString(prng)]);
  }
  const ops = OP_LIST.filter((op) => !exclude.includes(op));
  return prng.pick(ops);
}

/** A frame that breaks the protocol: the node must close the connection that sent it. */
export function violatingFrame(prng: Prng, packr: Packr): Uint8Array | string {
  switch (prng.int(11)) {
    case 0:
      return Uint8Array.from({ length: prng.range(1, 512) }, () => prng.int(256));
    case 1: {
      const valid = packr.pack([
        [1, 'ping', {}],
        [2, 'availability', hostileArgs(prng, 'x')],
      ]);
      return Uint8Array.from(valid.subarray(0, prng.range(1, valid.length - 1)));
    }
    case 2:
      // Array 32 claiming 4 billion elements with none present.
      return Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x93, 0x01]);
    case 3: {
      // A request whose args map claims 65,535 entries, then ends.
      return Uint8Array.from([0x91, 0x93, 0x01, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xde, 0xff, 0xff]);
    }
    case 4: {
      const depth = prng.range(20, 5_000);
      const bytes = new Uint8Array(depth + 1).fill(0x91);
      bytes[depth] = 0xc0;
      return bytes;
    }
    case 5:
      // Extension types (timestamp, fixext) and the never-used byte.
      return Uint8Array.from(
        prng.pick([
          [0x91, 0x93, 0x01, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xd6, 0xff, 0, 0, 0, 1],
          [0x91, 0xc1],
          [0x91, 0x93, 0x01, 0xa1, 0x78, 0xc7, 0x02, 0x01, 0x00, 0x00],
        ]),
      );
    case 6:
      return packr.pack(prng.pick([42, 'frame', {}, [], null, [[1, 'ping']], [[-1, 'ping', {}]]]));
    case 7:
      return packr.pack([[prng.pick([-1, 1.5, 0x1_0000_0000, 'id', null]), 'ping', {}]]);
    case 8:
      return packr.pack([[1, 7, {}]]);
    case 9:
      return packr.pack(Array.from({ length: 1_025 }, (_, index) => [index, 'ping', {}]));
    default:
      return prng.chance(0.5) ? 'text frame' : JSON.stringify([[1, 'ping', {}]]);
  }
}

/** An HTTP body that no route should accept as a valid change to existing stock. */
export function hostileBody(prng: Prng): string | Buffer {
  switch (prng.int(7)) {
    case 0:
      return Buffer.from(Array.from({ length: prng.range(1, 300) }, () => prng.int(256)));
    case 1: {
      const text = JSON.stringify(hostileArgs(prng, 'x'));
      return text.slice(0, prng.range(0, text.length - 1));
    }
    case 2:
      return `${'['.repeat(prng.range(100, 20_000))}${']'.repeat(prng.range(0, 100))}`;
    case 3:
      return prng.pick(['{"qty": NaN}', '{"qty": 1e400}', '{"lat": -Infinity}', '{,}', 'nul']);
    case 4:
      return JSON.stringify(junkValue(prng, 4));
    case 5:
      return '';
    default:
      return JSON.stringify(hostileArgs(prng, 'x'));
  }
}

/** What a hostile HTTP connection aims at: paths and keys that the node under test serves. */
export interface HttpStormTargets {
  readerKey: string;
  ordererKey: string;
  /** A valid availability path with its query, whose answer is large (several KiB). */
  availabilityPath: string;
  /** Where orders are placed, and a SKU with stock enough for every order of the storm. */
  location: { lat: number; lng: number };
  orderSku: string;
}

/** One raw connection of a storm: what it writes, and how and when it goes away. */
export interface HostileHttpConnection {
  /** Written in order, one `write` each, so that requests straddle TCP segments. */
  writes: Buffer[];
  /**
   * Reset once this many bytes of answers arrived (0: at the first byte); null: never read,
   * and reset after `resetAfterMs` while the node may still be writing answers.
   */
  resetAfterBytes: number | null;
  resetAfterMs: number;
  /** True: a TCP reset (`resetAndDestroy`); false: `destroy`, a close that may send FIN. */
  hard: boolean;
}

/** Requests one storm connection pipelines at most. */
export const STORM_REQUESTS_PER_CONNECTION_MAX = 48;
/** Declared length of a refused body that a storm connection sends only a part of. */
export const STORM_OVERSIZED_BODY_BYTES = 4 * 1024 * 1024;

function httpRequestBytes(
  method: string,
  path: string,
  key: string,
  body: Buffer | null,
  declaredLength = body === null ? null : body.length,
): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'host: storm', `authorization: Bearer ${key}`];
  if (declaredLength !== null) {
    lines.push('content-type: application/json', `content-length: ${declaredLength}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === null ? head : Buffer.concat([head, body]);
}

/**
 * One complete request: valid reads (large answers), valid holds (answered only once durable,
 * so the answer is pending when later requests arrive), refused bodies, a wrong method.
 */
function completeStormRequest(prng: Prng, targets: HttpStormTargets): Buffer {
  switch (prng.int(6)) {
    case 0:
    case 1:
      return httpRequestBytes('GET', targets.availabilityPath, targets.readerKey, null);
    case 2: {
      const order = {
        orderId: hostileId(prng),
        location: targets.location,
        lines: [{ sku: targets.orderSku, qty: 1 }],
        mode: 'hold',
        ttlSeconds: 30,
      };
      return httpRequestBytes(
        'POST',
        '/v1/orders',
        targets.ordererKey,
        Buffer.from(JSON.stringify(order)),
      );
    }
    case 3: {
      const body = hostileBody(prng);
      return httpRequestBytes(
        'POST',
        '/v1/orders',
        targets.ordererKey,
        typeof body === 'string' ? Buffer.from(body) : body,
      );
    }
    case 4:
      return httpRequestBytes('GET', '/healthz', targets.readerKey, null);
    default:
      return httpRequestBytes('DELETE', '/v1/availability', targets.readerKey, null);
  }
}

/** A request whose body stops short of its length: it can only end a pipeline. */
function unfinishedStormRequest(prng: Prng, targets: HttpStormTargets): Buffer {
  if (prng.chance(0.5)) {
    const body = Buffer.from(JSON.stringify(hostileArgs(prng, 'placeOrder')));
    const sent = body.subarray(0, prng.range(0, Math.max(0, body.length - 1)));
    return httpRequestBytes('POST', '/v1/orders', targets.ordererKey, sent, body.length + 1);
  }
  const sent = Buffer.alloc(prng.range(0, 256 * 1024), 0x20);
  return httpRequestBytes(
    'POST',
    '/v1/orders',
    targets.ordererKey,
    sent,
    STORM_OVERSIZED_BODY_BYTES,
  );
}

/**
 * A connection that pipelines up to STORM_REQUESTS_PER_CONNECTION_MAX requests, maybe ending
 * with an unfinished body, split at random points, then resets or closes mid-answer.
 */
export function hostileHttpConnection(
  prng: Prng,
  targets: HttpStormTargets,
): HostileHttpConnection {
  const requests: Buffer[] = [];
  const count = prng.range(1, STORM_REQUESTS_PER_CONNECTION_MAX);
  for (let index = 0; index < count; index++) requests.push(completeStormRequest(prng, targets));
  if (prng.chance(0.3)) requests.push(unfinishedStormRequest(prng, targets));
  const bytes = Buffer.concat(requests);
  const cuts = Array.from({ length: prng.int(4) }, () => prng.int(bytes.length)).sort(
    (a, b) => a - b,
  );
  const writes: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) writes.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return {
    writes,
    resetAfterBytes: prng.chance(0.5) ? null : prng.int(64 * 1024),
    resetAfterMs: prng.range(0, 300),
    hard: prng.chance(0.7),
  };
}
