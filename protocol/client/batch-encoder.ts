/**
 * Writes the args of the SDK's column requests (`placeOrders`, `availabilityMany`) straight
 * into MessagePack bytes, byte for byte what the codec's msgpackr writes for the same args
 * (map16 maps, smallest integers, float 64, str8 from 32 bytes; tests compare the two). It
 * exists for speed: SKU ids repeat from request to request, so each one's MessagePack form is
 * kept and copied, and an id found there is known valid; columns are written in place, with
 * no typed array or string array per request.
 *
 * Invariants:
 * - The output of `placeOrders` / `availabilityMany` is a fresh copy: the scratch buffer is
 *   reused by the next call at once.
 * - The SKU cache holds only ids that pass `isValidId`, each with exactly its encoding; it is
 *   bounded (SKU_IDS_CACHED_MAX) and emptied when full.
 * - Numbers in columns are little-endian (the wire's column rule); MessagePack's own floats
 *   and integers are big-endian.
 * - With the connection's SKU table (sku-refs.ts), `availabilityMany` and `placeOrders` write
 *   `skuRefs` and the definitions of the refs the node may lack instead of `skus`; when the
 *   table is full they write `skus`, byte for byte as without a table.
 */

import { writeUint } from '../msgpack-head.js';
import { isValidId } from '../validate.js';
import type { AvailabilityQuery } from './availability-batch.js';
import type { OrderOptions, PlaceOrderInput } from './order-batch.js';
import type { SkuRefs } from './sku-refs.js';
import { StringTable } from './string-table.js';

/** SKU ids whose encoding is kept; past this the cache starts again empty. */
export const SKU_IDS_CACHED_MAX = 65_536;

/** The first scratch buffer; it doubles as requests need, up to the largest frame. */
const SCRATCH_BYTES_INITIAL = 64 * 1024;

const TEXT = new TextEncoder();

function encodedString(value: string): Uint8Array {
  const utf8 = TEXT.encode(value);
  const length = utf8.length;
  const header = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  const out = new Uint8Array(header + length);
  if (header === 1) out[0] = 0xa0 | length;
  else if (header === 2) {
    out[0] = 0xd9;
    out[1] = length;
  } else if (header === 3) {
    out[0] = 0xda;
    out[1] = length >> 8;
    out[2] = length & 0xff;
  } else {
    out[0] = 0xdb;
    new DataView(out.buffer).setUint32(1, length);
  }
  out.set(utf8, header);
  return out;
}

/** The MessagePack forms of the keys and op values the requests use. */
const KEYS = {
  orders: encodedString('orders'),
  orderIds: encodedString('orderIds'),
  lat: encodedString('lat'),
  lng: encodedString('lng'),
  lineCounts: encodedString('lineCounts'),
  skus: encodedString('skus'),
  qty: encodedString('qty'),
  mode: encodedString('mode'),
  policy: encodedString('policy'),
  ttlSeconds: encodedString('ttlSeconds'),
  maxMinutes: encodedString('maxMinutes'),
  queries: encodedString('queries'),
  skuCounts: encodedString('skuCounts'),
  breakdown: encodedString('breakdown'),
  skuRefs: encodedString('skuRefs'),
  defineRefs: encodedString('defineRefs'),
  defineSkus: encodedString('defineSkus'),
} as const;

const VALUES: Readonly<Record<string, Uint8Array>> = {
  hold: encodedString('hold'),
  commit: encodedString('commit'),
  'single-dc': encodedString('single-dc'),
  split: encodedString('split'),
};

const NIL_FALSE = 0xc2;
/** What BatchEncoder's SKU id scratch holds between requests. */
const NO_SKU = '';

export class BatchEncoder {
  private bytes: Uint8Array = new Uint8Array(SCRATCH_BYTES_INITIAL);
  private view = new DataView(this.bytes.buffer);
  private at = 0;
  private readonly skuForms = new StringTable<Uint8Array>();
  private defineScratch = new Int32Array(0);
  /** The SKU ids of the request being written, in order; NO_SKU otherwise. */
  private readonly skuIds: string[] = [];

