/**
 * Snapshots on disk: the whole engine state at one LSN, stored as numbered chunks and a
 * manifest, plus the pruning of old snapshots and the compaction of the log behind them.
 *
 * A snapshot's byte stream is the packed EngineState (catalogue and orders, msgpack), then one
 * stock section per DC: [available, onHand] int32 pairs, little-endian, one pair per SKU of the
 * catalogue. The stream is cut into SNAPSHOT_CHUNK_BYTES chunks, keyed [LSN, sequence], each
 * stored as CRC32 (LE) ‖ bytes, the CRC continued over the LSN and sequence so a chunk under
 * the wrong key fails. The manifest, keyed LSN, is written last: a snapshot without a
 * manifest does not exist, so a crash while writing one leaves only unreferenced chunks.
 *
 * Each transaction holds at most SNAPSHOT_CHUNKS_PER_TXN chunks or COMPACT_DELETES_PER_TXN
 * deletions: the live log writer shares LMDB's single write lock and waits for at most one.
 */

import { endianness } from 'node:os';
import type { Packr, Unpackr } from 'msgpackr';
import type { EngineState } from '../engine/index.js';
import { arrayCountAt, headLength, mapCountAt, writeArrayHead } from '../protocol/index.js';
import {
  COMPACT_DELETES_PER_TXN,
  SNAPSHOT_CHUNK_BYTES,
  SNAPSHOT_CHUNKS_PER_TXN,
  SNAPSHOT_CRC_BYTES,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOTS_KEPT,
} from './constants.js';
import { crc32, crc32Uint32 } from './crc32.js';
import { assert } from './errors.js';
import type { SnapshotableEngine } from './engine-port.js';
import { logBounds, type Store } from './store.js';

const UINT32_RANGE = 0x1_0000_0000;
/** Bytes of one (available, onHand) pair. */
const STOCK_CELL_BYTES = 8;

// Stock sections are written from Int32Array memory as they are; the format says
// little-endian, so refuse to run where typed arrays are not.
assert(endianness() === 'LE', 'snapshots need a little-endian platform');

export interface SnapshotManifest {
  format: number;
  lsn: number;
  createdAt: number;
  /** Milliseconds the fold and the write took. */
  durationMs: number;
  stateBytes: number;
  dcCount: number;
  skuCount: number;
  chunkCount: number;
  totalBytes: number;
}

export interface ListedSnapshot {
  lsn: number;
  manifest: SnapshotManifest | null;
  /** Why the manifest is unusable, when it is. */
  problem: string | null;
}

function keyCrc(crc: number, lsn: number, sequence: number): number {
  let next = crc32Uint32((lsn % UINT32_RANGE) >>> 0, crc);
  next = crc32Uint32(Math.floor(lsn / UINT32_RANGE) >>> 0, next);
  return crc32Uint32(sequence >>> 0, next);
}

function sealed(bytes: Uint8Array, lsn: number, sequence: number): Buffer {
  const value = Buffer.allocUnsafe(SNAPSHOT_CRC_BYTES + bytes.length);
  value.set(bytes, SNAPSHOT_CRC_BYTES);
  value.writeUInt32LE(keyCrc(crc32(bytes), lsn, sequence), 0);
  return value;
}

/** The bytes of a sealed value, or null when its CRC does not match its key. */
function unseal(value: Uint8Array | undefined, lsn: number, sequence: number): Uint8Array | null {
  if (value === undefined || value.length < SNAPSHOT_CRC_BYTES) return null;
  const stored = (value[0] | (value[1] << 8) | (value[2] << 16) | (value[3] << 24)) >>> 0;
  const crc = keyCrc(crc32(value, SNAPSHOT_CRC_BYTES, value.length), lsn, sequence);
  return crc === stored ? value.subarray(SNAPSHOT_CRC_BYTES) : null;
}

/** The manifest's sequence number in its CRC, distinct from any chunk's. */
const MANIFEST_SEQUENCE = 0xffff_ffff;

/**
 * Thrown by a fold's progress callback when the fold must stop (the node is shutting down):
 * the steps below let it through their own error handling, so it reaches the fold.
 */
export class SnapshotCancelled extends Error {
  constructor() {
    super('the snapshot was cancelled');
    this.name = 'SnapshotCancelled';
  }
}

/** Called between a fold's steps (transactions, batches of orders); may throw SnapshotCancelled. */
export type FoldProgress = () => void;

/** Cuts a byte stream into chunks and writes them a few per transaction. */
class ChunkWriter {
  private readonly chunk: Uint8Array;
  private filled = 0;
  private readonly pending: Buffer[] = [];
  sequence = 0;
  totalBytes = 0;

