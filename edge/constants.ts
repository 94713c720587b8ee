/**
 * Every limit and timing of the edge node, named, with the reason for its value. The wire
 * limits (frame size, requests per frame, in-flight requests) live in protocol/limits.ts because
 * clients must know them too; what is here only the server needs.
 *
 * Invariants: every queue, buffer and wait the edge keeps is bounded by one of these; none is
 * `Infinity`. `checkEdgeLimits` (config.ts) checks configurable ones against each other at start.
 */

/** Default listen address: loopback, so a demo never exposes itself by accident. */
export const HOST_DEFAULT = '127.0.0.1';
export const PORT_DEFAULT = 8080;
/** More threads than this only adds contention on the shared counters. */
export const THREADS_MAX = 256;

/** Requests one worker thread may have waiting on the log over HTTP before refusing (429). */
export const HTTP_IN_FLIGHT_MAX = 65_536;
/** Query strings longer than this are refused before parsing (availability has 500 ids). */
export const HTTP_QUERY_BYTES_MAX = 64 * 1024;

/**
 * Seconds without a frame before uWS closes a WebSocket. uWS's granularity is about 4 s and it
 * sends pings automatically, so a live but quiet client is never cut off.
 */
export const WS_IDLE_TIMEOUT_SECONDS = 120;
/**
 * Bytes buffered towards one client above which the edge stops writing to it and holds its
 * answers until uWS reports a drain. Two full frames: a pipelining client that reads at all
 * never reaches it for long.
 */
export const WS_SEND_BUFFER_BYTES_SOFT = 2 * 1024 * 1024;
/** uWS's own hard cap (maxBackpressure): a client past it is closed by uWS itself. */
export const WS_SEND_BUFFER_BYTES_HARD = 16 * 1024 * 1024;
/** Answers held for one congested client before it is closed (1008) as not reading. */
export const WS_HELD_ANSWERS_MAX = 16_384;
/** A client that stays congested this long is closed as not reading. */
export const WS_DRAIN_TIMEOUT_MS = 10_000;
/** Answers of one connection packed into one outgoing frame, before the byte check. */
export const WS_ANSWERS_PER_FRAME_MAX = 4_096;

/**
 * Per-connection request-rate limit (token bucket), counted in requests, not frames. The
 * defaults only stop a runaway client: a pipelining SDK connection at full speed stays under.
 */
export const RATE_REQUESTS_PER_SECOND_DEFAULT = 500_000;
export const RATE_BURST_DEFAULT = 100_000;
export const RATE_REQUESTS_PER_SECOND_MAX = 100_000_000;

/**
 * WebSocket connections a node holds by default, and one API key: a connection costs a few
 * kilobytes of buffers; services use a handful each; these bound what a leaked client loop
 * or a stolen key can open. CONNECTIONS_MAX bounds the flags.
 */
export const CONNECTIONS_PER_NODE_DEFAULT = 16_384;
export const CONNECTIONS_PER_KEY_DEFAULT = 4_096;
export const CONNECTIONS_MAX = 1_000_000;

/** How often the main thread expires holds whose TTL has passed. */
export const EXPIRY_SWEEP_INTERVAL_MS = 100;
/** How often each worker checks its connections for a client that never drains. */
export const CONGESTION_CHECK_INTERVAL_MS = 1_000;

/** A catalogue upsert waits at most this long for the main thread and every worker. */
export const CATALOGUE_WAIT_MS_MAX = 30_000;
/** Catalogue upserts one worker may have waiting on the main thread at once. */
export const CATALOGUE_PENDING_MAX = 4_096;

/** Graceful shutdown waits this long for in-flight requests before closing connections. */
export const SHUTDOWN_DRAIN_MS_MAX = 10_000;
/** A worker that has not started (listening) in this time fails the node's start. */
export const WORKER_START_MS_MAX = 30_000;
/** Attempts at finding a free port when asked for port 0. */
export const PORT_PICK_ATTEMPTS_MAX = 8;

/** API keys: generated keys are this many random bytes, shown as hex. */
export const KEY_BYTES = 32;
/** A configured key shorter than this is refused at start: it would be guessable. */
export const KEY_LENGTH_MIN = 16;
export const KEY_LENGTH_MAX = 256;
/** Keys per role in a key file (rotation needs two; a deployment rarely needs more). */
export const KEYS_PER_ROLE_MAX = 64;