  /**
   * Whether every id of `skus` is a valid SKU id, remembering each one's encoding. Lists are not
   * remembered by identity: callers build a fresh list per query, and keeping each one (a
   * WeakMap entry, a copy of its ids and bytes) cost 7 µs a query against 0.4 µs for checking
   * 20 ids whose encodings are known.
   */
  readonly areCarriedSkus = (skus: readonly unknown[]): boolean => {
    for (let at = 0; at < skus.length; at++) if (!this.isCarriedSku(skus[at])) return false;
    return true;
  };

  /** Whether `id` is a valid SKU id, remembering its encoding when it is. */
  readonly isCarriedSku = (id: unknown): boolean => {
    if (typeof id !== 'string') return false;
    if (this.skuForms.has(id)) return true;
    if (!isValidId(id)) return false;
    if (this.skuForms.size >= SKU_IDS_CACHED_MAX) this.skuForms.clear();
    this.skuForms.set(id, encodedString(id));
    return true;
  };

  /**
   * The `placeOrders` args of `count` carried orders (`orderAt(entry)` in request order,
   * `lineTotal` lines in all), as MessagePack bytes; with `refs`, the lines' SKUs by ref (see
   * `availabilityMany`).
   */
  placeOrders(
    count: number,
    lineTotal: number,
    options: OrderOptions,
    orderAt: (entry: number) => PlaceOrderInput,
    refs: SkuRefs | null = null,
  ): Uint8Array {
    this.defined = null;
    this.at = 0;
    const optional =
      (options.policy !== undefined ? 1 : 0) +
      (options.ttlSeconds !== undefined ? 1 : 0) +
      (options.maxMinutes !== undefined ? 1 : 0);
    this.mapHeader(8 + optional);
    this.raw(KEYS.orders);
    this.uint(count);
    this.raw(KEYS.orderIds);
    this.arrayHeader(count);
    for (let entry = 0; entry < count; entry++) this.string(orderAt(entry).orderId);
    this.raw(KEYS.lat);
    this.binHeader(count * 8);
    for (let entry = 0; entry < count; entry++) this.f64(orderAt(entry).location.lat);
    this.raw(KEYS.lng);
    this.binHeader(count * 8);
    for (let entry = 0; entry < count; entry++) this.f64(orderAt(entry).location.lng);
    this.raw(KEYS.lineCounts);
    this.binHeader(count * 4);
    for (let entry = 0; entry < count; entry++) this.i32(orderAt(entry).lines.length);
    const ids = this.skuIds;
    let written = 0;
    for (let entry = 0; entry < count; entry++) {
      const lines = orderAt(entry).lines;
      for (let line = 0; line < lines.length; line++) ids[written + line] = lines[line].sku;
      written += lines.length;
    }
    if (written !== lineTotal) throw new Error(`placeOrders: ${written} lines, ${lineTotal} said`);
    this.skus(lineTotal, refs);
    this.raw(KEYS.qty);
    this.binHeader(lineTotal * 4);
    for (let entry = 0; entry < count; entry++) {
      const lines = orderAt(entry).lines;
      for (let line = 0; line < lines.length; line++) this.i32(lines[line].qty);
    }
    this.raw(KEYS.mode);
    this.raw(VALUES[options.mode]);
    if (options.policy !== undefined) {
      this.raw(KEYS.policy);
      this.raw(VALUES[options.policy]);
    }
    if (options.ttlSeconds !== undefined) {
      this.raw(KEYS.ttlSeconds);
      this.number(options.ttlSeconds);
    }
    if (options.maxMinutes !== undefined) {
      this.raw(KEYS.maxMinutes);
      this.number(options.maxMinutes);
    }
    return this.bytes.slice(0, this.at);
  }

