/**
 * A JSON writer for the one large answer the HTTP API serves at volume: availability, with its
 * per-DC breakdown (`{ skus: { <id>: { available, etaMinutes, dcs: [{ dc, available,
 * etaMinutes }], unknown? } }, dcsInRange }`), and the same answer in `form=columns` (`{ dcs,
 * dcEtaMinutes, available, etaMinutes, perDc }`, see `columnsForm`). It writes UTF-8 bytes
 * straight into a buffer allocated once per thread, about twice as fast as `JSON.stringify` on
 * the first shape (median CPU time for a 20-SKU, 6-DC answer of 5.4 KB on the 2-core
 * development machine: 28 µs against 50 µs), and uWS takes the bytes without the
 * string-to-UTF-8 conversion a string needs.
 *
 * Invariants: the bytes written are exactly those of `JSON.stringify(value)`, or nothing: the
 * writer walks each object's own keys in their order, knows how to write each key it expects,
 * and gives up (returns null, and the caller uses `JSON.stringify`) on anything else: an
 * unknown key, a value of another type, an object that is not plain, a string needing escapes
 * or not ASCII, or an answer larger than the buffer. (It takes `Object.prototype` to have no
 * enumerable keys, as nothing in the process adds any.) The returned view is borrowed: it is
 * valid until the writer's next call, so it must be written or copied before then.
 */

import { type AvailabilityColumns, ID_BYTES_MAX } from '../protocol/index.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOT = 0x2e;
const MINUS = 0x2d;
const ZERO = 0x30;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;
/** The first code unit that is not printable ASCII (DEL), and the first printable one. */
const ASCII_END = 0x7f;
const PRINTABLE_START = 0x20;

/**
 * Bytes written at most between two room checks: a DC entry or a SKU's opening, with ids of
 * at most ID_BYTES_MAX characters and numbers of at most 24.
 */
const ENTRY_BYTES_MAX = 512;

/**
 * Integers below this are written digit by digit; JavaScript prints larger ones the same way
 * only up to 1e21, so the bound keeps well inside.
 */
const INTEGER_FAST_MAX = 1e15;
const INT32_MAX = 0x7fffffff;
/** DCs of one answer the typed path prepares texts for; an answer with more takes the object path. */
const DC_FRAGMENTS_MAX = 64;

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

const KEY_SKUS = bytesOf('"skus":');
const KEY_DCS_IN_RANGE = bytesOf('"dcsInRange":');
const KEY_AVAILABLE = bytesOf('"available":');
const KEY_ETA = bytesOf('"etaMinutes":');
const KEY_DCS = bytesOf('"dcs":');
const KEY_DC = bytesOf('"dc":');
const KEY_UNKNOWN = bytesOf('"unknown":');
/** Fragments of the typed path, in the object path's key order. */
const KEY_SKU_OPEN = bytesOf(':{"available":');
const KEY_ETA_AFTER = bytesOf(',"etaMinutes":');
const KEY_DCS_AFTER = bytesOf(',"dcs":[');
const KEY_DC_OPEN = bytesOf('{"dc":');
const KEY_DC_AVAILABLE = bytesOf(',"available":');
const KEY_UNKNOWN_TRUE = bytesOf(',"unknown":true');
const NULL = bytesOf('null');
/** The `form=columns` answer's keys, each with what separates it from the column before. */
const KEY_COLUMNS_DCS = bytesOf('{"dcs":[');
const KEY_COLUMNS_DC_ETA = bytesOf('],"dcEtaMinutes":[');
const KEY_COLUMNS_AVAILABLE = bytesOf('],"available":[');
const KEY_COLUMNS_ETA = bytesOf('],"etaMinutes":[');
const KEY_COLUMNS_PER_DC = bytesOf('],"perDc":[');
const KEY_COLUMNS_PER_DC_NONE = bytesOf('],"perDc":null');
/** The `form=columns` answer's bytes besides its ids and numbers: keys and brackets. */
const COLUMNS_FIXED_BYTES = 128;
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');