  constructor(
    private readonly store: Store,
    private readonly lsn: number,
    private readonly chunkBytes: number,
    private readonly progress: FoldProgress | undefined,
  ) {
    this.chunk = new Uint8Array(chunkBytes);
  }

  write(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const take = Math.min(bytes.length - offset, this.chunkBytes - this.filled);
      // A piece that fits whole (an order, most of the time) is copied without a view of it.
      const piece = take === bytes.length ? bytes : bytes.subarray(offset, offset + take);
      this.chunk.set(piece, this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.chunkBytes) this.seal();
    }
    this.totalBytes += bytes.length;
  }

  private seal(): void {
    this.pending.push(sealed(this.chunk.subarray(0, this.filled), this.lsn, this.sequence));
    this.sequence++;
    this.filled = 0;
    if (this.pending.length >= SNAPSHOT_CHUNKS_PER_TXN) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.progress?.();
    const first = this.sequence - this.pending.length;
    const chunks = this.store.snapshotChunks;
    chunks.transactionSync(() => {
      for (let i = 0; i < this.pending.length; i++) {
        chunks.putSync([this.lsn, first + i], this.pending[i]);
      }
    });
    this.pending.length = 0;
  }

  finish(): number {
    if (this.filled > 0) this.seal();
    this.flush();
    return this.sequence;
  }
}

/** The array header of `count` entries, as msgpackr writes it. */
function arrayHeader(count: number): Uint8Array {
  const header = new Uint8Array(5);
  return header.subarray(0, writeArrayHead(header, 0, count));
}

/**
 * Writes `packr.pack(state)`, byte for byte, without ever holding it whole: the state with an
 * empty order list (its last key), whose last byte is that empty list, then the list's header
 * and each order packed on its own. MessagePack without records is a plain concatenation, so
 * the bytes are the same; packing a million orders as one value instead grew msgpackr's buffer
 * a quarter at a time past 256 MB, copying it each time (a tenth of a snapshot's CPU).
 * Returns the bytes written.
 */
export function writeState(
  packr: Packr,
  state: EngineState,
  writer: { write(bytes: Uint8Array): void },
): number {
  const keys = Object.keys(state);
  assert(keys[keys.length - 1] === 'orders', "the orders are the state's last key");
  // Borrowed from the packer's buffer: each piece is written out (copied) before the next pack.
  const head = packr.pack({ ...state, orders: [] });
  assert(arrayCountAt(head, head.length - 1) === 0, 'an empty order list packs as one byte');
  let written = head.length - 1;
  writer.write(head.subarray(0, written));
  const header = arrayHeader(state.orders.length);
  writer.write(header);
  written += header.length;
  for (const order of state.orders) {
    const bytes = packr.pack(order);
    writer.write(bytes);
    written += bytes.length;
  }
  return written;
}

/** Orders handed to the engine per call while a snapshot loads. */
const IMPORT_ORDERS_BATCH = 4_096;

/**
 * Reads a packed state laid out as `writeState` writes it (a map whose last key is `orders`)
 * without holding every order at once: `onHead` gets the state with an empty order list, then
 * `onOrders` the orders a batch at a time, so they die young instead of a million of them
 * living through the load. Returns false, having called nothing, when the bytes are laid out
 * otherwise (the caller unpacks them whole).
 */
export function readStateStreaming(
  unpackr: Unpackr,
  bytes: Uint8Array,
  onHead: (state: EngineState) => void,
  onOrders: (orders: EngineState['orders']) => void,
): boolean {
  const entriesAll = mapCountAt(bytes, 0);
  if (entriesAll <= 0) return false;
  const mapHead = headLength(bytes[0]);
  const head: Record<string, unknown> = {};
  let key: string | null = null;
  let entries = 0;
  let ordersAt = -1;
  unpackr.unpackMultiple(bytes.subarray(mapHead), (value, _start, end) => {
    if (key === null) {
      if (typeof value !== 'string') return false;
      if (value === 'orders') {
        if (entries === entriesAll - 1) ordersAt = mapHead + (end ?? 0);
        return false;
      }
      key = value;
      return true;
    }
    head[key] = value;
    key = null;
    entries++;
    return true;
  });
  if (ordersAt < 0) return false;
  const listed = arrayCountAt(bytes, ordersAt);
  if (listed < 0) return false;
  onHead({ ...(head as unknown as EngineState), orders: [] });
  const first = ordersAt + headLength(bytes[ordersAt]);
  let read = 0;
  if (listed > 0) {
    let batch: EngineState['orders'] = [];
    unpackr.unpackMultiple(bytes.subarray(first), (order) => {
      batch.push(order);
      read++;
      if (batch.length === IMPORT_ORDERS_BATCH) {
        onOrders(batch);
        batch = [];
      }
    });
    if (batch.length > 0) onOrders(batch);
  } else if (first !== bytes.length) {
    throw new Error('bytes follow the empty order list');
  }
  if (read !== listed) {
    throw new Error(`the order list holds ${read} orders, its header says ${listed}`);
  }
  return true;
}

