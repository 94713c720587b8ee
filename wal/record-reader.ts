/**
 * A reader for the record replay meets at volume, `place`, as RecordWriter writes it: a map of
 * its eleven keys in one order (record-writer.ts, PLACE_FIELDS), numbers in the integer forms
 * and float 64 the writer uses, an ASCII order id, and the allocation as an array of numbers.
 * Snapshots fold every record since the last one and recovery replays them. In-process a
 * `place` record of 9 allocation entries decodes in 0.60 µs here against 1.37 µs through
 * msgpackr; folding 1.3 M records took 9.4 s against 10.3 s (medians of 4, loadtest/RESULTS.md).
 *
 * Invariant: it returns exactly the object msgpackr reads from the same bytes (the same keys in
 * the same order, the same values), or undefined for anything else: another record type, a key
 * out of place, a form the writer does not use, a non-ASCII id, bytes left over. The caller
 * then reads the bytes with msgpackr, so nothing is ever read differently, only faster.
 * record-reader_fuzz.test.ts checks both on written, reordered and damaged records.
 */

import type { LogRecord } from '../engine/index.js';
import { arrayCountAt, headLength } from '../protocol/index.js';
import {
  KEY_ALLOCATION,
  KEY_AT,
  KEY_ETA,
  KEY_EXPIRES_AT,
  KEY_FINGERPRINT,
  KEY_LAT,
  KEY_LNG,
  KEY_MODE,
  KEY_ORDER_ID,
  KEY_POLICY,
  KEY_TYPE,
  PLACE_MAP_HEADER,
  VALUE_PLACE,
} from './record-writer.js';

/** The place map's header, then `"type": "place"`, then the key `"at"`. */
const PLACE_HEAD = [PLACE_MAP_HEADER, ...KEY_TYPE, ...VALUE_PLACE, ...KEY_AT];
/** What the reader holds between reads: nothing (the record's bytes are the caller's). */
const NO_BYTES = new Uint8Array(0);
const ASCII_END = 0x80;

/** Marks a read that failed; every step returns a number or this. */
const FAILED = Number.NaN;

export class PlaceRecordReader {
  private bytes: Uint8Array = NO_BYTES;
  private at = 0;
  private end = 0;
  private readonly float = new Float64Array(1);
  private readonly floatBytes = new Uint8Array(this.float.buffer);

  /** The `place` record in `bytes[start..]`, or undefined (read it with msgpackr). */
  read(bytes: Uint8Array, start: number): LogRecord | undefined {
    this.bytes = bytes;
    this.at = start;
    this.end = bytes.length;
    try {
      if (!this.expect(PLACE_HEAD)) return undefined;
      const at = this.number();
      if (!this.expect(KEY_ORDER_ID)) return undefined;
      const orderId = this.ascii();
      if (orderId === undefined || !this.expect(KEY_MODE)) return undefined;
      const mode = this.number();
      if (!this.expect(KEY_POLICY)) return undefined;
      const policy = this.number();
      if (!this.expect(KEY_LAT)) return undefined;
      const lat = this.number();
      if (!this.expect(KEY_LNG)) return undefined;
      const lng = this.number();
      if (!this.expect(KEY_ETA)) return undefined;
      const etaMinutes = this.number();
      if (!this.expect(KEY_EXPIRES_AT)) return undefined;
      const expiresAt = this.number();
      if (!this.expect(KEY_FINGERPRINT)) return undefined;
      const fingerprint = this.number();
      if (!this.expect(KEY_ALLOCATION)) return undefined;
      const allocation = this.numbers();
      if (allocation === undefined || this.at !== this.end) return undefined;
      // A failed number is NaN, which the writer never writes as one of these (it would be a
      // float 64 NaN, read back as NaN by both): refuse rather than tell them apart.
      if (
        Number.isNaN(at) ||
        Number.isNaN(mode) ||
        Number.isNaN(policy) ||
        Number.isNaN(lat) ||
        Number.isNaN(lng) ||
        Number.isNaN(etaMinutes) ||
        Number.isNaN(expiresAt) ||
        Number.isNaN(fingerprint)
      ) {
        return undefined;
      }
      return {
        type: 'place',
        at,
        orderId,
        mode,
        policy,
        lat,
        lng,
        etaMinutes,
        expiresAt,
        fingerprint,
        allocation,
      } as unknown as LogRecord;
    } finally {
      this.bytes = NO_BYTES;
    }
  }

