/**
 * The log ring: a multi-producer, single-consumer byte ring in one SharedArrayBuffer. Any
 * thread appends encoded records (frames); the log writer thread drains them in order.
 *
 * Layout: a control region of int32 words (constants.ts names each one), then the data region
 * of `capacity` bytes. A frame is [ready word][CRC32][payload][padding to 8 bytes]. The ready
 * word is 0 while the frame is being written, the payload length once it is published, or
 * RING_FRAME_PAD for a filler that sends the reader back to the ring's start (a frame never
 * wraps around the end).
 *
 * Positions are int32 byte counters that wrap at 2^32; the capacity is a power of two that
 * divides 2^32, so `position & mask` is the byte index on every lap. Differences are taken
 * with `(a - b) | 0`, which is exact while the two positions are less than 2^31 bytes apart
 * (the ring is at most 2^30 bytes, so a live position never is).
 *
 * Protocol and invariants:
 * - A producer reserves [tail, tail + n) with one compare-exchange on the tail, so frames are
 *   ordered by reservation. It writes the payload and CRC with plain stores, then publishes
 *   with `Atomics.store` of the ready word: a reader that sees the length with `Atomics.load`
 *   also sees the bytes (the seq-cst store/load pair orders them).
 * - The reader reads frames strictly in position order and stops at the first unpublished one.
 * - The reader zeroes every byte it releases before it stores the new head, so any frame
 *   reserved later finds its ready word at 0, whatever the previous lap left there.
 * - `tail - head ≤ capacity` always; producers wait (bounded) for the reader when full.
 *
 * Tickets: `append` returns the frame's start position + 1 (odd, so never 0, which callers use
 * for "nothing appended"). A ticket is durable once the durable position passes it; see
 * `isDurable` for the wrap-safe comparison.
 */

import {
  CONTROL_CAPACITY_LOG2,
  CONTROL_DURABLE_LSN_HIGH,
  CONTROL_DURABLE_LSN_LOW,
  CONTROL_DURABLE_POSITION,
  CONTROL_HEAD,
  CONTROL_MAGIC,
  CONTROL_POLICY,
  CONTROL_TAIL,
  CONTROL_WORDS,
  CONTROL_WRITABLE,
  CONTROL_WRITER_SLEEPING,
  CONTROL_WRITER_STATE,
  DURABILITY_POLICIES,
  type DurabilityPolicy,
  RECORD_PAYLOAD_BYTES_MAX,
  RING_CAPACITY_BYTES_MAX,
  RING_CAPACITY_BYTES_MIN,
  RING_CONTROL_BYTES,
  RING_FRAME_ALIGN_BYTES,
  RING_FRAME_HEADER_BYTES,
  RING_FRAME_PAD,
  RING_FULL_WAIT_MS,
  RING_FULL_WAITS_MAX,
  RING_LAYOUT_MAGIC,
  RING_RESERVE_CAS_RETRIES_MAX,
  WRITER_STATE_STARTING,
} from './constants.js';
import { assert } from './errors.js';

const UINT32_RANGE = 0x1_0000_0000;

export interface RingOptions {
  capacityBytes: number;
  policy: DurabilityPolicy;
  /**
   * False makes the log refuse writes until `setWritable(true)`: a cluster standby has a ring
   * (its threads attach to it) but no writer until it takes its region over. Default true.
   */
  writable?: boolean;
}

/** Allocates and initialises a ring's shared memory; hand the buffer to every thread. */
export function createRingBuffer(options: RingOptions): SharedArrayBuffer {
  const { capacityBytes, policy } = options;
  assert(
    Number.isInteger(capacityBytes) &&
      capacityBytes >= RING_CAPACITY_BYTES_MIN &&
      capacityBytes <= RING_CAPACITY_BYTES_MAX &&
      (capacityBytes & (capacityBytes - 1)) === 0,
    `ring capacity must be a power of two in [${RING_CAPACITY_BYTES_MIN}, ` +
      `${RING_CAPACITY_BYTES_MAX}], got ${capacityBytes}`,
  );
  const buffer = new SharedArrayBuffer(RING_CONTROL_BYTES + capacityBytes);
  const control = new Int32Array(buffer, 0, CONTROL_WORDS);
  // Nothing else can see the buffer yet; the stores are atomic only for uniformity.
  Atomics.store(control, CONTROL_CAPACITY_LOG2, Math.log2(capacityBytes));
  Atomics.store(control, CONTROL_POLICY, DURABILITY_POLICIES.indexOf(policy));
  Atomics.store(control, CONTROL_WRITABLE, options.writable === false ? 0 : 1);
  Atomics.store(control, CONTROL_WRITER_STATE, WRITER_STATE_STARTING);
  Atomics.store(control, CONTROL_MAGIC, RING_LAYOUT_MAGIC);
  return buffer;
}

