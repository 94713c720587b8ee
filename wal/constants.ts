/**
 * Every limit and layout constant of the write-ahead log, named, with the reason for its value.
 * The shared-memory layout of the ring (control words, frame header) lives here too, so the
 * producers (any thread), the writer thread and the tests agree on one definition.
 *
 * Invariants, checked at load by `checkConstants`: the ring's capacity bounds are powers of two
 * that divide 2^32 (byte positions wrap as int32 and stay aligned); the largest frame fits four
 * times in the smallest ring; a writer batch can hold the largest frame.
 */

/**
 * The three durability policies; see wal/README.md for what each one promises. `write`: the
 * batch is written to the operating system (an LMDB commit without sync), not synced. The ring
 * stores a policy as its index here, so the order is fixed.
 */
export const DURABILITY_POLICIES = ['fsync', 'write', 'none'] as const;
export type DurabilityPolicy = (typeof DURABILITY_POLICIES)[number];
export const DURABILITY_POLICY_DEFAULT: DurabilityPolicy = 'fsync';

/**
 * Older spellings a flag still accepts, deprecated: `commit` was the name of `write` until it
 * was renamed, because `commit` is also an order mode (one word, one meaning).
 */
export const DURABILITY_POLICY_ALIASES: Readonly<Record<string, DurabilityPolicy>> = {
  commit: 'write',
};

export function isDurabilityPolicy(value: unknown): value is DurabilityPolicy {
  return typeof value === 'string' && (DURABILITY_POLICIES as readonly string[]).includes(value);
}

/** A policy as a user typed it: its name or a deprecated alias; null when it is neither. */
export function parseDurabilityPolicy(text: string): DurabilityPolicy | null {
  if (isDurabilityPolicy(text)) return text;
  return Object.hasOwn(DURABILITY_POLICY_ALIASES, text) ? DURABILITY_POLICY_ALIASES[text] : null;
}

// ---------------------------------------------------------------------------------------------
// Ring: sizes.

/** 64 MiB holds about 400,000 typical records (≈160 bytes each): seconds of peak load. */
export const RING_CAPACITY_BYTES_DEFAULT = 64 * 1024 * 1024;
export const RING_CAPACITY_BYTES_MIN = 64 * 1024;
/**
 * Smallest ring a node may run with: a frame takes at most a quarter of the ring, and a node
 * must carry the largest record the engine can produce (RECORD_PAYLOAD_BYTES_MAX). Smaller
 * rings exist for tests of the ring itself.
 */
export const RING_CAPACITY_BYTES_NODE_MIN = 8 * 1024 * 1024;
/** Positions are int32 byte counters; a capacity up to 2^30 keeps `tail - head` exact. */
export const RING_CAPACITY_BYTES_MAX = 1024 * 1024 * 1024;

/** Frames start on 8-byte boundaries, so a frame header never straddles the ring's end. */
export const RING_FRAME_ALIGN_BYTES = 8;
/** Frame header: word 0 is the ready word (payload length, or a pad mark), word 1 the CRC32. */
export const RING_FRAME_HEADER_BYTES = 8;
/** Ready word of a frame that pads the rest of the ring: the consumer skips to the ring start. */
export const RING_FRAME_PAD = -1;
/**
 * Largest encoded record. The biggest record is a DC with a 10,000-vertex delivery area
 * (about 180 KB of msgpack); 1 MiB leaves room and keeps a frame small next to the ring.
 */
export const RECORD_PAYLOAD_BYTES_MAX = 1024 * 1024;

/** Compare-exchange retries on the ring tail; a retry means another producer won the race. */
export const RING_RESERVE_CAS_RETRIES_MAX = 100_000;
/** When the ring is full, a producer sleeps this long on the head word, this many times... */
export const RING_FULL_WAIT_MS = 2;
/** ...then throws: 2.5 s without the writer freeing space means the writer is stuck or gone. */
export const RING_FULL_WAITS_MAX = 1_250;

// ---------------------------------------------------------------------------------------------
// Ring: shared control words. Each index is an int32 slot of the control region. The three hot
// words (tail, head, durable position) sit on their own 64-byte cache lines so producers
// reserving and the writer publishing do not invalidate each other's lines.

