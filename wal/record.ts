/**
 * Log records on the wire of the ring and on disk.
 *
 * In the ring, a record is its msgpack payload plus the payload's CRC32 (ring.ts frames it).
 * In LMDB, under the key LSN (a number), a record is stored as:
 *
 *   byte 0      RECORD_FORMAT
 *   byte 1      flags (RECORD_FLAG_BATCH_END on the last record of a writer transaction)
 *   bytes 2..3  zero
 *   bytes 4..7  CRC32 (little-endian) of payload ‖ flags ‖ LSN low ‖ LSN high (each a u32)
 *   bytes 8..   payload: msgpack of the LogRecord (plain maps, no shared structures, so any
 *               release can read it without extra state)
 *
 * The stored CRC extends the producer's payload CRC over the flags and the LSN, so a value
 * stored under the wrong key, or a flipped batch-end flag, fails verification too.
 *
 * Invariant: `encode` returns a borrowed buffer (the encoder reuses its memory): copy it (the
 * ring does) before the next `encode`.
 */

import { Packr, Unpackr } from 'msgpackr';
import type { LogRecord, LogRecordType } from '../engine/log.js';
import { RECORD_FORMAT, RECORD_HEADER_BYTES } from './constants.js';
import { crc32, crc32Uint32 } from './crc32.js';

/** The msgpackr options of records, written out so a library default can never change them. */
const RECORD_PACK_OPTIONS = {
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  useFloat32: 0,
  variableMapSize: false,
  useTimestamp32: false,
  encodeUndefinedAsNil: false,
} as const;

const RECORD_UNPACK_OPTIONS = {
  ...RECORD_PACK_OPTIONS,
  mapsAsObjects: true,
  int64AsType: 'number',
} as const;

const UINT32_RANGE = 0x1_0000_0000;

const RECORD_TYPES: ReadonlySet<LogRecordType> = new Set<LogRecordType>([
  'dc',
  'sku',
  'receive',
  'adjust',
  'place',
  'confirm',
  'cancel',
  'expire',
  'extend',
  'change',
  'fulfil',
]);

/** One per thread: turns records into payload bytes. */
export class RecordEncoder {
  private readonly packr = new Packr(RECORD_PACK_OPTIONS);

  /** Borrowed: valid until the next call. */
  encode(record: LogRecord): Uint8Array {
    return this.packr.pack(record);
  }
}

/** One per thread: turns stored values back into records. */
export class RecordDecoder {
  private readonly unpackr = new Unpackr(RECORD_UNPACK_OPTIONS);

  /** Decodes a verified stored value; null when the payload is not a record we know. */
  decode(value: Uint8Array): LogRecord | null {
    let record: unknown;
    try {
      record = this.unpackr.unpack(value.subarray(RECORD_HEADER_BYTES));
    } catch {
      return null;
    }
    if (typeof record !== 'object' || record === null) return null;
    const type = (record as { type?: unknown }).type;
    return RECORD_TYPES.has(type as LogRecordType) ? (record as LogRecord) : null;
  }

  /** Decodes a bare payload (as found in a ring frame). */
  decodePayload(payload: Uint8Array): LogRecord | null {
    try {
      const record = this.unpackr.unpack(payload);
      return RECORD_TYPES.has(record?.type) ? (record as LogRecord) : null;
    } catch {
      return null;
    }
  }
}

/** The stored CRC: the payload's CRC continued over flags and the LSN's two halves. */
export function storedCrc(payloadCrc: number, flags: number, lsn: number): number {
  let crc = crc32Uint32(flags >>> 0, payloadCrc);
  crc = crc32Uint32((lsn % UINT32_RANGE) >>> 0, crc);
  return crc32Uint32(Math.floor(lsn / UINT32_RANGE) >>> 0, crc);
}

/**
 * Writes the stored header for a payload already at `target[offset + RECORD_HEADER_BYTES ..
 * offset + RECORD_HEADER_BYTES + payloadBytes)`.
 */
export function writeRecordHeader(
  target: Uint8Array,
  offset: number,
  payloadCrc: number,
  flags: number,
  lsn: number,
): void {
  const crc = storedCrc(payloadCrc, flags, lsn);
  target[offset] = RECORD_FORMAT;
  target[offset + 1] = flags;
  target[offset + 2] = 0;
  target[offset + 3] = 0;
  target[offset + 4] = crc & 0xff;
  target[offset + 5] = (crc >>> 8) & 0xff;
  target[offset + 6] = (crc >>> 16) & 0xff;
  target[offset + 7] = crc >>> 24;
}

/** A whole stored value for one record, in a fresh buffer (tests, tools). */
export function storedValue(payload: Uint8Array, flags: number, lsn: number): Buffer {
  const value = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  value.set(payload, RECORD_HEADER_BYTES);
  writeRecordHeader(value, 0, crc32(payload), flags, lsn);
  return value;
}

export type RecordCheck = 'ok' | 'short' | 'format' | 'crc';

/** Checks a stored value's framing and CRC against the key it was found under. */
export function checkStoredRecord(value: Uint8Array, lsn: number): RecordCheck {
  if (value.length <= RECORD_HEADER_BYTES) return 'short';
  if (value[0] !== RECORD_FORMAT || value[2] !== 0 || value[3] !== 0) return 'format';
  const expected = (value[4] | (value[5] << 8) | (value[6] << 16) | (value[7] << 24)) >>> 0;
  const payloadCrc = crc32(value, RECORD_HEADER_BYTES, value.length);
  return storedCrc(payloadCrc, value[1], lsn) === expected ? 'ok' : 'crc';
}

export function recordFlags(value: Uint8Array): number {
  return value[1];
}