/** Marks a failed write; every write function returns the next offset or this. */
const GAVE_UP = -1;

export class AvailabilityJsonWriter {
  private readonly bytes: Buffer;
  /** The typed path's per-answer DC texts (prepareDcs), and views of them per DC. */
  private readonly frame = new Uint8Array(DC_FRAGMENTS_MAX * ENTRY_BYTES_MAX);
  private readonly dcHeads: Uint8Array[] = new Array(DC_FRAGMENTS_MAX);
  private readonly dcTails: Uint8Array[] = new Array(DC_FRAGMENTS_MAX);
  /** Past this offset a next entry might not fit: the writer gives up instead. */
  private readonly roomEnd: number;

  constructor(bytesMax: number) {
    this.bytes = Buffer.allocUnsafe(bytesMax);
    this.roomEnd = bytesMax - ENTRY_BYTES_MAX;
  }

  /** The JSON of an availability answer, borrowed (see the file's invariants), or null. */
  availability(value: unknown): Uint8Array | null {
    if (!isPlain(value)) return null;
    let at = 0;
    this.bytes[at++] = OPEN_BRACE;
    let first = true;
    let skus = false;
    for (const key in value) {
      if (at > this.roomEnd) return null;
      if (!first) this.bytes[at++] = COMMA;
      first = false;
      if (key === 'skus') {
        skus = true;
        at = this.skuMap((value as { skus?: unknown }).skus, this.put(KEY_SKUS, at));
      } else if (key === 'dcsInRange') {
        const count = (value as { dcsInRange?: unknown }).dcsInRange;
        at = this.number(count, this.put(KEY_DCS_IN_RANGE, at));
      } else {
        return null;
      }
      if (at === GAVE_UP) return null;
    }
    if (!skus) return null;
    this.bytes[at++] = CLOSE_BRACE;
    return this.bytes.subarray(0, at);
  }

  /**
   * The same JSON, written from the typed answer of one query (protocol v2's availability
   * columns, `skus` the ids asked for, in order) instead of from the answer object: no object
   * per SKU or DC is made or walked. Null where the object's key order or contents would
   * differ from request order (a repeated id, an id JavaScript orders as an array index), or
   * where the plain writer would give up; the caller then takes the object path.
   */
  columns(answer: AvailabilityColumns, skus: readonly string[]): Uint8Array | null {
    if (!keysKeepRequestOrder(skus)) return null;
    const dcCount = readI32(answer.dcCounts, 0);
    const dcIds = answer.dcs;
    const dcIndex = answer.dcIndex;
    const dcEta = answer.dcEtaTenths;
    const available = answer.available;
    const eta = answer.etaTenths;
    const perDc = answer.perDc ?? null;
    if (perDc !== null && !this.prepareDcs(dcCount, dcIds, dcIndex, dcEta)) return null;
    const bytes = this.bytes;
    let at = this.put(KEY_SKUS, 1);
    bytes[0] = OPEN_BRACE;
    bytes[at++] = OPEN_BRACE;
    for (let sku = 0; sku < skus.length; sku++) {
      if (at > this.roomEnd) return null;
      if (sku > 0) bytes[at++] = COMMA;
      at = this.string(skus[sku], at);
      if (at === GAVE_UP) return null;
      const total = readI32(available, sku);
      at = this.put(KEY_SKU_OPEN, at);
      at = this.digits(Math.max(total, 0), at);
      at = this.put(KEY_ETA_AFTER, at);
      at = this.tenths(readI32(eta, sku), at);
      at = this.put(KEY_DCS_AFTER, at);
      if (perDc !== null) {
        const row = sku * dcCount;
        let first = true;
        for (let hit = 0; hit < dcCount; hit++) {
          const units = readI32(perDc, row + hit);
          if (units === 0) continue;
          if (at > this.roomEnd) return null;
          if (!first) bytes[at++] = COMMA;
          first = false;
          at = this.copyFragment(this.dcHeads[hit], at);
          at = this.digits(units, at);
          at = this.copyFragment(this.dcTails[hit], at);
        }
      }
      bytes[at++] = CLOSE_BRACKET;
      if (total < 0) at = this.put(KEY_UNKNOWN_TRUE, at);
      bytes[at++] = CLOSE_BRACE;
    }
    bytes[at++] = CLOSE_BRACE;
    bytes[at++] = COMMA;
    at = this.digits(dcCount, this.put(KEY_DCS_IN_RANGE, at));
    bytes[at++] = CLOSE_BRACE;
    return bytes.subarray(0, at);
  }