function stockBytes(cells: Int32Array): Uint8Array {
  return new Uint8Array(cells.buffer, cells.byteOffset, cells.byteLength);
}

/**
 * Writes the engine's state as the snapshot at `lsn`. The engine must not change meanwhile
 * (it is a private engine folded from the log, never the live one).
 */
export function writeSnapshot(
  store: Store,
  engine: SnapshotableEngine,
  lsn: number,
  createdAt: number,
  durationMs: () => number,
  /** Bytes per chunk; readers take any size (tests write the size of earlier versions). */
  chunkBytes = SNAPSHOT_CHUNK_BYTES,
  /** Called before each chunk transaction; a throw leaves chunks without a manifest behind. */
  progress?: FoldProgress,
): SnapshotManifest {
  assert(store.snapshotManifests.get(lsn) === undefined, `a snapshot at LSN ${lsn} exists`);
  const state = engine.exportState();
  const writer = new ChunkWriter(store, lsn, chunkBytes, progress);
  const stateByteLength = writeState(store.packr, state, writer);
  for (let dc = 0; dc < state.dcs.length; dc++) {
    const cells = engine.exportStockOfDc(dc);
    assert(cells.length === state.skus.length * 2, 'a stock section covers every SKU');
    writer.write(stockBytes(cells));
  }
  const chunkCount = writer.finish();
  const manifest: SnapshotManifest = {
    format: SNAPSHOT_FORMAT_VERSION,
    lsn,
    createdAt,
    durationMs: 0,
    stateBytes: stateByteLength,
    dcCount: state.dcs.length,
    skuCount: state.skus.length,
    chunkCount,
    totalBytes: writer.totalBytes,
  };
  manifest.durationMs = Math.round(durationMs());
  const packed = store.packr.pack(manifest);
  store.snapshotManifests.putSync(lsn, sealed(packed, lsn, MANIFEST_SEQUENCE));
  return manifest;
}

/** Every snapshot's manifest, newest first, with why it is unusable when it is. */
export function listSnapshots(store: Store): ListedSnapshot[] {
  const listed: ListedSnapshot[] = [];
  for (const { key: lsn, value } of store.snapshotManifests.getRange({
    reverse: true,
    snapshot: false,
  })) {
    const bytes = unseal(value, lsn, MANIFEST_SEQUENCE);
    if (bytes === null) {
      listed.push({ lsn, manifest: null, problem: 'the manifest fails its CRC check' });
      continue;
    }
    const manifest = store.unpackr.unpack(bytes) as SnapshotManifest;
    const problem =
      manifest.format !== SNAPSHOT_FORMAT_VERSION
        ? `snapshot format ${manifest.format}, this release reads ${SNAPSHOT_FORMAT_VERSION}`
        : manifest.lsn !== lsn
          ? 'the manifest names another LSN'
          : null;
    listed.push({ lsn, manifest, problem });
  }
  return listed;
}

/** Reads a snapshot's byte stream part by part, checking every chunk. */
class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private sequence = 0;

  constructor(
    private readonly store: Store,
    private readonly manifest: SnapshotManifest,
  ) {}

  /** Fills `target` from the stream; returns a problem, or null. */
  read(target: Uint8Array): string | null {
    let filled = 0;
    while (filled < target.length) {
      if (this.offset === this.chunk.length) {
        const problem = this.next();
        if (problem !== null) return problem;
      }
      const take = Math.min(target.length - filled, this.chunk.length - this.offset);
      target.set(this.chunk.subarray(this.offset, this.offset + take), filled);
      filled += take;
      this.offset += take;
    }
    return null;
  }

  private next(): string | null {
    const { lsn, chunkCount } = this.manifest;
    if (this.sequence >= chunkCount) return `the stream is longer than its ${chunkCount} chunks`;
    const bytes = unseal(
      this.store.snapshotChunks.getBinary([lsn, this.sequence]),
      lsn,
      this.sequence,
    );
    if (bytes === null) return `chunk ${this.sequence} is missing or fails its CRC check`;
    this.chunk = bytes;
    this.offset = 0;
    this.sequence++;
    return null;
  }

  atEnd(): boolean {
    return this.sequence === this.manifest.chunkCount && this.offset === this.chunk.length;
  }
}