export const RING_CONTROL_BYTES = 256;
/** Next free byte position (int32, wraps); producers advance it with compare-exchange. */
export const CONTROL_TAIL = 0;
/** First byte not yet freed by the writer (int32, wraps); only the writer stores it. */
export const CONTROL_HEAD = 16;
/** Every frame before this position is durable under the policy; only the writer stores it. */
export const CONTROL_DURABLE_POSITION = 32;
/** LSN of the last durable record, split in two int32 halves (LSNs pass 2^32 in days). */
export const CONTROL_DURABLE_LSN_HIGH = 48;
export const CONTROL_DURABLE_LSN_LOW = 49;
/** 1 while the log accepts writes; the writer stores 0 on an unrecoverable write error. */
export const CONTROL_WRITABLE = 50;
/** One of WRITER_STATE_*. */
export const CONTROL_WRITER_STATE = 51;
/** 1 while the writer sleeps on the head frame's ready word; producers then notify it. */
export const CONTROL_WRITER_SLEEPING = 52;
/** 1 once the owner asked the writer to drain the ring and stop. */
export const CONTROL_STOP_REQUESTED = 53;
/** Index into DURABILITY_POLICIES, so every thread reads the policy from the ring itself. */
export const CONTROL_POLICY = 54;
/** log2 of the ring capacity, checked when a thread attaches. */
export const CONTROL_CAPACITY_LOG2 = 55;
/** RING_LAYOUT_MAGIC, checked when a thread attaches. */
export const CONTROL_MAGIC = 56;
/** One of WalFailure codes (errors.ts) once the writer failed; 0 otherwise. */
export const CONTROL_FAILURE = 57;
/** Statistics the writer stores after each commit, for metrics (wrap as int32). */
export const CONTROL_STAT_BATCHES = 58;
export const CONTROL_STAT_BATCH_RECORDS_LAST = 59;
export const CONTROL_STAT_COMMIT_MICROS_LAST = 60;
export const CONTROL_STAT_COMMIT_MICROS_MAX = 61;
/**
 * Histograms of commit duration and batch size, for metrics. Each bucket word counts the
 * commits up to its bound (not cumulative; int32, wraps: a reader keeps its own running total);
 * a commit above the last bound is counted only in CONTROL_STAT_BATCHES. Only the writer adds
 * to these words, once per batch, right after it stores the head or before it stores the
 * durable position, so they share those words' cache lines (already written per batch) and
 * stay off the tail's line, which producers fight over.
 */
export const CONTROL_STAT_COMMIT_BUCKETS = 17;
export const CONTROL_STAT_BATCH_BUCKETS = 33;
/**
 * Sums, as 64-bit words (BigInt64 views, so each is read and added atomically): records
 * written, and commit durations in microseconds. Both would wrap an int32 within hours.
 * Indexes are int32 word indexes; each sum takes two words and starts on an even one.
 */
export const CONTROL_STAT_BATCH_RECORDS_SUM = 46;
export const CONTROL_STAT_COMMIT_MICROS_SUM = 62;
export const CONTROL_WORDS = RING_CONTROL_BYTES / 4;

/**
 * Upper bounds (inclusive, µs) of the commit duration buckets. A commit under `none` or
 * `write` takes about 16 µs (README, bench:wal), under `fsync` 0.5 to 10 ms on this disk, and
 * a stalled disk seconds: a 1-2-5 ladder from 20 µs to 1 s tells the three apart, and fits the
 * 15 words left on the head's cache line.
 */
export const LOG_COMMIT_BUCKET_BOUNDS_MICROS: readonly number[] = [
  20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
  1_000_000,
];
/**
 * Upper bounds (inclusive) of the batch size buckets, in records: powers of two up to half of
 * WRITER_BATCH_RECORDS_MAX. One record per commit means no group commit is happening; a full
 * batch means the writer is the bottleneck.
 */
export const LOG_BATCH_BUCKET_BOUNDS_RECORDS: readonly number[] = [
  1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 2_048, 4_096,
];

/** "WAL1": marks a SharedArrayBuffer laid out as this version of the ring. */
export const RING_LAYOUT_MAGIC = 0x57414c31;

export const WRITER_STATE_STARTING = 0;
export const WRITER_STATE_RUNNING = 1;
export const WRITER_STATE_STOPPED = 2;
export const WRITER_STATE_FAILED = 3;

// ---------------------------------------------------------------------------------------------
// Writer.

/** Records per LMDB transaction: bounds one commit's latency and the staging buffer's use. */
export const WRITER_BATCH_RECORDS_MAX = 8_192;
/** Bytes per LMDB transaction (staging buffer size); must hold the largest record. */
export const WRITER_BATCH_BYTES_MAX = 8 * 1024 * 1024;
/** The idle writer sleeps at most this long before rechecking the stop flag. */
export const WRITER_IDLE_WAIT_MS = 100;
/**
 * A frame reserved but not published for this long means a producer thread died between its
 * reservation and its publication; the writer reports it (the log cannot skip the hole).
 */
