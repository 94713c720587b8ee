/**
 * Every limit of wire protocol v1, named, with the reason for its value.
 *
 * protocol/ depends on nothing else in the repo, so the engine limits a request must respect
 * (quantities, id bytes, lines per order, SKUs per availability request) are repeated here;
 * they must equal engine/constants.ts and engine/config.ts defaults, and the edge reports the
 * node's actual values in the `hello` answer. A limit never defaults to Infinity.
 */

/** The protocol versions this code speaks, newest first. */
export const PROTOCOL_VERSIONS = [2, 1] as const;
export const PROTOCOL_VERSION = 2;

/** WebSocket path on the edge port. */
export const WS_PATH = '/v1/ws';

/**
 * Largest client → server frame, in bytes. A 1,024-request frame of 3-line orders is about
 * 150 KiB, so 1 MiB leaves room for large availability requests while bounding what one
 * hostile frame can make the node decode.
 */
export const FRAME_BYTES_MAX = 1024 * 1024;

/**
 * Largest server → client frame a client must accept. The node starts a new frame once the
 * current one passes FRAME_BYTES_MAX, so a frame is larger only when one answer is (an
 * availability answer of 500 SKUs × many DCs).
 */
export const RESPONSE_FRAME_BYTES_MAX = 16 * 1024 * 1024;

/** Requests in one client → server frame. Batching is what lifts throughput; this bounds it. */
export const REQUESTS_PER_FRAME_MAX = 1024;

/** Requests one connection may have awaiting an answer; more are refused TOO_MANY_IN_FLIGHT. */
export const IN_FLIGHT_MAX = 4096;

/** Request ids are uint32: the client picks them, unique among its in-flight requests. */
export const REQUEST_ID_MAX = 0xffff_ffff;

/**
 * Nesting depth the frame scanner accepts. The deepest legal value is a delivery area point:
 * frame → request → args → area → coordinates → ring → point (7 levels); 16 leaves room
 * without letting a hostile frame recurse the decoder into a stack overflow.
 */
export const NESTING_DEPTH_MAX = 16;

/** Largest quantity of one line or one stock operation: the engine's counters are int32. */
export const QUANTITY_MAX = 0x7fff_ffff;

/** Ids (DC, SKU, order) are 1..ID_BYTES_MAX bytes of UTF-8 without control characters. */
export const ID_BYTES_MAX = 64;

/** Names and categories, in UTF-16 code units (engine NAME_LENGTH_MAX). */
export const NAME_LENGTH_MAX = 200;

/** Attribution reason strings, in UTF-16 code units (engine ATTRIBUTION_LENGTH_MAX). */
export const REASON_LENGTH_MAX = 200;

/** Opaque browse cursors, in UTF-16 code units: the node's cursors are far shorter. */
export const CURSOR_LENGTH_MAX = 256;

/** Lines of one order (engine config linesPerOrderMax default). */
export const LINES_PER_ORDER_MAX = 32;

/** SKUs in one availability request: a search results page is 20–200 SKUs. */
export const SKUS_PER_REQUEST_MAX = 500;

/**
 * Orders in one placeOrders (protocol v2). A frame of them stays well under FRAME_BYTES_MAX
 * (about 60 bytes per 3-line order), and one batch is one log reservation and one wait.
 */
export const ORDERS_PER_BATCH_MAX = 1024;

/** Queries in one availabilityMany, and the SKUs over all of them. */
export const QUERIES_PER_BATCH_MAX = 256;
export const SKUS_PER_BATCH_MAX = 8192;
/**
 * Protocol v2: entries of a connection's SKU table (`availabilityMany`'s `skuRefs`): refs are
 * 0..skuRefsMax-1. A dark store's catalogue (5-20 k SKUs) fits; past it a client names new
 * SKUs by id. The bound is per connection, like a connection's subscriptions (64 x 500 SKU
 * ids): at most an id and two ints per entry, about 1.5 MB for a full table of 64-byte ids.
 */
export const SKU_REFS_MAX = 16_384;

/** Browse page size. */
export const BROWSE_LIMIT_MAX = 500;

/** Delivery window, in minutes. */
export const MAX_MINUTES_CEILING = 24 * 60;

/** Hold lifetime, in seconds. */
export const TTL_SECONDS_MAX = 24 * 60 * 60;

/**
 * Defaults the node applies to what a request leaves out, documented in PROTOCOL.md: the
 * delivery window, a hold's lifetime, and a DC's courier speed and preparation time.
 */