function align(bytes: number): number {
  return (bytes + RING_FRAME_ALIGN_BYTES - 1) & ~(RING_FRAME_ALIGN_BYTES - 1);
}

/** One thread's view of a ring. Producer methods are safe from any thread; reader methods
 * (`readyWordAt` .. `release`) belong to the single log writer. */
export class LogRing {
  readonly control: Int32Array;
  readonly data: Uint8Array;
  /** The data region as int32 words, for the ready and CRC words (frames are 8-aligned). */
  readonly dataWords: Int32Array;
  readonly capacity: number;
  readonly mask: number;
  /** Largest payload one frame may carry in this ring. */
  readonly payloadBytesMax: number;
  readonly policy: DurabilityPolicy;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    assert(Atomics.load(this.control, CONTROL_MAGIC) === RING_LAYOUT_MAGIC, 'not a log ring');
    this.capacity = 2 ** Atomics.load(this.control, CONTROL_CAPACITY_LOG2);
    assert(buffer.byteLength === RING_CONTROL_BYTES + this.capacity, 'ring size mismatch');
    this.mask = this.capacity - 1;
    this.data = new Uint8Array(buffer, RING_CONTROL_BYTES, this.capacity);
    this.dataWords = new Int32Array(buffer, RING_CONTROL_BYTES, this.capacity / 4);
    // A frame may take at most a quarter of the ring, so a full ring still drains in steps.
    this.payloadBytesMax = Math.min(
      RECORD_PAYLOAD_BYTES_MAX,
      this.capacity / 4 - RING_FRAME_HEADER_BYTES,
    );
    const policy = DURABILITY_POLICIES[Atomics.load(this.control, CONTROL_POLICY)];
    assert(policy !== undefined, 'ring has no valid policy');
    this.policy = policy;
  }

  /** Bytes producers may still reserve (a snapshot: other threads move it at any time). */
  freeBytes(): number {
    const tail = Atomics.load(this.control, CONTROL_TAIL);
    const head = Atomics.load(this.control, CONTROL_HEAD);
    return this.capacity - ((tail - head) | 0);
  }

  /**
   * Appends one frame and returns its ticket. `payload[start, end)` is copied before this
   * returns, so the caller may reuse its buffer. Waits (bounded) while the ring is full and
   * throws when the writer frees nothing for RING_FULL_WAITS_MAX waits: that is a stuck or
   * dead writer, and acknowledging anything further would be a lie.
   */
  append(payload: Uint8Array, start: number, end: number, crc: number): number {
    const length = end - start;
    assert(length > 0 && length <= this.payloadBytesMax, `record of ${length} bytes`);
    const frameBytes = align(RING_FRAME_HEADER_BYTES + length);
    const position = this.reserve(frameBytes);
    const index = position & this.mask;
    // Plain stores: nobody reads these bytes before the ready word below is published.
    const source = start === 0 && end === payload.length ? payload : payload.subarray(start, end);
    this.data.set(source, index + RING_FRAME_HEADER_BYTES);
    const word = index >>> 2;
    this.dataWords[word + 1] = crc | 0;
    // Publish: the seq-cst store orders the payload and CRC stores before it for any reader
    // that loads this word with Atomics.load.
    Atomics.store(this.dataWords, word, length);
    // Seq-cst load after the store: either the writer, which sets the flag before it rechecks
    // the head frame's ready word, sees our store, or we see its flag and wake it.
    if (Atomics.load(this.control, CONTROL_WRITER_SLEEPING) !== 0) {
      Atomics.notify(this.dataWords, word, 1);
    }
    return (position + 1) | 0;
  }

  /** Reserves `frameBytes` (plus a pad when the frame would cross the end); returns the
   * frame's start position. */
  private reserve(frameBytes: number): number {
    const control = this.control;
    let waits = 0;
    for (let retry = 0; retry < RING_RESERVE_CAS_RETRIES_MAX; retry++) {
      const tail = Atomics.load(control, CONTROL_TAIL);
      const head = Atomics.load(control, CONTROL_HEAD);
      const index = tail & this.mask;
      const padBytes = index + frameBytes > this.capacity ? this.capacity - index : 0;
      const needed = padBytes + frameBytes;
      // A stale head only understates the free space, never overstates it: head only grows.
      if (((tail - head) | 0) + needed > this.capacity) {
        assert(waits < RING_FULL_WAITS_MAX, 'log ring full: the log writer frees nothing');
        waits++;
        // The writer notifies the head word after every release.
        Atomics.wait(control, CONTROL_HEAD, head, RING_FULL_WAIT_MS);
        continue;
      }
      if (Atomics.compareExchange(control, CONTROL_TAIL, tail, (tail + needed) | 0) !== tail) {
        continue;
      }
      if (padBytes === 0) return tail;
      // The pad is ours alone and needs no payload: publish it at once.
      Atomics.store(this.dataWords, index >>> 2, RING_FRAME_PAD);
      if (Atomics.load(control, CONTROL_WRITER_SLEEPING) !== 0) {
        Atomics.notify(this.dataWords, index >>> 2, 1);
      }
      return (tail + padBytes) | 0;
    }
    throw new Error(`wal invariant broken: ${RING_RESERVE_CAS_RETRIES_MAX} lost CAS races`);
  }

  /** True when the frame with this ticket is durable (0, "nothing appended", always is). */
  isDurable(ticket: number): boolean {
    return ticket === 0 || this.isPositionDurable(ticket);
  }

  /**
   * True when the durable position has reached `position`: a ticket (a frame start + 1) or
   * a frame boundary such as the tail at some moment ("everything appended until then").
   */
  isPositionDurable(position: number): boolean {
    const durable = Atomics.load(this.control, CONTROL_DURABLE_POSITION);
    if (((durable - position) | 0) >= 0) return true;
    // A ticket ahead of the tail is not from this lap of the positions: it is older than 2^31
    // bytes of log, long durable.
    return ((Atomics.load(this.control, CONTROL_TAIL) - position) | 0) < 0;
  }

  // --- Reader side: only the log writer thread calls these. ---

  /** The ready word of the frame at `position`: 0 (not yet), RING_FRAME_PAD, or a length. */
  readyWordAt(position: number): number {
    return Atomics.load(this.dataWords, (position & this.mask) >>> 2);
  }

  /** Byte index (in `data`) of the payload of the frame at `position`. */
  payloadIndexAt(position: number): number {
    return (position & this.mask) + RING_FRAME_HEADER_BYTES;
  }

  /** The CRC word of a published frame (read after its ready word, so plainly). */
  crcAt(position: number): number {
    return this.dataWords[((position & this.mask) >>> 2) + 1] >>> 0;
  }

  /** Position after the frame at `position` whose ready word is `readyWord`. */
  nextPosition(position: number, readyWord: number): number {
    if (readyWord === RING_FRAME_PAD)
      return (position + (this.capacity - (position & this.mask))) | 0;
    return (position + align(RING_FRAME_HEADER_BYTES + readyWord)) | 0;
  }

  /**
   * Frees [head, position): zeroes the bytes, then stores the new head and wakes producers
   * waiting for space. Zeroing first matters: a producer that sees the new head may reserve
   * these bytes at once, and its frame's ready word must read 0 until it publishes.
   */
  release(position: number): void {
    const head = Atomics.load(this.control, CONTROL_HEAD);
    const bytes = (position - head) | 0;
    assert(bytes >= 0 && bytes <= this.capacity, 'release beyond the tail');
    if (bytes === 0) return;
    const from = head & this.mask;
    const firstPart = Math.min(bytes, this.capacity - from);
    this.data.fill(0, from, from + firstPart);
    if (firstPart < bytes) this.data.fill(0, 0, bytes - firstPart);
    Atomics.store(this.control, CONTROL_HEAD, position);
    Atomics.notify(this.control, CONTROL_HEAD);
  }

  head(): number {
    return Atomics.load(this.control, CONTROL_HEAD);
  }

  /**
   * Publishes that every frame before `position` is durable, the last of them LSN `lastLsn`,
   * and wakes the threads waiting for it. The LSN halves go first: a thread that sees the new
   * position (and the wake-up) reads an LSN at least as new. One thread at a time publishes:
   * the writer, or under synchronous replication the shipper (wal/replication-queue.ts).
   */
  storeDurable(lastLsn: number, position: number): void {
    const control = this.control;
    Atomics.store(control, CONTROL_DURABLE_LSN_HIGH, Math.floor(lastLsn / UINT32_RANGE));
    Atomics.store(control, CONTROL_DURABLE_LSN_LOW, (lastLsn % UINT32_RANGE) | 0);
    Atomics.store(control, CONTROL_DURABLE_POSITION, position);
    Atomics.notify(control, CONTROL_DURABLE_POSITION);
  }

  /** Opens or closes the log to writes (the engine checks this before every mutation). */
  setWritable(writable: boolean): void {
    Atomics.store(this.control, CONTROL_WRITABLE, writable ? 1 : 0);
  }

  tail(): number {
    return Atomics.load(this.control, CONTROL_TAIL);
  }
}