  /**
   * The `form=columns` JSON of one query's typed answer for `skuCount` SKUs, borrowed like
   * the others: `{ dcs, dcEtaMinutes, available, etaMinutes, perDc }`, exactly `JSON.stringify`
   * of `availabilityColumnsBody(answer, skuCount)`. Null where a DC id needs escapes or the
   * answer would not fit; the caller then stringifies that body.
   */
  columnsForm(answer: AvailabilityColumns, skuCount: number): Uint8Array | null {
    const bytes = this.bytes;
    const dcCount = readI32(answer.dcCounts, 0);
    const perDc = answer.perDc ?? null;
    // Every number written is at most 11 bytes and a comma; ids at most ID_BYTES_MAX and 3.
    const numbers = dcCount * 2 + skuCount * 2 + (perDc === null ? 0 : skuCount * dcCount);
    const bound = COLUMNS_FIXED_BYTES + dcCount * (ID_BYTES_MAX + 3) + numbers * 12;
    if (bound > bytes.length) return null;
    let at = this.put(KEY_COLUMNS_DCS, 0);
    for (let hit = 0; hit < dcCount; hit++) {
      if (hit > 0) bytes[at++] = COMMA;
      at = this.string(answer.dcs[readI32(answer.dcIndex, hit)], at);
      if (at === GAVE_UP) return null;
    }
    at = this.tenthsList(answer.dcEtaTenths, dcCount, this.put(KEY_COLUMNS_DC_ETA, at));
    at = this.countList(answer.available, skuCount, this.put(KEY_COLUMNS_AVAILABLE, at));
    at = this.tenthsList(answer.etaTenths, skuCount, this.put(KEY_COLUMNS_ETA, at));
    if (perDc === null) {
      at = this.put(KEY_COLUMNS_PER_DC_NONE, at);
    } else {
      at = this.countList(perDc, skuCount * dcCount, this.put(KEY_COLUMNS_PER_DC, at));
      bytes[at++] = CLOSE_BRACKET;
    }
    bytes[at++] = CLOSE_BRACE;
    return bytes.subarray(0, at);
  }

  /** The first `count` values of an int32 column, comma separated: units, or -1 (unknown). */
  private countList(column: Uint8Array, count: number, start: number): number {
    const bytes = this.bytes;
    let at = start;
    for (let index = 0; index < count; index++) {
      if (index > 0) bytes[at++] = COMMA;
      const value = readI32(column, index);
      if (value < 0) {
        bytes[at++] = MINUS;
        at = this.digits(-value, at);
      } else {
        at = this.digits(value, at);
      }
    }
    return at;
  }

  /** The first `count` ETAs of a tenths column, comma separated, as JSON writes minutes. */
  private tenthsList(column: Uint8Array, count: number, start: number): number {
    let at = start;
    for (let index = 0; index < count; index++) {
      if (index > 0) this.bytes[at++] = COMMA;
      at = this.tenths(readI32(column, index), at);
    }
    return at;
  }

