/**
 * The edge's side of a cluster node (`--region`, `--nats`): opens the node's log through its
 * region membership (cluster/) instead of alone, gives the node the same `NodeLog` it runs on
 * standalone, and renders the cluster's series for /metrics. The node loads this module only
 * when it joins a cluster, so a standalone node never loads the NATS client.
 *
 * Invariant: a cluster node never seeds at open (a region is seeded once, by its first owner,
 * through its log, so the standbys receive it).
 */

import { type EngineConfig, resolveConfig, resolveConfigOver } from '../engine/index.js';
import { METROS, type MetroName } from '../engine/testing/index.js';
import type { RegionOwner } from '../protocol/index.js';
import {
  ClusterMember,
  type MemberStats,
  REPLICATION_LAG_BUCKETS_SECONDS,
} from '../cluster/index.js';
import type { ReplicationMode, WalLogger } from '../wal/index.js';
import type { NodeOptions } from './config.js';
import type { Logger } from './logger.js';
import type { WorkerCluster } from './ownership-check.js';
import type { CatalogueRecord } from './thread-messages.js';
import { formatValue, PrometheusWriter } from './prometheus-text.js';
import { type NodeLog, type OpenedNodeLog, threadLogOf } from './wal-port.js';

/** How a node joins a cluster (NodeOptions.cluster; null runs it alone). */
export interface ClusterOptions {
  /** The region this node serves: a metro id (engine/testing/metros.ts) such as `bengaluru`. */
  region: string;
  /** NATS server URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string[];
  replication: ReplicationMode;
  /** The lease, if this node creates the owners bucket (an existing bucket's TTL wins). */
  leaseMs: number;
  /** The WebSocket URL clients should use for this node; derived from host and port if null. */
  advertise: string | null;
}

export interface OpenedClusterLog extends OpenedNodeLog {
  member: ClusterMember;
}

function walLoggerOf(logger: Logger): WalLogger {
  return {
    log: (level, message, fields) => logger[level](message, { scope: 'cluster', ...fields }),
  };
}

/** The display name of a region: its metro's, or its id. */
export function regionName(region: string): string {
  return Object.hasOwn(METROS, region) ? METROS[region as MetroName].displayName : region;
}

/**
 * Opens the log as a member of `cluster.region`: matched to the region's stream, recovered,
 * following it as a standby until `member.begin` (after the node listens) takes over or not.
 */
export async function openClusterNodeLog(
  options: NodeOptions,
  cluster: ClusterOptions,
  dir: string,
  engineConfig: Partial<EngineConfig>,
  logger: Logger,
): Promise<OpenedClusterLog> {
  const member = await ClusterMember.open({
    region: cluster.region,
    regionName: regionName(cluster.region),
    servers: cluster.servers,
    replication: cluster.replication,
    leaseMs: cluster.leaseMs,
    logDir: dir,
    policy: options.fsync,
    engineConfig: (stored) =>
      stored === null
        ? resolveConfig(engineConfig)
        : resolveConfigOver(stored, options.engineConfig),
    clock: options.clock,
    logger: walLoggerOf(logger),
  });
  const wal = member.wal;
  let closing: Promise<void> | null = null;
  const log: NodeLog = {
    describe: (serves) => wal.lock.describe(serves),
    thread: threadLogOf(wal.log),
    ringBuffer: wal.ringBuffer,
    policy: wal.policy,
    durableLsn: () => member.durableLsn(),
    reader: () => wal.logReader(),
    writerThreadId: () => wal.writerThreadId,
    // Snapshots stop at what the stream acknowledged: a snapshot must never hold a record a
    // later owner might not have (the node could then not rejoin as a standby).
    snapshot: () => wal.snapshot(member.snapshotLsn()),
    cancelSnapshot: () => wal.cancelSnapshot(),
    close: () => {
      closing ??= member.close();
      return closing;
    },
  };
  const report = {
    created: wal.created,
    snapshotLsn: 0,
    skippedSnapshots: [],
    replayed: 0,
    tornTail: null,
    lastLsn: member.durableLsn(),
    expired: 0,
    durationMs: 0,
  };
  return { engine: member.engine, log, fresh: false, report, member };
}

const ROLES = ['standby', 'primary', 'deposed'] as const;