export const WRITER_HOLE_REPORT_MS = 5_000;
/** Commit latencies kept for percentiles (a ring of the most recent commits). */
export const WRITER_COMMIT_SAMPLES_MAX = 65_536;

/**
 * Pending acknowledgements one thread may wait on (the edge bounds requests in flight far
 * below this); the waiter FIFO is allocated at this size when a thread attaches.
 */
export const DURABLE_WAITERS_MAX = 1 << 16;
/**
 * Longest an acknowledgement waits for durability before the request is answered
 * OUTCOME_UNKNOWN. A commit takes about a millisecond; ten seconds means the disk has stalled,
 * and a client's own timeout (the SDK's default is ten seconds) has run out anyway.
 */
export const DURABLE_WAIT_MS_MAX_DEFAULT = 10_000;
/** A thread's durable watcher re-arms its wait at least this often (a safety net only). */
export const DURABLE_WAIT_TIMEOUT_MS = 1_000;

// ---------------------------------------------------------------------------------------------
// Store (LMDB).

/**
 * lmdb-js grows its memory map on demand, so LMDB never reports a full map by itself; the
 * writer enforces this ceiling on the data file and goes read-only when the next batch would
 * cross it, leaving room for recovery's and compaction's own small transactions.
 */
export const STORE_SIZE_BYTES_DEFAULT = 64 * 1024 * 1024 * 1024;
export const STORE_SIZE_BYTES_MIN = 1024 * 1024;
/** Bytes kept free below the ceiling for snapshots' manifests and compaction bookkeeping. */
export const STORE_RESERVE_BYTES = 256 * 1024;
/**
 * Under the `fsync` policy the writer keeps this many bytes of zeros past the log's last page
 * in data.mdb (file-reserve.ts), so a group commit's fdatasync overwrites blocks instead of
 * growing the file; it adds them WRITER_FILE_RESERVE_CHUNK_BYTES at a time between commits.
 */
export const WRITER_FILE_RESERVE_BYTES = 32 * 1024 * 1024;
export const WRITER_FILE_RESERVE_CHUNK_BYTES = 2 * 1024 * 1024;
/** Initial memory map; lmdb-js grows it, so this only avoids early remaps. */
export const STORE_MAP_BYTES_INITIAL = 256 * 1024 * 1024;
/** Named databases in the environment: meta, log, snapshot manifests, snapshot chunks. */
export const STORE_DBS_MAX = 8;
/** Concurrent read transactions: one per thread that opens the store, plus slack. */
export const STORE_READERS_MAX = 126;

/** Stored record: format byte, flags byte, writer session (u16 LE), CRC32 (LE), then payload. */
export const RECORD_HEADER_BYTES = 8;
/** Records written by this release: they carry the writer session that wrote them. */
export const RECORD_FORMAT = 2;
/** Records of the first release: bytes 2..3 are zero and the CRC does not cover them. */
export const RECORD_FORMAT_V1 = 1;
/** Writer sessions are numbered modulo this (they fit the header's two bytes); 0 is never used. */
export const WRITER_SESSION_RANGE = 0x1_0000;
/** Flag bit: the last record of a writer batch (one LMDB transaction). */
export const RECORD_FLAG_BATCH_END = 1;

/**
 * Version of the data directory's layout. Version 2 records carry their writer session and the
 * meta holds the current writer; a version 1 directory is read as is and upgraded in place when
 * opened for writing (its old records stay readable). Anything else refuses to start.
 */
export const DATA_FORMAT_VERSION = 2;
export const DATA_FORMAT_VERSIONS_READ: readonly number[] = [1, 2];
export const DATA_MAGIC = 'qcommerce-inventory-wal';

// ---------------------------------------------------------------------------------------------
// Snapshots.

export const SNAPSHOT_FORMAT_VERSION = 1;
/**
 * The largest LMDB value that fits one overflow page of the store's 4 KiB pages: 24 bytes less,
 * in the LMDB lmdb-js ships (measured, and checked by snapshot-store.integration.test.ts).
 */