  /**
   * Each DC of the answer's entry text around its units, once per answer rather than once per
   * SKU: `{"dc":"<id>","available":` and `,"etaMinutes":<eta>}`. False when an id needs escapes.
   */
  private prepareDcs(
    dcCount: number,
    dcIds: readonly string[],
    dcIndex: Uint8Array,
    dcEta: Uint8Array,
  ): boolean {
    if (dcCount > DC_FRAGMENTS_MAX) return false;
    const frame = this.frame;
    let at = 0;
    for (let hit = 0; hit < dcCount; hit++) {
      const head = at;
      at = writeFragment(frame, KEY_DC_OPEN, at);
      at = writeString(frame, dcIds[readI32(dcIndex, hit)], at);
      if (at === GAVE_UP) return false;
      at = writeFragment(frame, KEY_DC_AVAILABLE, at);
      this.dcHeads[hit] = frame.subarray(head, at);
      const tail = at;
      at = writeFragment(frame, KEY_ETA_AFTER, at);
      at = writeTenths(frame, readI32(dcEta, hit), at);
      frame[at++] = CLOSE_BRACE;
      this.dcTails[hit] = frame.subarray(tail, at);
    }
    return true;
  }

  /** A prepared DC text: long enough that one native copy beats a loop (measured). */
  private copyFragment(fragment: Uint8Array, start: number): number {
    this.bytes.set(fragment, start);
    return start + fragment.length;
  }

  private tenths(value: number, start: number): number {
    return writeTenths(this.bytes, value, start);
  }

  private skuMap(skus: unknown, start: number): number {
    if (!isPlain(skus)) return GAVE_UP;
    let at = start;
    this.bytes[at++] = OPEN_BRACE;
    let first = true;
    for (const id in skus) {
      if (at > this.roomEnd) return GAVE_UP;
      if (!first) this.bytes[at++] = COMMA;
      first = false;
      at = this.string(id, at);
      if (at === GAVE_UP) return GAVE_UP;
      this.bytes[at++] = COLON;
      at = this.skuEntry((skus as Record<string, unknown>)[id], at);
      if (at === GAVE_UP) return GAVE_UP;
    }
    this.bytes[at++] = CLOSE_BRACE;
    return at;
  }

  private skuEntry(entry: unknown, start: number): number {
    if (!isPlain(entry)) return GAVE_UP;
    const value = entry as { available?: unknown; etaMinutes?: unknown; dcs?: unknown };
    let at = start;
    this.bytes[at++] = OPEN_BRACE;
    let first = true;
    for (const key in entry) {
      if (!first) this.bytes[at++] = COMMA;
      first = false;
      switch (key) {
        case 'available':
          at = this.number(value.available, this.put(KEY_AVAILABLE, at));
          break;
        case 'etaMinutes':
          at = this.number(value.etaMinutes, this.put(KEY_ETA, at));
          break;
        case 'dcs':
          at = this.dcList(value.dcs, this.put(KEY_DCS, at));
          break;
        case 'unknown':
          at = this.boolean((entry as { unknown?: unknown }).unknown, this.put(KEY_UNKNOWN, at));
          break;
        default:
          return GAVE_UP;
      }
      if (at === GAVE_UP) return GAVE_UP;
    }
    this.bytes[at++] = CLOSE_BRACE;
    return at;
  }

  private dcList(list: unknown, start: number): number {
    if (!Array.isArray(list)) return GAVE_UP;
    let at = start;
    this.bytes[at++] = OPEN_BRACKET;
    for (let index = 0; index < list.length; index++) {
      if (at > this.roomEnd) return GAVE_UP;
      if (index > 0) this.bytes[at++] = COMMA;
      at = this.dcEntry(list[index], at);
      if (at === GAVE_UP) return GAVE_UP;
    }
    this.bytes[at++] = CLOSE_BRACKET;
    return at;
  }

  private dcEntry(entry: unknown, start: number): number {
    if (!isPlain(entry)) return GAVE_UP;
    const value = entry as { dc?: unknown; available?: unknown; etaMinutes?: unknown };
    let at = start;
    this.bytes[at++] = OPEN_BRACE;
    let first = true;
    for (const key in entry) {
      if (!first) this.bytes[at++] = COMMA;
      first = false;
      switch (key) {
        case 'dc':
          if (typeof value.dc !== 'string') return GAVE_UP;
          at = this.string(value.dc, this.put(KEY_DC, at));
          break;
        case 'available':
          at = this.number(value.available, this.put(KEY_AVAILABLE, at));
          break;
        case 'etaMinutes':
          at = this.number(value.etaMinutes, this.put(KEY_ETA, at));
          break;
        default:
          return GAVE_UP;
      }
      if (at === GAVE_UP) return GAVE_UP;
    }
    this.bytes[at++] = CLOSE_BRACE;
    return at;
  }

