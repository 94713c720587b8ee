/**
 * The LMDB environment under a data directory, and its named databases:
 *
 *   meta               'format' → DataMeta (msgpack): whose directory this is, its version, the
 *                      engine configuration the data was written with
 *                      'writer' → WriterInfo (msgpack): the current writer session, who and
 *                      since which LSN; 'writer-session' → that session as a u32 (LE), which
 *                      the writer checks in every batch transaction (its fence)
 *   log                LSN (number) → stored record (record.ts)
 *   snapshot-manifests LSN → SnapshotManifest (msgpack), written after all of its chunks
 *   snapshot-chunks    [LSN, chunk index] → bytes of the packed engine state
 *
 * Every thread that opens the store (recovery, the writer, the snapshot worker, the CLI) opens it
 * through `openStore`, with every lmdb option spelled out: lmdb-js shares one environment per
 * process between threads, and its defaults for sync and map size differ by OS and version.
 *
 * Invariant: values are raw bytes ('binary' encoding); anything structured is packed here with
 * explicit msgpackr options, so no lmdb-js shared-structure state ever lives in the database.
 */

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { Packr, Unpackr } from 'msgpackr';
import type { EngineConfig } from '../engine/index.js';
import {
  DATA_FORMAT_VERSION,
  DATA_MAGIC,
  type DurabilityPolicy,
  STORE_DBS_MAX,
  STORE_MAP_BYTES_INITIAL,
  STORE_READERS_MAX,
  WRITER_SESSION_RANGE,
} from './constants.js';

export const DB_META = 'meta';
export const DB_LOG = 'log';
export const DB_SNAPSHOT_MANIFESTS = 'snapshot-manifests';
export const DB_SNAPSHOT_CHUNKS = 'snapshot-chunks';
const META_KEY = 'format';
const WRITER_INFO_KEY = 'writer';
const WRITER_SESSION_KEY = 'writer-session';
/** The databases every store of ours has from its creation on. */
export const STORE_DATABASES = [
  DB_META,
  DB_LOG,
  DB_SNAPSHOT_MANIFESTS,
  DB_SNAPSHOT_CHUNKS,
] as const;

/** Files LMDB keeps in its directory; anything else there means the directory is not ours. */
export const STORE_FILES = ['data.mdb', 'lock.mdb'] as const;
/**
 * LMDB's meta page magic, a little-endian u32 right after page 0's header. The header is 16
 * bytes in upstream LMDB and 20 in the fork lmdb-js ships, so the magic is looked for in the
 * first words of the file.
 */
const LMDB_MAGIC = 0xbeefc0de;
const LMDB_MAGIC_SEARCH_BYTES = 64;
const STORE_PAGE_BYTES = 4096;

export const STRUCTURED_OPTIONS = {
  useRecords: false,
  moreTypes: true,
  structuredClone: false,
  bundleStrings: false,
  useFloat32: 0,
  variableMapSize: false,
  useTimestamp32: false,
  encodeUndefinedAsNil: false,
} as const;

export interface DataMeta {
  magic: string;
  formatVersion: number;
  /** Random ids made when the directory was created: a standby proves it follows this log. */
  clusterId: string;
  nodeId: string;
  createdAt: number;
  /** The configuration the data was written with; capacities may grow, never shrink. */
  engineConfig: EngineConfig;
}

export interface StoreOptions {
  /** The data directory (LMDB keeps data.mdb and lock.mdb in it). */
  path: string;
  policy: DurabilityPolicy;
  /** Open without write access (the CLI's info and export). */
  readOnly?: boolean;
}

export interface Store {
  readonly env: RootDatabase;
  readonly meta: Database<Buffer, string>;
  readonly log: Database<Buffer, number>;
  readonly snapshotManifests: Database<Buffer, number>;
  readonly snapshotChunks: Database<Buffer, [number, number]>;
  readonly packr: Packr;
  readonly unpackr: Unpackr;
  close(): Promise<void>;
}

