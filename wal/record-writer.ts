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

import { writeArrayHead, writeMapHead } from '../protocol/index.js';

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
    if (
      typeof record.at !== 'number' ||
      typeof record.mode !== 'number' ||
      typeof record.policy !== 'number' ||
      typeof record.lat !== 'number' ||
      typeof record.lng !== 'number' ||
      typeof record.etaMinutes !== 'number' ||
      typeof record.expiresAt !== 'number' ||
      typeof record.fingerprint !== 'number' ||
      record.orderId === undefined ||
      !Array.isArray(record.allocation)
    ) {
      this.value(record, 0);
      return;
    }
    this.room(1);
    this.bytes[this.at++] = PLACE_MAP_HEADER;
    this.key(KEY_TYPE);
    this.key(VALUE_PLACE);
    this.key(KEY_AT);
    this.number(record.at as number);
    this.key(KEY_ORDER_ID);
    this.value(record.orderId, 1);
    this.key(KEY_MODE);
    this.number(record.mode as number);
    this.key(KEY_POLICY);
    this.number(record.policy as number);
    this.key(KEY_LAT);
    this.number(record.lat as number);
    this.key(KEY_LNG);
    this.number(record.lng as number);
    this.key(KEY_ETA);
    this.number(record.etaMinutes as number);
    this.key(KEY_EXPIRES_AT);
    this.number(record.expiresAt as number);
    this.key(KEY_FINGERPRINT);
    this.number(record.fingerprint as number);
    this.key(KEY_ALLOCATION);
    this.value(record.allocation, 1);
  }

  private key(bytes: readonly number[]): void {
    this.room(bytes.length);
    const target = this.bytes;
    let at = this.at;
    for (let index = 0; index < bytes.length; index++) target[at++] = bytes[index];
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
    this.room(9);
    const bytes = this.bytes;
    if (Number.isInteger(value) && value >= -0x8000_0000 && value < UINT32_LIMIT) {
      if (value >= 0) {
        if (value < 0x80) {
          bytes[this.at++] = value;
        } else if (value < 0x100) {
          bytes[this.at++] = 0xcc;
          bytes[this.at++] = value;
        } else if (value < 0x1_0000) {
          bytes[this.at++] = 0xcd;
          this.view.setUint16(this.at, value);
          this.at += 2;
        } else {
          bytes[this.at++] = 0xce;
          this.view.setUint32(this.at, value);
          this.at += 4;
        }
      } else if (value >= -0x20) {
        bytes[this.at++] = value & 0xff;
      } else if (value >= -0x80) {
        bytes[this.at++] = 0xd0;
        this.view.setInt8(this.at, value);
        this.at += 1;
      } else if (value >= -0x8000) {
        bytes[this.at++] = 0xd1;
        this.view.setInt16(this.at, value);
        this.at += 2;
      } else {
        bytes[this.at++] = 0xd2;
        this.view.setInt32(this.at, value);
        this.at += 4;
      }
      return;
    }
    bytes[this.at++] = 0xcb;
    this.view.setFloat64(this.at, value);
    this.at += 8;
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