  private put(fragment: Uint8Array, start: number): number {
    return writeFragment(this.bytes, fragment, start);
  }

  private string(text: string, start: number): number {
    return writeString(this.bytes, text, start);
  }

  private boolean(value: unknown, at: number): number {
    if (typeof value !== 'boolean') return GAVE_UP;
    return this.put(value ? TRUE : FALSE, at);
  }

  /**
   * A number as `JSON.stringify` writes it, or null. Integers and numbers with one decimal
   * (ETAs are rounded to tenths) are written digit by digit; any other number as `String`
   * writes it, which is what JSON does for finite numbers.
   */
  private number(value: unknown, start: number): number {
    if (value === null) return this.put(NULL, start);
    if (typeof value !== 'number') return GAVE_UP;
    if (!Number.isFinite(value)) return this.put(NULL, start);
    if (value >= 0 && value < INTEGER_FAST_MAX) {
      if (Number.isInteger(value)) return this.digits(value, start);
      const tenths = Math.round(value * 10);
      // Exactly k/10: the shortest text that reads back as this double is the one-decimal one.
      if (tenths / 10 === value) {
        let at = this.digits(Math.floor(tenths / 10), start);
        this.bytes[at++] = DOT;
        this.bytes[at++] = ZERO + (tenths % 10);
        return at;
      }
    }
    return start + this.bytes.write(String(value), start, 'latin1');
  }

  private digits(value: number, start: number): number {
    return writeDigits(this.bytes, value, start);
  }
}

function writeFragment(bytes: Uint8Array, fragment: Uint8Array, start: number): number {
  const length = fragment.length;
  for (let index = 0; index < length; index++) bytes[start + index] = fragment[index];
  return start + length;
}

/** A string of printable ASCII other than `"` and `\`, which JSON writes as it is. */
function writeString(bytes: Uint8Array, text: string, start: number): number {
  // Ids are at most ID_BYTES_MAX; a longer string could pass the room ENTRY_BYTES_MAX leaves.
  if (text.length > ID_BYTES_MAX) return GAVE_UP;
  let at = start;
  bytes[at++] = QUOTE;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < PRINTABLE_START || code >= ASCII_END || code === QUOTE || code === BACKSLASH) {
      return GAVE_UP;
    }
    bytes[at++] = code;
  }
  bytes[at++] = QUOTE;
  return at;
}

/**
 * A non-negative integer below INTEGER_FAST_MAX, in decimal. Counts (most below 1,000) take
 * the short branches; int32 values divide as integers, larger ones as doubles.
 */
function writeDigits(bytes: Uint8Array, value: number, start: number): number {
  if (value < 10) {
    bytes[start] = ZERO + value;
    return start + 1;
  }
  if (value < 100) {
    const tens = (value / 10) | 0;
    bytes[start] = ZERO + tens;
    bytes[start + 1] = ZERO + value - tens * 10;
    return start + 2;
  }
  let count = 3;
  for (let power = 1000; power <= value; power *= 10) count++;
  let rest = value;
  if (value <= INT32_MAX) {
    for (let index = count - 1; index >= 0; index--) {
      const next = (rest / 10) | 0;
      bytes[start + index] = ZERO + rest - next * 10;
      rest = next;
    }
  } else {
    for (let index = count - 1; index >= 0; index--) {
      bytes[start + index] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    }
  }
  return start + count;
}