export const STORE_ONE_PAGE_VALUE_BYTES = 4_072;
/** Each stored snapshot chunk and manifest starts with its CRC32 (LE). */
export const SNAPSHOT_CRC_BYTES = 4;
/**
 * Snapshot bytes per chunk (one LMDB value); bounds each value and each CRC. A chunk and its
 * 4-byte CRC fill one overflow page. A value of several pages needs that many contiguous free
 * pages, and once log compaction has freed many scattered pages, lmdb-js's free-list upkeep at
 * commit grew with the run it looked for: a 256 KiB chunk took 14-16 ms of CPU to commit, a
 * 16 KiB one 7 ms, a one-page chunk 0.25 ms (loadtest/RESULTS.md). Readers take chunks of any
 * size, so this may change without a new format.
 */
export const SNAPSHOT_CHUNK_BYTES = STORE_ONE_PAGE_VALUE_BYTES - SNAPSHOT_CRC_BYTES;
/**
 * Chunks per transaction (128 KiB). The snapshot and the log share one LMDB environment, so
 * while a chunk transaction writes and syncs, the log writer waits for the write lock; 32
 * one-page chunks commit in 0.7 ms (p99 1.6), about one log commit.
 */
export const SNAPSHOT_CHUNKS_PER_TXN = 32;
/** Snapshots kept; the log is kept back to the oldest, so a damaged newest one falls back. */
export const SNAPSHOTS_KEPT = 2;
/**
 * Log records deleted per compaction transaction: 1,000 commit in about 1.4 ms (p50) while the
 * log writer waits for the write lock; 5,000 held it 4.3 ms (up to 19 ms).
 */
export const COMPACT_DELETES_PER_TXN = 1_000;

function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

function checkConstants(): void {
  const powers = [RING_CAPACITY_BYTES_DEFAULT, RING_CAPACITY_BYTES_MIN, RING_CAPACITY_BYTES_MAX];
  if (!powers.every(isPowerOfTwo)) throw new Error('ring capacities must be powers of two');
  if ((RECORD_PAYLOAD_BYTES_MAX + RING_FRAME_HEADER_BYTES) * 4 > RING_CAPACITY_BYTES_NODE_MIN) {
    throw new Error('the largest frame must fit four times in the smallest node ring');
  }
  if (RING_CAPACITY_BYTES_NODE_MIN > RING_CAPACITY_BYTES_DEFAULT) {
    throw new Error('the default ring must be a valid node ring');
  }
  if (RECORD_PAYLOAD_BYTES_MAX + RECORD_HEADER_BYTES > WRITER_BATCH_BYTES_MAX) {
    throw new Error('a writer batch must hold the largest record');
  }
  if (RING_CONTROL_BYTES % RING_FRAME_ALIGN_BYTES !== 0 || CONTROL_STAT_COMMIT_MICROS_MAX >= 64) {
    throw new Error('the control region must be aligned and hold every control word');
  }
  checkStatWords();
}

/** The histogram words stay inside their cache lines and clear of every other control word. */
function checkStatWords(): void {
  const commitEnd = CONTROL_STAT_COMMIT_BUCKETS + LOG_COMMIT_BUCKET_BOUNDS_MICROS.length;
  const batchEnd = CONTROL_STAT_BATCH_BUCKETS + LOG_BATCH_BUCKET_BOUNDS_RECORDS.length;
  const fits =
    CONTROL_STAT_COMMIT_BUCKETS > CONTROL_HEAD &&
    commitEnd <= CONTROL_DURABLE_POSITION &&
    CONTROL_STAT_BATCH_BUCKETS > CONTROL_DURABLE_POSITION &&
    batchEnd <= CONTROL_STAT_BATCH_RECORDS_SUM &&
    CONTROL_STAT_BATCH_RECORDS_SUM + 2 <= CONTROL_DURABLE_LSN_HIGH &&
    CONTROL_STAT_COMMIT_MICROS_SUM > CONTROL_STAT_COMMIT_MICROS_MAX &&
    CONTROL_STAT_COMMIT_MICROS_SUM + 2 <= CONTROL_WORDS &&
    CONTROL_STAT_BATCH_RECORDS_SUM % 2 === 0 &&
    CONTROL_STAT_COMMIT_MICROS_SUM % 2 === 0;
  if (!fits) throw new Error('the statistics words overlap other control words');
  const bounds = [LOG_COMMIT_BUCKET_BOUNDS_MICROS, LOG_BATCH_BUCKET_BOUNDS_RECORDS];
  if (
    !bounds.every((list) => list.every((bound, index) => index === 0 || bound > list[index - 1]))
  ) {
    throw new Error('bucket bounds must increase');
  }
  if (LOG_BATCH_BUCKET_BOUNDS_RECORDS.at(-1)! >= WRITER_BATCH_RECORDS_MAX) {
    throw new Error('the last batch bucket must be below the largest batch');
  }
}

checkConstants();