  /**
   * The `availabilityMany` args of `count` carried queries, as MessagePack bytes; `skuCounts`
   * receives each query's SKU count (reading the answer needs them). With `refs` (the
   * connection's SKU table) the SKUs go as refs, with the definitions the node may lack, and
   * `defined` then holds the refs defined (null when none, or when the SKUs went as ids: the
   * table was full).
   */
  availabilityMany(
    count: number,
    skuTotal: number,
    maxMinutes: number | undefined,
    breakdown: boolean,
    queryAt: (entry: number) => AvailabilityQuery,
    skuCounts: Int32Array,
    refs: SkuRefs | null = null,
  ): Uint8Array {
    this.defined = null;
    this.at = 0;
    this.mapHeader(5 + (maxMinutes !== undefined ? 1 : 0) + (breakdown ? 0 : 1));
    this.raw(KEYS.queries);
    this.uint(count);
    this.raw(KEYS.lat);
    this.binHeader(count * 8);
    for (let entry = 0; entry < count; entry++) this.f64(queryAt(entry).lat);
    this.raw(KEYS.lng);
    this.binHeader(count * 8);
    for (let entry = 0; entry < count; entry++) this.f64(queryAt(entry).lng);
    this.raw(KEYS.skuCounts);
    this.binHeader(count * 4);
    let written = 0;
    for (let entry = 0; entry < count; entry++) {
      const skus = queryAt(entry).skus.length;
      skuCounts[entry] = skus;
      written += skus;
      this.i32(skus);
    }
    if (written !== skuTotal)
      throw new Error(`availabilityMany: ${written} SKUs, ${skuTotal} said`);
    const ids = this.skuIds;
    written = 0;
    for (let entry = 0; entry < count; entry++) {
      const skus = queryAt(entry).skus;
      for (let sku = 0; sku < skus.length; sku++) ids[written + sku] = skus[sku];
      written += skus.length;
    }
    this.skus(skuTotal, refs);
    this.queryOptions(maxMinutes, breakdown);
    return this.bytes.slice(0, this.at);
  }

  /** The refs whose definitions the last `placeOrders` / `availabilityMany` carried, or null. */
  defined: Int32Array | null = null;

  /**
   * The SKUs gathered in `skuIds[0..total)`: by ref with `refs`, else (or when the table is
   * full) by id; `skuIds` is emptied after.
   */
  private skus(total: number, refs: SkuRefs | null): void {
    const ids = this.skuIds;
    const skusAt = this.at;
    if (refs === null || !this.skuRefColumns(total, refs)) {
      // No table, or it is full: the SKUs go by id (over whatever the refs wrote).
      this.at = skusAt;
      this.raw(KEYS.skus);
      this.arrayHeader(total);
      for (let at = 0; at < total; at++) this.sku(ids[at]);
    }
    ids.fill(NO_SKU, 0, total);
  }

  /**
   * `skuRefs` and the definitions the node may lack; false, with the map untouched, when the
   * table is full and some SKU has no ref.
   */
  private skuRefColumns(total: number, refs: SkuRefs): boolean {
    refs.begin();
    if (this.defineScratch.length < total) this.defineScratch = new Int32Array(total);
    const defines = this.defineScratch;
    const ids = this.skuIds;
    let defineCount = 0;
    this.raw(KEYS.skuRefs);
    this.binHeader(total * 4);
    for (let at = 0; at < total; at++) {
      const ref = refs.refOf(ids[at]);
      if (ref < 0) return false;
      this.i32(ref);
      if (refs.mustDefine(ref)) defines[defineCount++] = ref;
    }
    if (defineCount > 0) {
      this.raw(KEYS.defineRefs);
      this.binHeader(defineCount * 4);
      for (let at = 0; at < defineCount; at++) this.i32(defines[at]);
      this.raw(KEYS.defineSkus);
      this.arrayHeader(defineCount);
      for (let at = 0; at < defineCount; at++) this.sku(refs.idOf(defines[at]));
      // Two more entries in the args map, whose header (map16) opens the scratch.
      this.view.setUint16(1, this.view.getUint16(1) + 2);
      this.defined = defines.slice(0, defineCount);
    }
    return true;
  }

  /** The options after an `availabilityMany`'s SKUs. */
  private queryOptions(maxMinutes: number | undefined, breakdown: boolean): void {
    if (maxMinutes !== undefined) {
      this.raw(KEYS.maxMinutes);
      this.number(maxMinutes);
    }
    // The node's default is the breakdown; it is sent only to turn it off.
    if (!breakdown) {
      this.raw(KEYS.breakdown);
      this.ensure(1);
      this.bytes[this.at++] = NIL_FALSE;
    }
  }