/** Opens the environment only, to look at which databases exist before creating any. */
export function openEnvironment(options: StoreOptions): RootDatabase {
  // Sync: `fsync` needs both the data and the meta page flushed at each commit; the other two
  // policies let the OS write back (a process crash keeps committed data, a power loss may not).
  const noSync = options.policy !== 'fsync';
  return open({
    path: options.path,
    noSubdir: false,
    mapSize: STORE_MAP_BYTES_INITIAL,
    pageSize: STORE_PAGE_BYTES,
    maxDbs: STORE_DBS_MAX,
    maxReaders: STORE_READERS_MAX,
    noSync,
    noMetaSync: noSync,
    overlappingSync: false,
    useWritemap: false,
    remapChunks: false,
    noMemInit: false,
    readOnly: options.readOnly ?? false,
    compression: false,
    encoding: 'binary',
    keyEncoding: 'ordered-binary',
    cache: false,
    eventTurnBatching: false,
    commitDelay: 0,
  });
}

/** Names of the named databases present in an environment. */
export function databaseNames(env: RootDatabase): string[] {
  const names: string[] = [];
  for (const key of env.getKeys({ snapshot: false })) {
    if (typeof key === 'string') names.push(key);
  }
  return names;
}

function openDb<K extends string | number | [number, number]>(
  env: RootDatabase,
  name: string,
): Database<Buffer, K> {
  return env.openDB<Buffer, K>(name, {
    encoding: 'binary',
    keyEncoding: 'ordered-binary',
    compression: false,
    cache: false,
    useVersions: false,
    dupSort: false,
  });
}

/** Opens (creating when writable and missing) every database of the store. */
export function openStore(options: StoreOptions): Store {
  return storeFromEnvironment(openEnvironment(options));
}

export function storeFromEnvironment(env: RootDatabase): Store {
  const store: Store = {
    env,
    meta: openDb<string>(env, DB_META),
    log: openDb<number>(env, DB_LOG),
    snapshotManifests: openDb<number>(env, DB_SNAPSHOT_MANIFESTS),
    snapshotChunks: openDb<[number, number]>(env, DB_SNAPSHOT_CHUNKS),
    packr: new Packr(STRUCTURED_OPTIONS),
    unpackr: new Unpackr({ ...STRUCTURED_OPTIONS, mapsAsObjects: true, int64AsType: 'number' }),
    close: () => env.close(),
  };
  return store;
}

export function makeMeta(engineConfig: EngineConfig, now: number, ids: [string, string]): DataMeta {
  return {
    magic: DATA_MAGIC,
    formatVersion: DATA_FORMAT_VERSION,
    clusterId: ids[0],
    nodeId: ids[1],
    createdAt: now,
    engineConfig: { ...engineConfig },
  };
}

export function writeMeta(store: Store, meta: DataMeta): void {
  store.meta.putSync(META_KEY, Buffer.from(store.packr.pack(meta)));
}

/** Who writes the log: one session per writer start. */
export interface WriterInfo {
  session: number;
  pid: number;
  host: string;
  startedAt: number;
  /** The first LSN this session writes. */
  firstLsn: number;
}

/** The registered writer session, 0 when none was ever registered. */
export function readWriterSession(store: Store): number {
  const bytes = store.meta.getBinary(WRITER_SESSION_KEY);
  return bytes === undefined || bytes.length !== 4 ? 0 : bytes.readUInt32LE(0);
}

export function readWriterInfo(store: Store): WriterInfo | null {
  const bytes = store.meta.getBinary(WRITER_INFO_KEY);
  if (bytes === undefined) return null;
  try {
    return store.unpackr.unpack(bytes) as WriterInfo;
  } catch {
    return null;
  }
}

/**
 * Registers a new writer session (the previous one plus one, never 0) in one synchronous
 * transaction and returns it. From this commit on, a writer of any earlier session is fenced.
 */
