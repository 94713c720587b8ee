/**
 * The messages of a region's log stream (`INVENTORY_<REGION>`, subject `inventory.log.<region>`),
 * as the primary publishes them and a standby (or any consumer) reads them. PROTOCOL.md
 * documents the format for consumers in other languages.
 *
 * Two kinds, told apart by the `Inventory-Kind` header:
 * - `batch`: one or more whole group commits of the primary's log. Headers: region, epoch,
 *   first LSN, record count. Payload: for each record, its length (u32 little-endian) then
 *   its stored value exactly as in the primary's LMDB log (wal/record.ts: format byte, flags,
 *   writer session, CRC32 over payload ‖ flags ‖ LSN ‖ session, msgpack payload). Message id
 *   `<region>:<epoch>:<firstLsn>`.
 * - `epoch`: the marker a new owner publishes before it accepts writes. First LSN is the LSN
 *   its first record will have; no records; the payload is JSON (`EpochMarker`). Message id
 *   `<region>:<epoch>:epoch`.
 *
 * Invariants: a batch message ends at a batch end (the writer's flag), so every prefix of
 * the stream is a whole number of group commits; LSNs are consecutive across messages.
 * Decoding never throws on bad input: it returns null.
 */

import { LOG_HEADERS, LOG_KIND_BATCH, LOG_KIND_EPOCH } from '../protocol/index.js';

const LENGTH_BYTES = 4;

export type LogMessageKind = typeof LOG_KIND_BATCH | typeof LOG_KIND_EPOCH;

export interface LogMessageHead {
  region: string;
  epoch: number;
  kind: LogMessageKind;
  firstLsn: number;
  records: number;
}

/** What a new owner says in its epoch marker. */
export interface EpochMarker {
  nodeId: string;
  url: string;
  epoch: number;
  /** LSN of the last record before the marker (0 for an empty log). */
  lastLsn: number;
  /** The writer session of that record (0 when none): the new owner's session follows it. */
  lastSession: number;
}

/** Header access as both nats.js `MsgHdrs` and a plain map provide it. */
export interface HeaderReader {
  get(name: string): string;
}

export interface HeaderWriter {
  set(name: string, value: string): void;
}

export function logMessageId(head: Pick<LogMessageHead, 'region' | 'epoch' | 'kind' | 'firstLsn'>) {
  const tail = head.kind === LOG_KIND_EPOCH ? 'epoch' : String(head.firstLsn);
  return `${head.region}:${head.epoch}:${tail}`;
}

export function writeHead(headers: HeaderWriter, head: LogMessageHead): void {
  headers.set(LOG_HEADERS.region, head.region);
  headers.set(LOG_HEADERS.epoch, String(head.epoch));
  headers.set(LOG_HEADERS.kind, head.kind);
  headers.set(LOG_HEADERS.firstLsn, String(head.firstLsn));
  headers.set(LOG_HEADERS.records, String(head.records));
}

function naturalNumber(text: string): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/** The head of a message, or null when a header is missing or malformed. */
export function readHead(headers: HeaderReader | undefined): LogMessageHead | null {
  if (headers === undefined) return null;
  const kind = headers.get(LOG_HEADERS.kind);
  if (kind !== LOG_KIND_BATCH && kind !== LOG_KIND_EPOCH) return null;
  const epoch = naturalNumber(headers.get(LOG_HEADERS.epoch));
  const firstLsn = naturalNumber(headers.get(LOG_HEADERS.firstLsn));
  const records = naturalNumber(headers.get(LOG_HEADERS.records));
  const region = headers.get(LOG_HEADERS.region);
  if (epoch === null || firstLsn === null || records === null || region === '') return null;
  if (kind === LOG_KIND_EPOCH ? records !== 0 : records === 0 || firstLsn === 0) return null;
  return { region, epoch, kind, firstLsn, records };
}

/** Bytes of the payload for these stored values. */
export function recordsPayloadBytes(values: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const value of values) bytes += LENGTH_BYTES + value.length;
  return bytes;
}

/** The payload of a batch message: each stored value behind its u32 LE length. */
export function encodeRecords(values: readonly Uint8Array[]): Uint8Array {
  const payload = new Uint8Array(recordsPayloadBytes(values));
  const view = new DataView(payload.buffer);
  let at = 0;
  for (const value of values) {
    view.setUint32(at, value.length, true);
    payload.set(value, at + LENGTH_BYTES);
    at += LENGTH_BYTES + value.length;
  }
  return payload;
}

/**
 * The stored values of a batch payload (views into it, borrowed: copy before the payload's
 * buffer is reused), or null when it does not hold exactly `count` well-framed values.
 */
export function decodeRecords(payload: Uint8Array, count: number): Uint8Array[] | null {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const values: Uint8Array[] = [];
  let at = 0;
  while (at < payload.length) {
    if (at + LENGTH_BYTES > payload.length || values.length === count) return null;
    const length = view.getUint32(at, true);
    at += LENGTH_BYTES;
    if (length === 0 || at + length > payload.length) return null;
    values.push(payload.subarray(at, at + length));
    at += length;
  }
  return values.length === count ? values : null;
}

export function encodeMarker(marker: EpochMarker): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(marker));
}

export function decodeMarker(payload: Uint8Array): EpochMarker | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(payload)) as Partial<EpochMarker>;
    if (
      typeof value?.nodeId !== 'string' ||
      typeof value.url !== 'string' ||
      !Number.isSafeInteger(value.epoch) ||
      !Number.isSafeInteger(value.lastLsn) ||
      !Number.isSafeInteger(value.lastSession)
    ) {
      return null;
    }
    return value as EpochMarker;
  } catch {
    return null;
  }
}