  private ensure(more: number): void {
    if (this.at + more <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.at + more) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.at));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  private raw(form: Uint8Array): void {
    this.ensure(form.length);
    if (form.length < 16) {
      // Short forms (keys, ids) copy faster byte by byte than through a native call.
      for (let index = 0; index < form.length; index++) this.bytes[this.at + index] = form[index];
    } else this.bytes.set(form, this.at);
    this.at += form.length;
  }

  private sku(id: string): void {
    const form = this.skuForms.get(id);
    // A carried id was cached when it was checked, unless the cache started again since.
    this.raw(form ?? encodedString(id));
  }

  /** A string as msgpackr writes it: ASCII byte by byte, anything else through UTF-8. */
  private string(value: string): void {
    const length = value.length;
    if (length >= 0x100) {
      this.raw(encodedString(value));
      return;
    }
    const header = length < 0x20 ? 1 : 2;
    this.ensure(header + length);
    const bytes = this.bytes;
    const start = this.at;
    for (let index = 0; index < length; index++) {
      const unit = value.charCodeAt(index);
      if (unit >= 0x80) {
        this.raw(encodedString(value));
        return;
      }
      bytes[start + header + index] = unit;
    }
    if (header === 1) bytes[start] = 0xa0 | length;
    else {
      bytes[start] = 0xd9;
      bytes[start + 1] = length;
    }
    this.at = start + header + length;
  }

  /** `[id, op, args]` up to its args: the envelope a request's encoded args follow. */
  envelope(id: number, op: string): Uint8Array {
    this.at = 0;
    this.ensure(1);
    this.bytes[this.at++] = 0x93;
    this.uint(id);
    this.string(op);
    return this.bytes.slice(0, this.at);
  }

  /** The header of a frame of `count` requests. */
  frameHeader(count: number): Uint8Array {
    this.at = 0;
    this.arrayHeader(count);
    return this.bytes.slice(0, this.at);
  }

  private mapHeader(entries: number): void {
    this.ensure(3);
    this.bytes[this.at] = 0xde;
    this.view.setUint16(this.at + 1, entries);
    this.at += 3;
  }

  private arrayHeader(count: number): void {
    this.ensure(5);
    if (count < 16) this.bytes[this.at++] = 0x90 | count;
    else if (count < 0x10000) {
      this.bytes[this.at] = 0xdc;
      this.view.setUint16(this.at + 1, count);
      this.at += 3;
    } else {
      this.bytes[this.at] = 0xdd;
      this.view.setUint32(this.at + 1, count);
      this.at += 5;
    }
  }

  private binHeader(length: number): void {
    this.ensure(5 + length);
    if (length < 0x100) {
      this.bytes[this.at] = 0xc4;
      this.bytes[this.at + 1] = length;
      this.at += 2;
    } else if (length < 0x10000) {
      this.bytes[this.at] = 0xc5;
      this.view.setUint16(this.at + 1, length);
      this.at += 3;
    } else {
      this.bytes[this.at] = 0xc6;
      this.view.setUint32(this.at + 1, length);
      this.at += 5;
    }
  }

  /** A non-negative integer below 2^32, in its smallest form. */
  private uint(value: number): void {
    this.ensure(5);
    this.at = writeUint(this.bytes, this.view, this.at, value);
  }

  /** An option's number: an integer in its smallest form, anything else as float 64. */
  private number(value: number): void {
    if (value >>> 0 === value) {
      this.uint(value);
      return;
    }
    this.ensure(9);
    this.bytes[this.at] = 0xcb;
    this.view.setFloat64(this.at + 1, value);
    this.at += 9;
  }

  /** Column values: little-endian, inside a bin whose header is written. */
  private f64(value: number): void {
    this.view.setFloat64(this.at, value, true);
    this.at += 8;
  }

  private i32(value: number): void {
    this.view.setInt32(this.at, value, true);
    this.at += 4;
  }
}