  private expect(fragment: readonly number[]): boolean {
    if (this.at + fragment.length > this.end) return false;
    const bytes = this.bytes;
    for (let index = 0; index < fragment.length; index++) {
      if (bytes[this.at + index] !== fragment[index]) return false;
    }
    this.at += fragment.length;
    return true;
  }

  /** A number in a form RecordWriter writes, or FAILED. */
  private number(): number {
    const bytes = this.bytes;
    const at = this.at;
    if (at >= this.end) return FAILED;
    const head = bytes[at];
    if (head < 0x80) {
      this.at = at + 1;
      return head;
    }
    if (head >= 0xe0) {
      this.at = at + 1;
      return head - 0x100;
    }
    const b = at + 1;
    switch (head) {
      case 0xcc:
        return this.skip(b, 1) ? bytes[b] : FAILED;
      case 0xcd:
        return this.skip(b, 2) ? (bytes[b] << 8) | bytes[b + 1] : FAILED;
      case 0xce:
        return this.skip(b, 4) ? this.int32(b) >>> 0 : FAILED;
      case 0xd0:
        return this.skip(b, 1) ? (bytes[b] << 24) >> 24 : FAILED;
      case 0xd1:
        return this.skip(b, 2) ? (((bytes[b] << 8) | bytes[b + 1]) << 16) >> 16 : FAILED;
      case 0xd2:
        return this.skip(b, 4) ? this.int32(b) : FAILED;
      case 0xcb: {
        if (!this.skip(b, 8)) return FAILED;
        // Float 64, big-endian on the wire; the float view is little-endian (as the snapshot
        // and column code asserts of the platform).
        const target = this.floatBytes;
        for (let index = 0; index < 8; index++) target[7 - index] = bytes[b + index];
        return this.float[0];
      }
      default:
        return FAILED;
    }
  }

  /** Moves past `size` bytes from `from`; false (not moved) when they are not all there. */
  private skip(from: number, size: number): boolean {
    if (from + size > this.end) return false;
    this.at = from + size;
    return true;
  }

  /** The big-endian int32 at `from`. */
  private int32(from: number): number {
    const bytes = this.bytes;
    return (bytes[from] << 24) | (bytes[from + 1] << 16) | (bytes[from + 2] << 8) | bytes[from + 3];
  }

  /** An ASCII string (fixstr, str 8 or str 16), or undefined. */
  private ascii(): string | undefined {
    const bytes = this.bytes;
    let at = this.at;
    if (at >= this.end) return undefined;
    const head = bytes[at++];
    let length: number;
    if (head >= 0xa0 && head <= 0xbf) length = head & 0x1f;
    else if (head === 0xd9 && at < this.end) length = bytes[at++];
    else if (head === 0xda && at + 1 < this.end) {
      length = (bytes[at] << 8) | bytes[at + 1];
      at += 2;
    } else return undefined;
    if (at + length > this.end) return undefined;
    let text = '';
    for (let index = 0; index < length; index++) {
      const code = bytes[at + index];
      if (code >= ASCII_END) return undefined;
      text += String.fromCharCode(code);
    }
    this.at = at + length;
    return text;
  }

  /** An array of numbers (fixarray, array 16 or array 32), or undefined. */
  private numbers(): number[] | undefined {
    let at = this.at;
    const count = arrayCountAt(this.bytes, at, this.end);
    if (count < 0) return undefined;
    at += headLength(this.bytes[at]);
    // Every number takes at least a byte: a count past the bytes left is damage.
    if (count > this.end - at) return undefined;
    this.at = at;
    const values = new Array<number>(count);
    for (let index = 0; index < count; index++) {
      const value = this.number();
      if (Number.isNaN(value)) return undefined;
      values[index] = value;
    }
    return values;
  }
}