/** The cluster's series for /metrics (appended to the node's own). */
export function renderClusterMetrics(stats: MemberStats): string {
  const out = new PrometheusWriter();
  const region = { region: stats.region };
  out.family('inventory_cluster_role', 'gauge', "1 for this node's role in its region.");
  for (const role of ROLES) {
    out.sample('inventory_cluster_role', { ...region, role }, stats.role === role ? 1 : 0);
  }
  out.family('inventory_cluster_epoch', 'gauge', 'Epoch of this node as owner (0 if never).');
  out.sample('inventory_cluster_epoch', region, stats.epoch);
  out.family(
    'inventory_cluster_lease_remaining_seconds',
    'gauge',
    'Time before a primary stops accepting writes unless it renews.',
  );
  out.sample('inventory_cluster_lease_remaining_seconds', region, stats.leaseRemainingMs / 1000);
  out.family('inventory_cluster_takeovers_total', 'counter', 'Takeovers by this process.');
  out.sample('inventory_cluster_takeovers_total', region, stats.takeovers);
  const follower = stats.follower;
  out.family(
    'inventory_standby_lag_messages',
    'gauge',
    'Stream messages a standby has not applied yet.',
  );
  out.sample('inventory_standby_lag_messages', region, follower?.lagMessages ?? 0);
  out.family(
    'inventory_standby_lag_seconds',
    'gauge',
    'Age of the last applied stream message when the standby applied it.',
  );
  out.sample('inventory_standby_lag_seconds', region, follower?.lagSeconds ?? 0);
  out.family('inventory_standby_applied_lsn', 'gauge', 'LSN of the last record a standby applied.');
  out.sample('inventory_standby_applied_lsn', region, follower?.lsn ?? 0);
  renderShipper(out, stats);
  return out.text();
}

function renderShipper(out: PrometheusWriter, stats: MemberStats): void {
  const shipper = stats.shipper;
  const labels = { region: stats.region, mode: stats.replication };
  out.family(
    'inventory_replication_lag_records',
    'gauge',
    'Records committed locally and not yet acknowledged by the stream.',
  );
  out.sample('inventory_replication_lag_records', labels, shipper?.lagRecords ?? 0);
  out.family(
    'inventory_replication_lag_seconds',
    'gauge',
    'Age of the oldest committed group the stream has not acknowledged.',
  );
  out.sample('inventory_replication_lag_seconds', labels, shipper?.lagSeconds ?? 0);
  out.family(
    'inventory_replication_shipped_lsn',
    'gauge',
    'LSN of the last record the stream acknowledged.',
  );
  out.sample('inventory_replication_shipped_lsn', labels, shipper?.shippedLsn ?? 0);
  out.family(
    'inventory_replication_retries_total',
    'counter',
    'Publishes sent again after no answer.',
  );
  out.sample('inventory_replication_retries_total', labels, shipper?.retries ?? 0);
  const name = 'inventory_replication_ack_duration_seconds';
  out.family(name, 'histogram', 'Commit to stream acknowledgement, per message.');
  let cumulative = 0;
  REPLICATION_LAG_BUCKETS_SECONDS.forEach((bound, index) => {
    cumulative += shipper?.lagBuckets[index] ?? 0;
    out.sample(`${name}_bucket`, { ...labels, le: formatValue(bound) }, cumulative);
  });
  const count = shipper?.messages ?? 0;
  out.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, count);
  out.sample(`${name}_sum`, labels, shipper?.lagSumSeconds ?? 0);
  out.sample(`${name}_count`, labels, count);
}

/** What the node runtime gives its region membership. */
export interface ClusterHooks {
  /** Sends a catalogue record the main engine applied from the stream to every worker. */
  announce(record: CatalogueRecord): void;
  /** Tells every worker the region's owner (NOT_OWNER answers name it). */
  postOwner(owner: RegionOwner | null): void;
  /** The node must stop serving writes for good: close, then exit with `exitCode`. */
  deposed(reason: string, exitCode: number): void;
  /** Seeds a fresh region's demo network for its metro (after the first takeover). */
  seed(metro: MetroName | null): Promise<void>;
}

/** The node runtime's handle on its membership. */
export interface ClusterLink {
  readonly worker: WorkerCluster;
  /** Starts following and taking over, once the node listens at `url` (HTTP) and `wsUrl`. */
  begin(url: string, wsUrl: string, hooks: ClusterHooks): Promise<void>;
  metricsText(): string;
}

export function clusterLink(member: ClusterMember, cluster: ClusterOptions): ClusterLink {
  const metro = Object.hasOwn(METROS, cluster.region) ? (cluster.region as MetroName) : null;
  return {
    worker: { gate: member.gate.buffer, region: cluster.region, replication: cluster.replication },
    metricsText: () => renderClusterMetrics(member.stats()),
    begin: (url, wsUrl, hooks) =>
      member.begin({
        url: cluster.advertise ?? wsUrl,
        httpUrl: cluster.advertise === null ? url : httpOf(cluster.advertise),
        onRecord: (record) => {
          if (record.type === 'dc' || record.type === 'sku') hooks.announce(record);
        },
        onOwner: (owner) => hooks.postOwner(owner),
        onDeposed: (reason, exitCode) => hooks.deposed(reason, exitCode),
        seed: () => hooks.seed(metro),
      }),
  };
}

/** `ws://host:port/v1/ws` → `http://host:port`. */
function httpOf(wsUrl: string): string {
  const parsed = new URL(wsUrl);
  return `${parsed.protocol === 'wss:' ? 'https:' : 'http:'}//${parsed.host}`;
}
