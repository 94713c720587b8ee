/**
 * A MessagePack writer for log records, written out by hand because records are appended on
 * every order: msgpackr's general encoder took about 2 µs for a `place` record, this one a
 * tenth of that. It writes the same plain MessagePack the readers expect (record.ts decodes
 * with msgpackr): maps with string keys, arrays, strings, booleans, nil and numbers.
 *
 * Encoding rules (chosen so any MessagePack reader gets the value back exactly):
 * - integers in the int32/uint32 range take the smallest integer form; other numbers, and
 *   integers beyond 32 bits (timestamps), are float 64, which holds every safe integer exactly;
 * - a key whose value is `undefined` is left out (as JSON does), so records never carry
 *   MessagePack extension types;
 * - strings are UTF-8, ASCII copied byte by byte, anything else through TextEncoder.
 *
 * Invariant: `encode` returns a borrowed view of the writer's buffer, valid until the next call
 * (the ring copies it at once). The buffer grows up to `bytesMax`; a value that would not fit
 * throws (a bug: the engine never builds such a record).
 */

import { writeArrayHead, writeMapHead, writeUint } from '../protocol/index.js';

const BYTES_INITIAL = 1024;
const UINT32_LIMIT = 0x1_0000_0000;

export class RecordWriter {
  private bytes: Uint8Array;
  private view: DataView;
  private at = 0;
  private readonly text = new TextEncoder();

  constructor(private readonly bytesMax: number) {
    this.bytes = new Uint8Array(Math.min(BYTES_INITIAL, bytesMax));
    this.view = new DataView(this.bytes.buffer);
  }

  /** Borrowed: valid until the next call. */
  encode(value: unknown): Uint8Array {
    this.at = 0;
    const record = value as { type?: unknown };
    if (record !== null && typeof record === 'object' && record.type === 'place') {
      this.place(value as PlaceFields);
    } else {
      this.value(value, 0);
    }
    return this.bytes.subarray(0, this.at);
  }

  /**
   * The record of every order, written field by field with its keys' bytes prepared once: the
   * same map the generic path writes (the fuzz test checks both), without walking the object.
   */
  private place(record: PlaceFields): void {
    // A place record is exactly its typed fields (engine/log.ts); one with a field missing or of
    // another type is left to the generic path.
    const allocation = record.allocation;
    const orderId = record.orderId;
    if (
      typeof record.at !== 'number' ||
      typeof record.mode !== 'number' ||
      typeof record.policy !== 'number' ||
      typeof record.lat !== 'number' ||
      typeof record.lng !== 'number' ||
      typeof record.etaMinutes !== 'number' ||
      typeof record.expiresAt !== 'number' ||
      typeof record.fingerprint !== 'number' ||
      typeof orderId !== 'string' ||
      !Array.isArray(allocation) ||
      !allNumbers(allocation)
    ) {
      this.value(record, 0);
      return;
    }
    // Room for the whole record at once: keys, the order id (3 bytes a UTF-16 unit at most, a
    // 5-byte header), 8 numbers and the allocation's, 9 bytes each at most, its array header.
    this.room(
      PLACE_KEY_BYTES + orderId.length * 3 + 5 + (8 + allocation.length) * NUMBER_BYTES_MAX + 5,
    );
    const bytes = this.bytes;
    const view = this.view;
    this.at = numberField(bytes, view, this.at, PLACE_HEAD, record.at as number);
    this.at = copyBytes(bytes, this.at, KEY_ORDER_ID_BYTES);
    this.string(orderId);
    let at = numberField(bytes, view, this.at, KEY_MODE_BYTES, record.mode as number);
    at = numberField(bytes, view, at, KEY_POLICY_BYTES, record.policy as number);
    at = numberField(bytes, view, at, KEY_LAT_BYTES, record.lat as number);
    at = numberField(bytes, view, at, KEY_LNG_BYTES, record.lng as number);
    at = numberField(bytes, view, at, KEY_ETA_BYTES, record.etaMinutes as number);
    at = numberField(bytes, view, at, KEY_EXPIRES_AT_BYTES, record.expiresAt as number);
    at = numberField(bytes, view, at, KEY_FINGERPRINT_BYTES, record.fingerprint as number);
    at = copyBytes(bytes, at, KEY_ALLOCATION_BYTES);
    at += writeArrayHead(bytes, at, allocation.length);
    for (let index = 0; index < allocation.length; index++) {
      at = writeNumber(bytes, view, at, allocation[index] as number);
    }
    this.at = at;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.bytes.length) return;
    const needed = this.at + bytes;
    if (needed > this.bytesMax) {
      throw new RangeError(`a log record would exceed ${this.bytesMax} bytes`);
    }
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(Math.min(size, this.bytesMax));
    grown.set(this.bytes.subarray(0, this.at));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  private value(value: unknown, depth: number): void {
    if (depth > VALUE_DEPTH_MAX) throw new RangeError('a log record nests too deep');
    switch (typeof value) {
      case 'number':
        this.number(value);
        return;
      case 'string':
        this.string(value);
        return;
      case 'boolean':
        this.room(1);
        this.bytes[this.at++] = value ? 0xc3 : 0xc2;
        return;
      case 'object':
        if (value === null) {
          this.room(1);
          this.bytes[this.at++] = 0xc0;
        } else if (Array.isArray(value)) {
          this.array(value, depth);
        } else {
          this.map(value as Record<string, unknown>, depth);
        }
        return;
      default:
        throw new TypeError(`a log record cannot hold a ${typeof value}`);
    }
  }