/** An ETA in tenths of a minute as JSON writes tenths / 10; ETA_NONE (-1) as null. */
function writeTenths(bytes: Uint8Array, value: number, start: number): number {
  if (value < 0) return writeFragment(bytes, NULL, start);
  let at = writeDigits(bytes, Math.floor(value / 10), start);
  const tenth = value % 10;
  if (tenth !== 0) {
    bytes[at++] = DOT;
    bytes[at++] = ZERO + tenth;
  }
  return at;
}

/** Little-endian int32 number `index` of a column's bytes (any alignment). */
function readI32(bytes: Uint8Array, index: number): number {
  const at = index * 4;
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

/** The body of a `form=columns` availability answer: see `columnsForm`, which writes it. */
export interface AvailabilityColumnsBody {
  /** The DCs that deliver to the location within the window, nearest first. */
  dcs: string[];
  /** Each such DC's ETA to the location, in minutes (tenths). */
  dcEtaMinutes: (number | null)[];
  /** Per SKU asked, in request order: the units free across the DCs; -1 for an unknown SKU. */
  available: number[];
  /** Per SKU: the best ETA among the DCs that have it; null when none has it. */
  etaMinutes: (number | null)[];
  /** Per SKU, a row of one count per DC (0 where none); null with `breakdown=false`. */
  perDc: number[] | null;
}

/** The `form=columns` body of one query's typed answer for `skuCount` SKUs. */
export function availabilityColumnsBody(
  answer: AvailabilityColumns,
  skuCount: number,
): AvailabilityColumnsBody {
  const dcCount = readI32(answer.dcCounts, 0);
  const dcs: string[] = new Array(dcCount);
  const dcEtaMinutes: (number | null)[] = new Array(dcCount);
  for (let hit = 0; hit < dcCount; hit++) {
    dcs[hit] = answer.dcs[readI32(answer.dcIndex, hit)];
    dcEtaMinutes[hit] = minutesOf(readI32(answer.dcEtaTenths, hit));
  }
  const available: number[] = new Array(skuCount);
  const etaMinutes: (number | null)[] = new Array(skuCount);
  for (let sku = 0; sku < skuCount; sku++) {
    available[sku] = readI32(answer.available, sku);
    etaMinutes[sku] = minutesOf(readI32(answer.etaTenths, sku));
  }
  let perDc: number[] | null = null;
  if (answer.perDc) {
    const cells = skuCount * dcCount;
    perDc = new Array(cells);
    for (let cell = 0; cell < cells; cell++) perDc[cell] = readI32(answer.perDc, cell);
  }
  return { dcs, dcEtaMinutes, available, etaMinutes, perDc };
}

/** An ETA in tenths of a minute as minutes; ETA_NONE (-1) as null, as writeTenths writes it. */
function minutesOf(tenths: number): number | null {
  return tenths < 0 ? null : tenths / 10;
}

/** Canonical array-index strings: an object puts these keys first, in numeric order. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
const ARRAY_INDEX_END = 2 ** 32 - 1;
/** Up to this many ids, repeats are looked for pairwise; past it with a Set. */
const PAIRWISE_MAX = 32;

/**
 * Whether an object keyed by `ids`, built in order, keeps them in that order with each once:
 * no repeats, and no id JavaScript treats as an array index.
 */
function keysKeepRequestOrder(ids: readonly string[]): boolean {
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index];
    const first = id.charCodeAt(0);
    if (
      first >= ZERO &&
      first <= ZERO + 9 &&
      ARRAY_INDEX.test(id) &&
      Number(id) < ARRAY_INDEX_END
    ) {
      return false;
    }
  }
  if (ids.length <= PAIRWISE_MAX) {
    for (let index = 1; index < ids.length; index++) {
      for (let other = 0; other < index; other++) if (ids[other] === ids[index]) return false;
    }
    return true;
  }
  return new Set(ids).size === ids.length;
}

/**
 * An object `JSON.stringify` serializes as its own enumerable keys: a plain or null-prototype
 * object without a `toJSON` method. (A `toJSON` key holding anything else is an unknown key
 * to the writer, which gives up on it.)
 */
function isPlain(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  return typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}
