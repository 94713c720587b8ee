/**
 * Log records on the wire of the ring and on disk.
 *
 * In the ring, a record is its msgpack payload plus the payload's CRC32 (ring.ts frames it).
 * In LMDB, under the key LSN (a number), a record is stored as:
 *
 *   byte 0      RECORD_FORMAT (2)
 *   byte 1      flags (RECORD_FLAG_BATCH_END on the last record of a writer transaction)
 *   bytes 2..3  the writer session that wrote it (u16 little-endian, never 0)
 *   bytes 4..7  CRC32 (little-endian) of payload ‖ flags ‖ LSN low ‖ LSN high ‖ session
 *               (each a u32)
 *   bytes 8..   payload: msgpack of the LogRecord (plain maps, no shared structures, so any
 *               release can read it without extra state)
 *
 * Format 1 records (the first release) have zero in bytes 2..3 and a CRC without the session;
 * they read as session 0.
 *
 * The stored CRC extends the producer's payload CRC over the flags, the LSN and the session, so
 * a value stored under the wrong key, a flipped batch-end flag or a forged session fails
 * verification too. Sessions let `verify` and recovery prove that one writer at a time wrote
 * the log: along the LSNs, the session only ever moves forward, at a batch boundary.
 *
 * Invariant: `encode` returns a borrowed buffer (the encoder reuses its memory): copy it (the
 * ring does) before the next `encode`.
 */

import { Unpackr } from 'msgpackr';
import type { LogRecord, LogRecordType } from '../engine/index.js';
import {
  RECORD_FORMAT,
  RECORD_FORMAT_V1,
  RECORD_HEADER_BYTES,
  RECORD_PAYLOAD_BYTES_MAX,
  WRITER_SESSION_RANGE,
} from './constants.js';
import { crc32, crc32Uint32 } from './crc32.js';
import { PlaceRecordReader } from './record-reader.js';
import { RecordWriter } from './record-writer.js';

/**
 * The msgpackr options records are read with, written out so a library default can never
 * change them. (Records are written by record-writer.ts: plain maps, no extension types.)
 */
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
  private readonly writer = new RecordWriter(RECORD_PAYLOAD_BYTES_MAX);

  /** Borrowed: valid until the next call. */
  encode(record: LogRecord): Uint8Array {
    return this.writer.encode(record);
  }
}

/** One per thread: turns stored values back into records. */
export class RecordDecoder {
  private readonly unpackr = new Unpackr(RECORD_UNPACK_OPTIONS);
  /** `place` records as RecordWriter writes them, read without msgpackr (record-reader.ts). */
  private readonly places = new PlaceRecordReader();

  /** Decodes a verified stored value; null when the payload is not a record we know. */
  decode(value: Uint8Array): LogRecord | null {
    const place = this.places.read(value, RECORD_HEADER_BYTES);
    if (place !== undefined) return place;
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
    const place = this.places.read(payload, 0);
    if (place !== undefined) return place;
    try {
      const record = this.unpackr.unpack(payload);
      return RECORD_TYPES.has(record?.type) ? (record as LogRecord) : null;
    } catch {
      return null;
    }
  }
}

/**
 * The stored CRC: the payload's CRC continued over flags, the LSN's two halves and (format 2)
 * the writer session.
 */
export function storedCrc(payloadCrc: number, flags: number, lsn: number, session = -1): number {
  let crc = crc32Uint32(flags >>> 0, payloadCrc);
  crc = crc32Uint32((lsn % UINT32_RANGE) >>> 0, crc);
  crc = crc32Uint32(Math.floor(lsn / UINT32_RANGE) >>> 0, crc);
  return session < 0 ? crc : crc32Uint32(session >>> 0, crc);
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
  session: number,
): void {
  const crc = storedCrc(payloadCrc, flags, lsn, session);
  target[offset] = RECORD_FORMAT;
  target[offset + 1] = flags;
  target[offset + 2] = session & 0xff;
  target[offset + 3] = session >>> 8;
  target[offset + 4] = crc & 0xff;
  target[offset + 5] = (crc >>> 8) & 0xff;
  target[offset + 6] = (crc >>> 16) & 0xff;
  target[offset + 7] = crc >>> 24;
}

/** A whole stored value for one record, in a fresh buffer (tests, tools). */
export function storedValue(payload: Uint8Array, flags: number, lsn: number, session = 1): Buffer {
  const value = Buffer.alloc(RECORD_HEADER_BYTES + payload.length);
  value.set(payload, RECORD_HEADER_BYTES);
  writeRecordHeader(value, 0, crc32(payload), flags, lsn, session);
  return value;
}

export type RecordCheck = 'ok' | 'short' | 'format' | 'crc';

/** Checks a stored value's framing and CRC against the key it was found under. */
export function checkStoredRecord(value: Uint8Array, lsn: number): RecordCheck {
  if (value.length <= RECORD_HEADER_BYTES) return 'short';
  const format = value[0];
  let session: number;
  if (format === RECORD_FORMAT) {
    session = recordSession(value);
    if (session === 0) return 'format';
  } else if (format === RECORD_FORMAT_V1 && value[2] === 0 && value[3] === 0) {
    session = -1;
  } else {
    return 'format';
  }
  const expected = (value[4] | (value[5] << 8) | (value[6] << 16) | (value[7] << 24)) >>> 0;
  const payloadCrc = crc32(value, RECORD_HEADER_BYTES, value.length);
  return storedCrc(payloadCrc, value[1], lsn, session) === expected ? 'ok' : 'crc';
}

/** The writer session that wrote a stored value (0 for a format 1 record). */
export function recordSession(value: Uint8Array): number {
  return value[2] | (value[3] << 8);
}

/**
 * True when a log whose records so far were written by session `current` may continue with
 * one written by `next`: the same session, or a later one (sessions wrap around
 * WRITER_SESSION_RANGE; "later" is within half the range). A session that goes back means two
 * writers took turns on the log.
 */
export function sessionFollows(current: number, next: number): boolean {
  if (next === current) return true;
  const step = (next - current + WRITER_SESSION_RANGE) % WRITER_SESSION_RANGE;
  return step > 0 && step < WRITER_SESSION_RANGE / 2;
}

export function recordFlags(value: Uint8Array): number {
  return value[1];
}