export const MAX_MINUTES_DEFAULT = 60;
export const HOLD_TTL_SECONDS_DEFAULT = 10 * 60;
export const SPEED_KMH_DEFAULT = 20;
export const PREP_MINUTES_DEFAULT = 8;

/** Travel model bounds: a DC's delivery radius, courier speed and preparation time. */
export const RADIUS_KM_MIN = 0.01;
export const RADIUS_KM_MAX = 200;
export const SPEED_KMH_MIN = 1;
export const SPEED_KMH_MAX = 500;
export const PREP_MINUTES_MAX = 24 * 60;

/** Vertices of a client-supplied delivery area polygon, over all rings. */
export const AREA_VERTICES_MAX = 10_000;

/** Versions a hello may offer. */
export const HELLO_VERSIONS_MAX = 16;

/** Largest HTTP JSON body the edge reads. */
export const HTTP_BODY_BYTES_MAX = 1024 * 1024;

// Subscriptions.

/**
 * Subscriptions one connection may hold; one more is refused TOO_MANY_SUBSCRIPTIONS. A
 * search page watches one SKU list, a service a handful of streams: 64 is plenty, and it bounds
 * what one connection makes the node evaluate on every change.
 */
export const SUBSCRIPTIONS_PER_CONNECTION_MAX = 64;

/** SKUs one availability subscription watches (a search results page is 20–200 SKUs). */
export const SUBSCRIPTION_SKUS_MAX = 500;

/**
 * DCs one subscription names (an availability subscription by DC set, a low-stock filter). An
 * availability answer looks at most at the 64 nearest DCs, so a larger set would not be summed.
 */
export const SUBSCRIPTION_DCS_MAX = 64;

/** SKUs a low-stock subscription may filter on. */
export const LOW_STOCK_FILTER_SKUS_MAX = 500;

/**
 * The order event stream's subscription id on every connection. It is fixed so the node can
 * encode a tick's events once and publish the same frame to every subscriber; the ids of other
 * subscriptions start above it.
 */
export const ORDERS_SUBSCRIPTION_ID = 1;

/** The limits a node reports in its `hello` answer, with this code's values. */
export const WIRE_LIMITS = {
  frameBytesMax: FRAME_BYTES_MAX,
  requestsPerFrameMax: REQUESTS_PER_FRAME_MAX,
  inFlightMax: IN_FLIGHT_MAX,
  linesPerOrderMax: LINES_PER_ORDER_MAX,
  skusPerRequestMax: SKUS_PER_REQUEST_MAX,
  subscriptionsMax: SUBSCRIPTIONS_PER_CONNECTION_MAX,
  ordersPerBatchMax: ORDERS_PER_BATCH_MAX,
  queriesPerBatchMax: QUERIES_PER_BATCH_MAX,
  skusPerBatchMax: SKUS_PER_BATCH_MAX,
  skuRefsMax: SKU_REFS_MAX,
} as const;

// Client SDK limits and defaults.

/** Default per-call timeout. */
export const CLIENT_TIMEOUT_MS_DEFAULT = 10_000;

/** Longest per-call timeout: a setTimeout delay is an int32 of milliseconds. */
export const CLIENT_TIMEOUT_MS_MAX = 0x7fff_ffff;

/** Time the WebSocket upgrade may take before a connect attempt fails. */
export const CLIENT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Entries (requests, or the orders and queries of a batch) the client holds unsent, waiting for
 * the in-flight window or for a reconnect; one more is refused at once with TOO_MANY_IN_FLIGHT
 * rather than growing memory unbounded.
 */
export const CLIENT_QUEUE_MAX = 65_536;

/**
 * Updates one SDK subscription holds before its consumer takes them. Availability updates
 * beyond it are merged into the newest one (values, not events, so nothing is lost); an event
 * stream (orders, low-stock alerts) that overflows ends with SUBSCRIBER_TOO_SLOW.
 */
export const CLIENT_PUSH_QUEUE_MAX = 1024;

/** Default reconnect policy: about a minute of attempts with the delays below. */
export const RECONNECT_RETRIES_DEFAULT = 20;
export const RECONNECT_BASE_DELAY_MS_DEFAULT = 100;
export const RECONNECT_MAX_DELAY_MS_DEFAULT = 5_000;

/** Hard bounds on the reconnect options a caller may pass. */
export const RECONNECT_RETRIES_MAX = 1_000_000;
export const RECONNECT_DELAY_MS_MAX = 10 * 60 * 1000;

/** The largest log sequence number a client may name (`fromSequence`): 2^53 − 1. */
export const SEQUENCE_MAX = Number.MAX_SAFE_INTEGER;
