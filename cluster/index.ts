/**
 * The cluster layer's public surface: a node's membership of its region (leases, log
 * shipping, following, takeover) on NATS JetStream, the shared-memory ownership gate the
 * edge's threads check, and the local NATS servers the tools and tests start.
 * See ARCHITECTURE.md, "Cluster".
 */

export {
  EXIT_DEPOSED,
  LEASE_MS_DEFAULT,
  LEASE_MS_MAX,
  LEASE_MS_MIN,
  REPLICATION_LAG_BUCKETS_SECONDS,
} from './constants.js';
export type { FollowerStats } from './follower.js';
export { type ClusterConnection, connectCluster, ensureLogStream } from './jetstream.js';
export {
  decodeMarker,
  decodeRecords,
  type EpochMarker,
  type LogMessageHead,
  readHead,
} from './log-message.js';
export {
  ClusterMember,
  type MemberHost,
  MemberOpenError,
  type MemberOptions,
  type MemberStats,
} from './member.js';
export {
  freePort,
  type NatsCluster,
  type NatsServer,
  natsServerBinary,
  startNatsCluster,
  waitForJetStream,
} from './nats-process.js';
export { OwnershipGate, type RoleName } from './ownership.js';
export { ReconcileError } from './reconcile.js';
export { reachKm, regionDefinition } from './region.js';
export type { ShipperStats } from './shipper.js';
