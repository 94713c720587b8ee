/**
 * The cluster's NATS JetStream resources, created on first use and opened after: the owners
 * bucket (a KV bucket whose TTL is the lease), the regions bucket, and one log stream per
 * region. Every option is passed explicitly (STYLE.md 8): replicas, storage, limits, discard
 * policy, duplicate window.
 *
 * Replicas are min(3, servers in the NATS cluster): a quorum of a 3-server cluster survives
 * one server's loss. JetStream 2.9 acknowledges a publish once a quorum holds it in memory;
 * it fsyncs on its own interval (default two minutes), not per message, so a simultaneous
 * power loss of a quorum can lose acknowledged messages (ARCHITECTURE.md, "Cluster").
 *
 * Invariant: a bucket or stream that exists is never reconfigured here; its settings win (a
 * node reads the lease from the owners bucket, so every node of a cluster agrees on it).
 */

import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamInfo,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  ExitCodes,
  logStreamName,
  logSubject,
  OWNERS_BUCKET,
  REGIONS_BUCKET,
  retrying,
} from '../protocol/index.js';
import {
  JETSTREAM_REPLICAS_MAX,
  LOG_STREAM_DUPLICATE_WINDOW_MS,
  NATS_CONNECT_TIMEOUT_MS,
  NATS_PAYLOAD_BYTES_MIN,
  NATS_RECONNECT_WAIT_MS,
  NATS_REQUEST_TIMEOUT_MS,
} from './constants.js';

const NANOS_PER_MS = 1_000_000;
/** JetStream API error code: stream not found. */
const STREAM_NOT_FOUND = 10059;

export interface ClusterConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly owners: KV;
  readonly regions: KV;
  /** Replicas of the buckets and streams this connection creates. */
  readonly replicas: number;
  /** The lease, from the owners bucket's TTL (ms). */
  readonly leaseMs: number;
  /** Largest message the servers accept. */
  readonly payloadBytesMax: number;
  close(): Promise<void>;
}

export interface ConnectClusterOptions {
  servers: string[];
  /** Shown in the servers' connection list. */
  name: string;
  /** TTL of the owners bucket when this connection creates it. */
  leaseMs: number;
}

export class ClusterSetupError extends Error {
  readonly code = 'CLUSTER_SETUP';
  /** sysexits EX_CONFIG: the NATS servers are not set up as the cluster needs. */
  readonly exitCode = ExitCodes.CONFIG;
}

/** The NATS servers could not be reached at start. */
export class ClusterUnavailableError extends Error {
  readonly code = 'CLUSTER_UNAVAILABLE';
  /** sysexits EX_UNAVAILABLE. */
  readonly exitCode = ExitCodes.UNAVAILABLE;
}

/** Connects, and opens (creating when missing) the owners and regions buckets. */
export async function connectCluster(options: ConnectClusterOptions): Promise<ClusterConnection> {
  const nc = await connect({
    servers: options.servers,
    name: options.name,
    timeout: NATS_CONNECT_TIMEOUT_MS,
    maxReconnectAttempts: -1,
    reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
    waitOnFirstConnect: false,
  }).catch((error: unknown) => {
    throw new ClusterUnavailableError(
      `cannot reach the NATS servers ${options.servers.join(', ')}: ${String(error)}`,
    );
  });
  try {
    const payloadBytesMax = nc.info?.max_payload ?? 0;
    if (payloadBytesMax < NATS_PAYLOAD_BYTES_MIN) {
      throw new ClusterSetupError(
        `the NATS servers accept messages of ${payloadBytesMax} bytes; the log needs ` +
          `max_payload ≥ ${NATS_PAYLOAD_BYTES_MIN} (one group commit per message)`,
      );
    }
    const servers = nc.info?.connect_urls?.length ?? 1;
    const replicas = Math.max(1, Math.min(JETSTREAM_REPLICAS_MAX, servers));
    const js = jetstream(nc, { timeout: NATS_REQUEST_TIMEOUT_MS });
    const jsm = await jetstreamManager(nc, { timeout: NATS_REQUEST_TIMEOUT_MS });
    const kvm = new Kvm(js);
    const owners = await retrying(
      () => openOrCreateBucket(kvm, OWNERS_BUCKET, replicas, options.leaseMs),
      SETUP_RETRY,
    );
    const regions = await retrying(
      () => openOrCreateBucket(kvm, REGIONS_BUCKET, replicas, 0),
      SETUP_RETRY,
    );
    const status = await owners.status();
    const leaseMs = status.ttl;
    if (!(leaseMs > 0)) {
      throw new ClusterSetupError(`bucket ${OWNERS_BUCKET} has no TTL; it cannot hold leases`);
    }
    return {
      nc,
      js,
      jsm,
      owners,
      regions,
      replicas,
      leaseMs,
      payloadBytesMax,
      close: async () => {
        if (!nc.isClosed()) await nc.close();
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}

/**
 * Creating a replicated bucket or stream fails with "no suitable peers for placement" until the
 * NATS servers have formed their cluster (just started, or one restarting), and its API
 * requests time out during a leader election: tried for about 5 s before the error stands.
 */
const SETUP_RETRY = { attempts: 20, pauseMs: 250 } as const;

async function openOrCreateBucket(
  kvm: Kvm,
  name: string,
  replicas: number,
  ttlMs: number,
): Promise<KV> {
  return kvm.create(name, {
    replicas,
    history: 1,
    ttl: ttlMs,
    storage: StorageType.File,
    max_bytes: -1,
    maxValueSize: -1,
  });
}

/** Opens a region's log stream, creating it (kept whole: no age or size limit) when missing. */
export function ensureLogStream(
  connection: ClusterConnection,
  region: string,
): Promise<StreamInfo> {
  return retrying(() => openOrCreateLogStream(connection, region), SETUP_RETRY);
}

async function openOrCreateLogStream(
  connection: ClusterConnection,
  region: string,
): Promise<StreamInfo> {
  const name = logStreamName(region);
  const existing = await streamInfo(connection.jsm, name);
  if (existing !== null) return existing;
  try {
    return await connection.jsm.streams.add({
      name,
      subjects: [logSubject(region)],
      num_replicas: connection.replicas,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_bytes: -1,
      max_msgs: -1,
      max_msg_size: -1,
      duplicate_window: LOG_STREAM_DUPLICATE_WINDOW_MS * NANOS_PER_MS,
      allow_direct: true,
      deny_delete: true,
      deny_purge: false,
    });
  } catch (error) {
    // Another node created it at the same moment: use theirs.
    const created = await streamInfo(connection.jsm, name);
    if (created !== null) return created;
    throw error;
  }
}

/** The stream's info, or null when it does not exist. */
export async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND) return null;
    throw error;
  }
}