/** Seed of the demo network, so every fresh demo is the same city. */
export const DEMO_SEED_DEFAULT = 20_240_601;

// Subscriptions and the change feed between threads.

/**
 * How often each thread publishes the stock cells it changed and evaluates its subscribers.
 * A change waits at most one tick on the thread that made it and one on the thread that pushes
 * it: 2 × 20 ms keeps delivery well inside the 100 ms the spec asks for, and a subscription
 * gets at most one push per tick however often its SKUs change.
 */
export const SUBSCRIPTION_TICK_MS = 20;
/**
 * Distinct cells one thread collects before it publishes them early (mid-tick). A batch is an
 * Int32Array of at most this many cell ids: 64 KiB on the wire between threads.
 */
export const CHANGED_CELLS_PER_BATCH_MAX = 16_384;
/**
 * Distinct cells a worker gathers from every thread for one evaluation. Past it the worker
 * re-evaluates every SKU of every subscription instead (correct, only slower).
 */
export const PENDING_CELLS_MAX = 65_536;
/**
 * Bytes buffered towards a subscriber above which the node stops pushing to it: availability
 * pushes are skipped (the next one carries the latest values), an event stream (orders, low
 * stock) is cut off with SUBSCRIBER_TOO_SLOW, since skipping events would lose them. What one
 * slow subscriber costs is thus this plus one push.
 */
export const SUBSCRIBER_BUFFER_BYTES_MAX = 1024 * 1024;
/** Subscriptions of every connection of one worker thread. */
export const SUBSCRIPTIONS_PER_THREAD_MAX = 10_000;
/** SKU entries watched by the availability subscriptions of one worker thread (memory bound). */
export const WATCHED_SKUS_PER_THREAD_MAX = 1_000_000;
/**
 * Slots of the shared order event ring. The main thread writes the durable order events there
 * and every worker reads them in order; a worker that falls more than this many events behind
 * has its subscribers read the gap from the log. 65,536 slots hold about 0.3 s at 200 k/s.
 */
export const ORDER_EVENT_RING_SLOTS = 65_536;
/** Order events one push carries; more wait for the next tick. */
export const ORDER_EVENTS_PER_PUSH_MAX = 4_096;
/** Alerts held for one low-stock subscription between ticks; past it, it is cut off. */
export const LOW_STOCK_PENDING_MAX = 4_096;
/** Cells a low-stock snapshot lists at most (`truncated` says when there were more). */
export const LOW_STOCK_SNAPSHOT_MAX = 1_000;
/** Cells a low-stock snapshot reads at most, so a subscribe never stalls a worker. */
export const LOW_STOCK_SNAPSHOT_SCAN_MAX = 1_000_000;

// Metrics.

/** How often the main thread collects every worker's histograms and counters. */
export const METRICS_COLLECT_INTERVAL_MS = 1_000;
/** A collection waits this long for a worker's report before answering without it. */
export const METRICS_COLLECT_MS_MAX = 2_000;
/**
 * Latency quantiles cover a sliding window of this many slots of METRICS_SLOT_MS each (10 s):
 * recent enough for a live view, long enough for a p99.9 to rest on thousands of samples.
 */
export const METRICS_WINDOW_SLOTS = 5;
export const METRICS_SLOT_MS = 2_000;
/** `/metrics` requests one worker may have waiting on the main thread at once. */
export const METRICS_REQUESTS_PENDING_MAX = 64;
/** Longest latency recorded exactly, in microseconds; longer ones count as this. */
export const LATENCY_US_MAX = 60_000_000;

/**
 * The log grows by about 100 bytes per record; a snapshot every million records bounds
 * recovery to one snapshot load plus at most a million records of replay (about a second).
 */
export const SNAPSHOT_EVERY_RECORDS_DEFAULT = 1_000_000;
/**
 * Log records kept whatever the snapshots: the window an order event consumer can resume
 * from. 5 M records are about 1 GB of disk, and about 4 hours at the reference's average of
 * 10 M orders a day (3 records an order: place, confirm, fulfil); 20 minutes at 100 k/s peaks.
 */
export const EVENT_RETENTION_RECORDS_DEFAULT = 5_000_000;
/** How often the main thread publishes newly durable order events to the workers. */
export const ORDER_EVENT_TAIL_MS = 10;

/** How often the main thread checks whether a snapshot is due. */
export const SNAPSHOT_CHECK_INTERVAL_MS = 10_000;