export function registerWriterSession(store: Store, firstLsn: number): number {
  return store.meta.transactionSync(() => {
    const session = (readWriterSession(store) % (WRITER_SESSION_RANGE - 1)) + 1;
    const info: WriterInfo = {
      session,
      pid: process.pid,
      host: hostname(),
      startedAt: Date.now(),
      firstLsn,
    };
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(session, 0);
    store.meta.putSync(WRITER_SESSION_KEY, bytes);
    store.meta.putSync(WRITER_INFO_KEY, Buffer.from(store.packr.pack(info)));
    return session;
  });
}

/**
 * Makes the next registered writer session follow `session`: a cluster standby appends the
 * primary's records verbatim (with the primary's sessions), so before it writes records of
 * its own its session must move past the last one in its log, or recovery would read the log
 * as written by two writers at once.
 */
export function raiseWriterSession(store: Store, session: number): void {
  store.meta.transactionSync(() => {
    const current = readWriterSession(store);
    if (current !== 0 && !sessionAfter(session, current)) return;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(session, 0);
    store.meta.putSync(WRITER_SESSION_KEY, bytes);
  });
}

/** True when session `next` is later than `current` (they wrap; see record.ts). */
function sessionAfter(next: number, current: number): boolean {
  const step = (next - current + WRITER_SESSION_RANGE) % WRITER_SESSION_RANGE;
  return step > 0 && step < WRITER_SESSION_RANGE / 2;
}

/** The stored meta, or null when absent or not decodable. */
export function readMeta(store: Store): DataMeta | null {
  const bytes = store.meta.getBinary(META_KEY);
  if (bytes === undefined) return null;
  try {
    const meta = store.unpackr.unpack(bytes) as DataMeta;
    return typeof meta === 'object' && meta !== null ? meta : null;
  } catch {
    return null;
  }
}

/** First and last LSN in the log, or null when it is empty. */
export function logBounds(store: Store): { first: number; last: number } | null {
  let first: number | undefined;
  let last: number | undefined;
  for (const key of store.log.getKeys({ limit: 1, snapshot: false })) first = key;
  for (const key of store.log.getKeys({ limit: 1, reverse: true, snapshot: false })) last = key;
  if (first === undefined || last === undefined) return null;
  return { first, last };
}

/** Bytes of the data file the environment has used (its high-water mark). */
export function storeUsedBytes(env: RootDatabase): number {
  const stats = env.getStats() as { lastPageNumber: number; pageSize: number };
  return (stats.lastPageNumber + 1) * stats.pageSize;
}

export type DirectoryState =
  | { kind: 'empty' }
  | { kind: 'store' }
  | { kind: 'foreign'; reason: string };

/** Looks at a data directory without changing it: empty (or absent), an LMDB store, or not. */
export function inspectDirectory(path: string): DirectoryState {
  let names: string[];
  try {
    if (!statSync(path).isDirectory()) return { kind: 'foreign', reason: `${path} is a file` };
    names = readdirSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'empty' };
    throw error;
  }
  if (names.length === 0) return { kind: 'empty' };
  const strangers = names.filter((name) => !(STORE_FILES as readonly string[]).includes(name));
  if (strangers.length > 0) {
    return { kind: 'foreign', reason: `unexpected files: ${strangers.slice(0, 5).join(', ')}` };
  }
  if (!names.includes('data.mdb')) return { kind: 'foreign', reason: 'no data.mdb' };
  const header = Buffer.alloc(LMDB_MAGIC_SEARCH_BYTES);
  const fd = openSync(join(path, 'data.mdb'), 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  for (let offset = 0; offset + 4 <= read; offset += 4) {
    if (header.readUInt32LE(offset) === LMDB_MAGIC) return { kind: 'store' };
  }
  return { kind: 'foreign', reason: 'data.mdb is not an LMDB environment' };
}
