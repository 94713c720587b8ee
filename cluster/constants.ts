/**
 * Every limit and timing of the cluster layer, named, with the reason for its value.
 *
 * Invariants (checked at load): a lease is renewed several times before the safety margin
 * runs out; the margin is shorter than the lease.
 */

import { ExitCodes } from '../protocol/index.js';

/**
 * The lease (the owners bucket's TTL). A region is without an owner from its primary's death
 * until the lease lapses, so the lease is most of a failover's time (RTO); too short, and a
 * GC pause or a slow NATS round trip costs a primary its region. Three seconds keeps a
 * failover near three seconds on loopback; a deployment across machines may choose 10 s.
 */
export const LEASE_MS_DEFAULT = 3_000;
export const LEASE_MS_MIN = 1_000;
export const LEASE_MS_MAX = 120_000;
/** A primary renews its lease every lease / 3: two renewals may fail before it must stop. */
export const LEASE_RENEWALS_PER_LEASE = 3;
/**
 * A primary stops accepting writes this fraction of the lease before its lease could expire
 * for others (deadline = send time of the last successful renewal + lease − margin, on the
 * monotonic clock), so clock-rate differences and a late timer never let two owners write.
 */
export const LEASE_MARGIN_FRACTION = 0.2;
export const LEASE_MARGIN_MS_MIN = 250;
/** A standby looks whether the lease lapsed this often (a fraction of the lease). */
export const STANDBY_POLL_DIVISOR = 6;
export const STANDBY_POLL_MS_MIN = 100;

/** Up to three replicas: a quorum of three survives one server's loss. */
export const JETSTREAM_REPLICAS_MAX = 3;
/** Publishes with the same message id inside this window are stored once (retries). */
export const LOG_STREAM_DUPLICATE_WINDOW_MS = 120_000;

export const NATS_CONNECT_TIMEOUT_MS = 5_000;
export const NATS_RECONNECT_WAIT_MS = 250;
/**
 * A JetStream request (publish acknowledgement, KV operation) waits this long. A killed stream
 * leader stalls publishes about 5 s while the others elect a new one; a timed-out publish is
 * sent again with the same message id, which the stream stores once.
 */
export const NATS_REQUEST_TIMEOUT_MS = 4_000;
/**
 * One group commit travels as one message, and a group commit can be a few MiB: the servers
 * must accept at least this much per message (the project's own servers allow 16 MiB).
 */
export const NATS_PAYLOAD_BYTES_MIN = 2 * 1024 * 1024;
/** Room a log message keeps for its headers and record lengths below the servers' limit. */
export const LOG_MESSAGE_OVERHEAD_BYTES = 64 * 1024;

/**
 * Log messages published and not yet acknowledged, at most. Each one waits a quorum round
 * trip; with several in flight the stream keeps up with group commits of a few records each.
 */
export const SHIP_IN_FLIGHT_MAX = 32;
/** Bytes of records in flight to the stream, at most. */
export const SHIP_IN_FLIGHT_BYTES_MAX = 32 * 1024 * 1024;
/** A publish that failed for want of an answer is sent again after this pause (doubling). */
export const SHIP_RETRY_DELAY_MS = 50;
export const SHIP_RETRY_DELAY_MS_MAX = 1_000;
/** The idle shipper rechecks the queue this often even without a wake-up (a safety net). */
export const SHIP_IDLE_WAIT_MS = 200;
/** Upper bounds (inclusive, seconds) of the commit-to-stream-acknowledgement histogram. */
export const REPLICATION_LAG_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
];

/** Messages a standby asks the stream for at once. */
export const FOLLOW_BATCH_MESSAGES_MAX = 256;
/** A standby writes what it applied to its own log at least this often. */
export const FOLLOW_FLUSH_MS = 50;
/** Records a standby applies before it writes them to its own log. */
export const FOLLOW_FLUSH_RECORDS_MAX = 16_384;
/** A takeover's catch-up and marker publish retry at most this many times. */
export const TAKEOVER_ATTEMPTS_MAX = 20;
/** Stream messages looked at when a node matches its own log to the stream's (binary search). */
export const RECONCILE_PROBES_MAX = 200;

/** Exit code of a node whose writes the stream refused (a deposed primary): sysexits EX_PROTOCOL. */
export const EXIT_DEPOSED = ExitCodes.DEPOSED;

function checkConstants(): void {
  if (LEASE_MARGIN_FRACTION >= 1 - 1 / LEASE_RENEWALS_PER_LEASE) {
    throw new Error('the lease margin must leave room for a renewal');
  }
  if (LEASE_MS_MIN * LEASE_MARGIN_FRACTION < LEASE_MARGIN_MS_MIN / 2) {
    throw new Error('the smallest lease is too short for its margin');
  }
}

checkConstants();