  private number(value: number): void {
    this.room(NUMBER_BYTES_MAX);
    this.at = writeNumber(this.bytes, this.view, this.at, value);
  }

  private string(value: string): void {
    const length = value.length;
    // Room for the ASCII case (a byte per unit, a header of at most 5 bytes); more below.
    this.room(length + 5);
    const start = this.at;
    // Reserve the header for the ASCII case; moved if the string turns out longer.
    const headerBytes = length < 32 ? 1 : length < 0x100 ? 2 : length < 0x1_0000 ? 3 : 5;
    let at = start + headerBytes;
    const bytes = this.bytes;
    let ascii = true;
    for (let index = 0; index < length; index++) {
      const code = value.charCodeAt(index);
      if (code >= 0x80) {
        ascii = false;
        break;
      }
      bytes[at++] = code;
    }
    let byteLength = length;
    if (!ascii) {
      // Worst case 3 bytes per UTF-16 unit.
      this.room(length * 3 + 5);
      const written = this.text.encodeInto(value, this.bytes.subarray(start + 5));
      byteLength = written.written;
      this.at = start;
      this.stringHeader(byteLength);
      this.bytes.copyWithin(this.at, start + 5, start + 5 + byteLength);
      this.at += byteLength;
      return;
    }
    this.at = start;
    this.stringHeader(byteLength);
    this.at += byteLength;
  }

  private stringHeader(length: number): void {
    const bytes = this.bytes;
    if (length < 32) {
      bytes[this.at++] = 0xa0 | length;
    } else if (length < 0x100) {
      bytes[this.at++] = 0xd9;
      bytes[this.at++] = length;
    } else if (length < 0x1_0000) {
      bytes[this.at++] = 0xda;
      this.view.setUint16(this.at, length);
      this.at += 2;
    } else {
      bytes[this.at++] = 0xdb;
      this.view.setUint32(this.at, length);
      this.at += 4;
    }
  }

  private array(values: readonly unknown[], depth: number): void {
    this.room(5);
    const length = values.length;
    this.at += writeArrayHead(this.bytes, this.at, length);
    for (let index = 0; index < length; index++) this.value(values[index], depth + 1);
  }

  private map(value: Record<string, unknown>, depth: number): void {
    let count = 0;
    for (const key in value) if (value[key] !== undefined) count++;
    this.room(5);
    this.at += writeMapHead(this.bytes, this.at, count);
    for (const key in value) {
      const entry = value[key];
      if (entry === undefined) continue;
      this.string(key);
      this.value(entry, depth + 1);
    }
  }
}

/** The most bytes `writeNumber` writes: a float 64 and its marker. */
const NUMBER_BYTES_MAX = 9;

/**
 * Writes `value` at `bytes[at]` (room for NUMBER_BYTES_MAX checked by the caller): an integer
 * in the int32/uint32 range in its smallest form, anything else as float 64. Returns the end.
 */
