/**
 * Messages between the main thread and the worker threads, and the small shared state word
 * array both read. The main thread owns the catalogue's index assignment, the expiry sweep and
 * the node's lifecycle; workers own connections and run every other operation themselves.
 *
 * Invariants: every message is structured-cloneable (plain data and SharedArrayBuffers); each
 * request that expects an answer carries an id unique per sender; the shared state words are
 * touched only through Atomics, and only the main thread stores them.
 */

import type { ErrorBody, RegionOwner } from '../protocol/index.js';
import type { ConnectionCaps } from './connection-limits.js';
import type { WorkerCluster } from './ownership-check.js';
import type { FaultInjection } from './operations.js';
import type { LogRecord } from '../engine/index.js';
import type { DurabilityPolicy } from '../wal/index.js';
import type { KeyTable } from './keys.js';
import type { LogLevel } from './logger.js';
import type { MetricsReport } from './metrics.js';
import type { RateLimit } from './rate-limiter.js';
import type { TlsOptions } from './tls.js';

export type CatalogueRecord = Extract<LogRecord, { type: 'dc' | 'sku' }>;

/** A catalogue change forwarded to the main thread: `upsertDc` or `upsertSku`, checked args. */
export interface UpsertRequest {
  type: 'upsert';
  requestId: number;
  op: 'upsertDc' | 'upsertSku';
  args: unknown;
  actor: string;
  reason?: string;
}

export type UpsertOutcome = { ok: true; value: unknown } | { ok: false; error: ErrorBody };

export type MainToWorker =
  | { type: 'listen'; port: number }
  | { type: 'catalogue'; sequence: number; record: CatalogueRecord }
  | { type: 'upsert-result'; requestId: number; outcome: UpsertOutcome }
  /** Stop accepting, finish in-flight requests, then report 'drained'. */
  | { type: 'drain'; deadlineMs: number }
  /** Close every connection and exit. */
  | { type: 'close' }
  /**
   * Serve this key set from now on (a reload): close the connections of keys it no longer
   * has, then report 'keys-applied' with its generation.
   */
  | { type: 'keys'; table: KeyTable }
  /** Report metrics now ('metrics-report' with the same id). */
  | { type: 'metrics-collect'; collectId: number }
  /** The answer to a worker's 'metrics-request': the text, or null when metrics failed. */
  | { type: 'metrics-text'; requestId: number; text: string | null }
  /** The region's owner changed (cluster nodes): NOT_OWNER answers name it. */
  | { type: 'cluster-owner'; owner: RegionOwner | null };

export type WorkerToMain =
  | { type: 'attached'; threadId: number }
  | { type: 'listening'; port: number }
  | { type: 'listen-failed'; port: number }
  | UpsertRequest
  | { type: 'catalogue-ack'; sequence: number }
  | { type: 'drained'; unanswered: number }
  /** The worker serves key generation `generation`; `closed` connections of removed keys. */
  | { type: 'keys-applied'; generation: number; closed: number }
  | { type: 'fatal'; message: string }
  /** A broken invariant: the node must stop and recover from its log on restart. */
  | { type: 'invariant'; message: string }
  | { type: 'metrics-report'; collectId: number; report: MetricsReport }
  /** A /metrics scrape reached this worker: the main thread collects, renders and answers. */
  | { type: 'metrics-request'; requestId: number };

/** What a worker needs to attach to the node: passed as its workerData. */
export interface WorkerInit {
  index: number;
  /** Workers the node runs (for readiness). */
  threads: number;
  host: string;
  /** Shared memory of the engine (Engine.shared()). */
  engineShared: unknown;
  /** Catalogue as of the worker's start; later changes arrive as 'catalogue' messages. */
  catalogue: CatalogueRecord[];
  /** Shared memory of the write-ahead log's ring (SharedLog.shared()). */
  logShared: unknown;
  durability: DurabilityPolicy;
  /** The keys to serve, as digests with their slots; later sets arrive as 'keys' messages. */
  keyTable: KeyTable;
  /** Per WebSocket connection. */
  rateLimit: RateLimit;
  /** Per API key, unless its key file entry overrides it. */
  keyRateLimit: RateLimit;
  /** The shared per-key token buckets (rate-limiter.ts). */
  keyBuckets: SharedArrayBuffer;
  /** Serve TLS (SSLApp) with these files, checked by the main thread; null: plain App. */
  tls: TlsOptions | null;
  nodeName: string;
  logLevel: LogLevel;
  allowJsFallback: boolean;
  /** NodeState words (see below). */
  state: SharedArrayBuffer;
  /** Name of the node's BroadcastChannel for changed cells and alerts (change-feed.ts). */
  feedChannel: string;
  /** The shared order event ring (order-event-ring.ts). */
  orderEvents: SharedArrayBuffer;
  /** The log's directory: order subscribers that replay read it (order-stream.ts). */
  logDir: string;
  /** False with --no-metrics: nothing is recorded and /metrics answers 404. */
  metrics: boolean;
  /** True with --metrics-open: /metrics needs no key. */
  metricsOpen: boolean;
  subscriberBufferBytesMax: number;
  /** Faults to inject, for tests only (never set by the command line). */
  faults: FaultInjection | null;
  /** Shared connection counters (connection-limits.ts) and the caps they enforce. */
  connectionCounts: SharedArrayBuffer;
  connectionCaps: ConnectionCaps;
  /** The region ownership gate of a cluster node (ownership-check.ts); null standalone. */
  cluster: WorkerCluster | null;
}

// NodeState: an Int32Array over a small SharedArrayBuffer. Only the main thread stores; workers
// load with Atomics (sequentially consistent, so a worker that sees READY also sees everything
// the main thread did before storing it).

/** 1 once recovery finished and every worker listens; 0 before and while shutting down. */
export const STATE_READY = 0;
/** 1 once shutdown began: workers refuse new requests with SHUTTING_DOWN. */
export const STATE_SHUTTING_DOWN = 1;
/** Workers that are listening. */
export const STATE_WORKERS_LISTENING = 2;
export const STATE_WORDS = 4;

export function createNodeState(): SharedArrayBuffer {
  return new SharedArrayBuffer(STATE_WORDS * Int32Array.BYTES_PER_ELEMENT);
}