/** Checks every chunk of a snapshot without loading it; returns a problem, or null. */
export function checkSnapshot(store: Store, manifest: SnapshotManifest): string | null {
  const reader = new ChunkReader(store, manifest);
  const scratch = new Uint8Array(SNAPSHOT_CHUNK_BYTES);
  let remaining = manifest.totalBytes;
  if (
    manifest.totalBytes !==
    manifest.stateBytes + manifest.dcCount * manifest.skuCount * STOCK_CELL_BYTES
  ) {
    return 'the manifest sizes do not add up';
  }
  while (remaining > 0) {
    const take = Math.min(remaining, scratch.length);
    const problem = reader.read(scratch.subarray(0, take));
    if (problem !== null) return problem;
    remaining -= take;
  }
  return reader.atEnd() ? null : 'chunks remain after the stream';
}

/** Loads a checked snapshot into a fresh engine; returns a problem, or null. */
export function loadSnapshot(
  store: Store,
  manifest: SnapshotManifest,
  engine: SnapshotableEngine,
  /** Called before each batch of orders and each DC's stock; its SnapshotCancelled goes through. */
  progress?: FoldProgress,
): string | null {
  const reader = new ChunkReader(store, manifest);
  const stateBytes = new Uint8Array(manifest.stateBytes);
  const problem = reader.read(stateBytes);
  if (problem !== null) return problem;
  // The engine's refusals are kept apart from the bytes' own problems.
  let refused: unknown = null;
  let mismatched = false;
  const load = (step: () => void) => {
    if (refused !== null || mismatched) return;
    progress?.();
    try {
      step();
    } catch (error) {
      refused = error;
    }
  };
  const head = (state: EngineState) => {
    mismatched = state.dcs.length !== manifest.dcCount || state.skus.length !== manifest.skuCount;
    load(() => engine.importState(state));
  };
  try {
    const streamed = readStateStreaming(store.unpackr, stateBytes, head, (orders) =>
      load(() => engine.importOrders(orders)),
    );
    if (!streamed) head(store.unpackr.unpack(stateBytes) as EngineState);
  } catch (error) {
    if (error instanceof SnapshotCancelled) throw error;
    return `the state does not decode: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (mismatched) return 'the state does not match its manifest';
  const cells = new Int32Array(manifest.skuCount * 2);
  for (let dc = 0; dc < manifest.dcCount && refused === null; dc++) {
    const stockProblem = reader.read(stockBytes(cells));
    if (stockProblem !== null) return stockProblem;
    load(() => engine.importStockOfDc(dc, cells));
  }
  if (refused === null) return null;
  // The engine's refusals carry a code (SnapshotImportError); keep it in the problem.
  const code = (refused as { code?: unknown }).code;
  const why = refused instanceof Error ? refused.message : String(refused);
  return `the engine refused the snapshot: ${typeof code === 'string' ? `${code}: ` : ''}${why}`;
}

/**
 * Removes a snapshot: the manifest first, so a half-removed snapshot is never listed. With
 * `stop`, it may end between transactions, leaving chunks without a manifest (orphans, which
 * the next `pruneAndCompact` removes): false then.
 */
export function deleteSnapshot(store: Store, lsn: number, stop?: () => boolean): boolean {
  store.snapshotManifests.removeSync(lsn);
  for (;;) {
    if (stop?.() === true) return false;
    const keys = [
      ...store.snapshotChunks.getKeys({
        start: [lsn, 0],
        end: [lsn + 1, 0],
        limit: COMPACT_DELETES_PER_TXN,
        snapshot: false,
      }),
    ];
    if (keys.length === 0) return true;
    store.snapshotChunks.transactionSync(() => {
      for (const key of keys) store.snapshotChunks.removeSync(key);
    });
  }
}

/**
 * The LSNs of chunks that no manifest names: what a fold left when it was stopped, or when
 * its process died, before it wrote its manifest. One lookup per distinct LSN.
 */
export function orphanChunkLsns(store: Store): number[] {
  const orphans: number[] = [];
  let start: [number, number] = [0, 0];
  for (;;) {
    let first: unknown;
    for (const key of store.snapshotChunks.getKeys({ start, limit: 1, snapshot: false })) {
      first = key;
    }
    if (!Array.isArray(first) || typeof first[0] !== 'number') return orphans;
    const lsn = first[0];
    if (store.snapshotManifests.get(lsn) === undefined) orphans.push(lsn);
    start = [lsn + 1, 0];
  }
}

/**
 * Deletes log records with LSN ≤ `throughLsn`, oldest first; returns how many. With `stop`, it
 * may end between transactions (the rest is compacted next time).
 */
export function compactLog(store: Store, throughLsn: number, stop?: () => boolean): number {
  let deleted = 0;
  for (;;) {
    if (stop?.() === true) return deleted;
    const keys = [
      ...store.log.getKeys({
        end: throughLsn + 1,
        limit: COMPACT_DELETES_PER_TXN,
        snapshot: false,
      }),
    ];
    if (keys.length === 0) return deleted;
    store.log.transactionSync(() => {
      for (const key of keys) store.log.removeSync(key);
    });
    deleted += keys.length;
  }
}

/**
 * Keeps the newest SNAPSHOTS_KEPT usable snapshots, removes the rest (and unusable ones older
 * than the newest usable), and compacts the log up to the oldest one kept: the log stays
 * complete from that snapshot on, so recovery can fall back to it if the newest is damaged,
 * and `verify` can check the newest against it. The newest `retainRecords` records are kept
 * whatever the snapshots: they are the window the order event stream replays from.
 */
export function pruneAndCompact(
  store: Store,
  retainRecords = 0,
  /** True ends the work between transactions; what is left is done by the next call. */
  stop?: () => boolean,
): {
  removedSnapshots: number;
  removedOrphans: number;
  deletedRecords: number;
} {
  let removedOrphans = 0;
  for (const lsn of orphanChunkLsns(store)) {
    if (deleteSnapshot(store, lsn, stop)) removedOrphans++;
  }
  const listed = listSnapshots(store);
  const kept: number[] = [];
  let removedSnapshots = 0;
  for (const entry of listed) {
    if (entry.problem === null && kept.length < SNAPSHOTS_KEPT) {
      kept.push(entry.lsn);
      continue;
    }
    if (kept.length === 0) continue;
    deleteSnapshot(store, entry.lsn, stop);
    removedSnapshots++;
  }
  const none = { removedSnapshots, removedOrphans, deletedRecords: 0 };
  if (kept.length < SNAPSHOTS_KEPT) return none;
  let through = kept[kept.length - 1];
  if (retainRecords > 0) {
    const last = logBounds(store)?.last ?? 0;
    through = Math.min(through, last - retainRecords);
  }
  if (through <= 0) return none;
  return { removedSnapshots, removedOrphans, deletedRecords: compactLog(store, through, stop) };
}

export interface SnapshotBase {
  /** The newest usable snapshot the log continues from; null to replay from LSN 1. */
  manifest: SnapshotManifest | null;
  /** Newer snapshots passed over, with why. */
  skipped: { lsn: number; problem: string }[];
}

/**
 * Chooses where a replay starts: the newest snapshot that is usable, whose chunks all check,
 * and that the log continues without a gap (the log's first record is at most its LSN + 1).
 * Null manifest with no problem means "from the start": allowed only while the log starts
 * at LSN 1 (or is empty and no snapshot ever existed).
 */
export function chooseBase(
  store: Store,
  logFirstLsn: number | null,
):
  | { ok: true; base: SnapshotBase }
  | { ok: false; problem: string; skipped: SnapshotBase['skipped'] } {
  const skipped: SnapshotBase['skipped'] = [];
  for (const entry of listSnapshots(store)) {
    let problem = entry.problem;
    const manifest = entry.manifest;
    if (problem === null && manifest !== null) {
      if (logFirstLsn !== null && logFirstLsn > manifest.lsn + 1) {
        problem = `the log starts at LSN ${logFirstLsn}, after this snapshot`;
      } else {
        problem = checkSnapshot(store, manifest);
      }
      if (problem === null) return { ok: true, base: { manifest, skipped } };
    }
    skipped.push({ lsn: entry.lsn, problem: problem ?? 'unusable' });
  }
  if (logFirstLsn !== null && logFirstLsn > 1) {
    return {
      ok: false,
      problem: `the log starts at LSN ${logFirstLsn}; no usable snapshot covers what precedes it`,
      skipped,
    };
  }
  if (skipped.length > 0 && logFirstLsn === null) {
    return { ok: false, problem: 'every snapshot is unusable and the log is empty', skipped };
  }
  return { ok: true, base: { manifest: null, skipped } };
}