function writeNumber(bytes: Uint8Array, view: DataView, at: number, value: number): number {
  if (Number.isInteger(value) && value >= -0x8000_0000 && value < UINT32_LIMIT) {
    if (value >= 0) return writeUint(bytes, view, at, value);
    if (value >= -0x20) {
      bytes[at] = value & 0xff;
      return at + 1;
    }
    if (value >= -0x80) {
      bytes[at] = 0xd0;
      view.setInt8(at + 1, value);
      return at + 2;
    }
    if (value >= -0x8000) {
      bytes[at] = 0xd1;
      view.setInt16(at + 1, value);
      return at + 3;
    }
    bytes[at] = 0xd2;
    view.setInt32(at + 1, value);
    return at + 5;
  }
  bytes[at] = 0xcb;
  view.setFloat64(at + 1, value);
  return at + 9;
}

/** Copies `source` to `bytes[at]` (room checked by the caller); returns the end. */
function copyBytes(bytes: Uint8Array, at: number, source: Uint8Array): number {
  for (let index = 0; index < source.length; index++) bytes[at + index] = source[index];
  return at + source.length;
}

/** A key, then its number; returns the end. */
function numberField(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  key: Uint8Array,
  value: number,
): number {
  return writeNumber(bytes, view, copyBytes(bytes, at, key), value);
}

function allNumbers(values: readonly unknown[]): boolean {
  for (let index = 0; index < values.length; index++) {
    if (typeof values[index] !== 'number') return false;
  }
  return true;
}

/** Records are shallow (a DC's polygon is the deepest: record → dc → area → rings → points). */
const VALUE_DEPTH_MAX = 16;

/** A short ASCII string as MessagePack bytes (fixstr), computed once. */
export function fixstr(text: string): readonly number[] {
  return [0xa0 | text.length, ...Array.from(text, (char) => char.charCodeAt(0))];
}

type PlaceFields = Record<(typeof PLACE_FIELDS)[number], unknown>;

/** The fields of a `place` record (engine/log.ts), in the order the engine builds them. */
const PLACE_FIELDS = [
  'type',
  'at',
  'orderId',
  'mode',
  'policy',
  'lat',
  'lng',
  'etaMinutes',
  'expiresAt',
  'fingerprint',
  'allocation',
] as const;
/** A place record's map header: a fixmap of its fields. */
export const PLACE_MAP_HEADER = 0x80 | PLACE_FIELDS.length;
export const KEY_TYPE = fixstr('type');
export const VALUE_PLACE = fixstr('place');
export const KEY_AT = fixstr('at');
export const KEY_ORDER_ID = fixstr('orderId');
export const KEY_MODE = fixstr('mode');
export const KEY_POLICY = fixstr('policy');
export const KEY_LAT = fixstr('lat');
export const KEY_LNG = fixstr('lng');
export const KEY_ETA = fixstr('etaMinutes');
export const KEY_EXPIRES_AT = fixstr('expiresAt');
export const KEY_FINGERPRINT = fixstr('fingerprint');
export const KEY_ALLOCATION = fixstr('allocation');

/** The place record's constant bytes, each with the key it ends on (see `place`). */
const PLACE_HEAD = Uint8Array.from([PLACE_MAP_HEADER, ...KEY_TYPE, ...VALUE_PLACE, ...KEY_AT]);
const KEY_ORDER_ID_BYTES = Uint8Array.from(KEY_ORDER_ID);
const KEY_MODE_BYTES = Uint8Array.from(KEY_MODE);
const KEY_POLICY_BYTES = Uint8Array.from(KEY_POLICY);
const KEY_LAT_BYTES = Uint8Array.from(KEY_LAT);
const KEY_LNG_BYTES = Uint8Array.from(KEY_LNG);
const KEY_ETA_BYTES = Uint8Array.from(KEY_ETA);
const KEY_EXPIRES_AT_BYTES = Uint8Array.from(KEY_EXPIRES_AT);
const KEY_FINGERPRINT_BYTES = Uint8Array.from(KEY_FINGERPRINT);
const KEY_ALLOCATION_BYTES = Uint8Array.from(KEY_ALLOCATION);
/** All of the place record's key bytes (an upper bound for one room check). */
const PLACE_KEY_BYTES =
  PLACE_HEAD.length +
  KEY_ORDER_ID.length +
  KEY_MODE.length +
  KEY_POLICY.length +
  KEY_LAT.length +
  KEY_LNG.length +
  KEY_ETA.length +
  KEY_EXPIRES_AT.length +
  KEY_FINGERPRINT.length +
  KEY_ALLOCATION.length;
