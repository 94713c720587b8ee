/**
 * The limits of the HTTP server that only it needs, named, each with the reason for its value.
 * The body limit itself (HTTP_BODY_BYTES_MAX) is in protocol/limits.ts, because clients must
 * know it; the query and in-flight limits are in constants.ts with the rest of the edge's.
 *
 * Invariants: every wait and every byte the server spends on a refused body is bounded by one
 * of these; none is `Infinity`.
 */

/**
 * After answering 413 to a client that is still sending its body, the server reads and discards
 * at most this much more of it before closing (nginx's lingering close does the same, bounded by
 * time). Closing with unread bytes in the socket makes the kernel send a reset, which discards
 * the 413 the client had not read yet; reading the rest first lets the client see the answer.
 * 64 MiB covers any body a client could mistake for acceptable (64 times the body limit) and
 * costs a worker about 20 ms of reading on loopback.
 */
export const HTTP_LINGER_BYTES_MAX = 64 * 1024 * 1024;

/**
 * The longest the server keeps discarding a refused body (nginx: `lingering_time`). A client
 * still sending after this has ignored the 413 for long enough; its connection is closed.
 * uWS separately closes a connection whose body stalls (below 16 KiB/s for 10 s).
 */
export const HTTP_LINGER_MS_MAX = 10_000;

/**
 * Connections one worker thread keeps lingering on at once. Past it a refused body's connection
 * is closed right after the 413, as if the limits above were reached: a flood of oversized
 * bodies cannot pin more than this many sockets and timers.
 */
export const HTTP_LINGERING_MAX = 256;

/**
 * Bytes of the buffer each worker thread writes availability answers into (allocated once).
 * A 20-SKU answer with 8 DCs each is about 9 KiB; 500 SKUs (the query limit) with 40 DCs each
 * about 1 MiB. A larger answer is serialized by `JSON.stringify` instead, correct but slower.
 */
export const HTTP_ANSWER_BUFFER_BYTES = 1024 * 1024;
