/**
 * The order event ring: one SharedArrayBuffer the main thread writes the node's order events
 * into, in log order, and every worker reads. The events come from the durable log (see
 * order-event-tail.ts), so each carries the LSN of its change, and an event is never shown for
 * a change a crash could still undo.
 *
 * Layout: a control block of CONTROL_BYTES, then `slots` slots of SLOT_BYTES.
 * - Control: int32 HEAD (the next ring sequence, wrapping at 2^32), int32 SUBSCRIBERS (orders
 *   subscribers across the workers), then two int64 words: THROUGH (every order event with an
 *   LSN at or below it is in the ring or was overwritten by a later lap) and COMPLETE_FROM (the
 *   ring holds every event from this LSN on; INCOMPLETE while the writer skips because nobody
 *   listens).
 * - Slot: int32 STATE (0 writing, 1 written), SEQ (ring sequence, int32), TYPE, STATUS,
 *   ID_BYTES; float64 AT and LSN; the order id's UTF-8 bytes (at most ID_BYTES_MAX).
 *
 * Protocol. One writer (the main thread):
 * - to resume after skipping, it stores COMPLETE_FROM = THROUGH + 1 first;
 * - each event: `seq = HEAD`, STATE = 0, SEQ = seq, the fields with plain stores, STATE = 1,
 *   HEAD = seq + 1;
 * - after a batch of the log it stores THROUGH;
 * - to skip, it stores COMPLETE_FROM = INCOMPLETE before moving THROUGH on.
 * A reader loads THROUGH, then COMPLETE_FROM, then reads slots in ring order up to the first
 * event past THROUGH. The seq-cst loads and stores order the plain field accesses between
 * them; a slot rewritten while it was read (a lap) is caught by reloading STATE and SEQ after.
 * A reader whose last delivered LSN is below COMPLETE_FROM − 1, or that was lapped, has a gap:
 * it reads the missing range from the log itself (order-stream.ts). Nothing is ever lost.
 */

import type { OrderEventType, OrderEventView, OrderStatus } from '../protocol/index.js';

const CONTROL_BYTES = 64;
const HEAD = 0;
const SUBSCRIBERS = 1;
/** Indices in the BigInt64Array over the control block. */
const THROUGH = 1;
const COMPLETE_FROM = 2;
/** COMPLETE_FROM while the writer skips: no LSN is that large. */
const INCOMPLETE = BigInt(Number.MAX_SAFE_INTEGER);

const SLOT_BYTES = 104;
const SLOT_WORDS = SLOT_BYTES / 4;
const STATE = 0;
const SEQ = 1;
const TYPE = 2;
const STATUS = 3;
const ID_BYTES = 4;
const AT_BYTE = 24;
const LSN_BYTE = 32;
const ID_BYTE = 40;
/** Room for an id: the protocol caps ids at 64 bytes of UTF-8. */
const ID_BYTES_MAX = SLOT_BYTES - ID_BYTE;

const WRITING = 0;
const WRITTEN = 1;

export const ORDER_EVENT_TYPES: readonly OrderEventType[] = [
  'placed',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
  'changed',
  'extended',
];
const ORDER_STATUSES: readonly OrderStatus[] = [
  'held',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
];

const TYPE_INDEX = new Map(ORDER_EVENT_TYPES.map((type, index) => [type, index]));
const STATUS_INDEX = new Map(ORDER_STATUSES.map((status, index) => [status, index]));

export function orderEventTypeIndex(type: OrderEventType): number {
  return TYPE_INDEX.get(type) ?? 0;
}

export function createOrderEventRing(slots: number): SharedArrayBuffer {
  if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0 || slots > 1 << 22) {
    throw new RangeError(`order event ring slots must be a power of two in [2, 2^22]: ${slots}`);
  }
  return new SharedArrayBuffer(CONTROL_BYTES + slots * SLOT_BYTES);
}

/** The views every thread makes over the ring's buffer. */
class RingViews {
  readonly control: Int32Array;
  readonly lsns: BigInt64Array;
  readonly words: Int32Array;
  readonly floats: Float64Array;
  readonly bytes: Uint8Array;
  readonly slots: number;
  readonly mask: number;

  constructor(buffer: SharedArrayBuffer) {
    const slotBytes = buffer.byteLength - CONTROL_BYTES;
    this.slots = slotBytes / SLOT_BYTES;
    if (!Number.isInteger(this.slots) || (this.slots & (this.slots - 1)) !== 0) {
      throw new Error('not an order event ring buffer');
    }
    this.mask = this.slots - 1;
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.lsns = new BigInt64Array(buffer, 0, CONTROL_BYTES / 8);
    this.words = new Int32Array(buffer, CONTROL_BYTES, this.slots * SLOT_WORDS);
    this.floats = new Float64Array(buffer, CONTROL_BYTES, (this.slots * SLOT_BYTES) / 8);
    this.bytes = new Uint8Array(buffer, CONTROL_BYTES, this.slots * SLOT_BYTES);
  }

  through(): number {
    return Number(Atomics.load(this.lsns, THROUGH));
  }

  completeFrom(): number {
    return Number(Atomics.load(this.lsns, COMPLETE_FROM));
  }
}

/** Writes UTF-8 of `text` at `offset`, at most `max` bytes; returns the bytes written. */
function writeUtf8(bytes: Uint8Array, offset: number, text: string, max: number): number {
  let at = 0;
  for (let index = 0; index < text.length; index++) {
    let code = text.charCodeAt(index);
    if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++index) - 0xdc00);
    }
    const need = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (at + need > max) break;
    if (need === 1) {
      bytes[offset + at++] = code;
    } else if (need === 2) {
      bytes[offset + at++] = 0xc0 | (code >> 6);
      bytes[offset + at++] = 0x80 | (code & 0x3f);
    } else if (need === 3) {
      bytes[offset + at++] = 0xe0 | (code >> 12);
      bytes[offset + at++] = 0x80 | ((code >> 6) & 0x3f);
      bytes[offset + at++] = 0x80 | (code & 0x3f);
    } else {
      bytes[offset + at++] = 0xf0 | (code >> 18);
      bytes[offset + at++] = 0x80 | ((code >> 12) & 0x3f);
      bytes[offset + at++] = 0x80 | ((code >> 6) & 0x3f);
      bytes[offset + at++] = 0x80 | (code & 0x3f);
    }
  }
  return at;
}

/** The one writing end (the main thread's), allocation-free. */
export class OrderEventWriter {
  private readonly ring: RingViews;

  /** `through`: the LSN the stream starts after (the durable LSN when the node starts). */
  constructor(buffer: SharedArrayBuffer, through: number) {
    this.ring = new RingViews(buffer);
    Atomics.store(this.ring.lsns, COMPLETE_FROM, BigInt(through + 1));
    Atomics.store(this.ring.lsns, THROUGH, BigInt(through));
  }

  /** Orders subscribers across the node's workers. */
  subscribers(): number {
    return Atomics.load(this.ring.control, SUBSCRIBERS);
  }

  through(): number {
    return this.ring.through();
  }

  /** True while the ring is not receiving events (nobody listened). */
  skipping(): boolean {
    return Atomics.load(this.ring.lsns, COMPLETE_FROM) === INCOMPLETE;
  }

  /** Moves THROUGH on without writing the events up to it. */
  skipThrough(lsn: number): void {
    Atomics.store(this.ring.lsns, COMPLETE_FROM, INCOMPLETE);
    Atomics.store(this.ring.lsns, THROUGH, BigInt(lsn));
  }

  /** Starts writing again: the ring holds every event after the current THROUGH. */
  resume(): void {
    Atomics.store(this.ring.lsns, COMPLETE_FROM, BigInt(this.ring.through() + 1));
  }

  write(lsn: number, type: OrderEventType, orderId: string, status: OrderStatus, at: number): void {
    const ring = this.ring;
    const seq = Atomics.load(ring.control, HEAD);
    const slot = seq & ring.mask;
    const base = slot * SLOT_WORDS;
    const words = ring.words;
    Atomics.store(words, base + STATE, WRITING);
    Atomics.store(words, base + SEQ, seq);
    words[base + TYPE] = TYPE_INDEX.get(type) ?? 0;
    words[base + STATUS] = STATUS_INDEX.get(status) ?? 0;
    ring.floats[(slot * SLOT_BYTES + AT_BYTE) / 8] = at;
    ring.floats[(slot * SLOT_BYTES + LSN_BYTE) / 8] = lsn;
    const offset = slot * SLOT_BYTES + ID_BYTE;
    words[base + ID_BYTES] = writeUtf8(ring.bytes, offset, orderId, ID_BYTES_MAX);
    Atomics.store(words, base + STATE, WRITTEN);
    Atomics.store(ring.control, HEAD, (seq + 1) | 0);
  }

  /** Every event with an LSN at or below `lsn` is written. */
  publishThrough(lsn: number): void {
    Atomics.store(this.ring.lsns, THROUGH, BigInt(lsn));
  }
}

/** What one `read` found. */
export interface RingRead {
  /** Every event above `after` and at or below this LSN was delivered by this read. */
  through: number;
  /**
   * True when some events above `after` were not in the ring (the writer skipped them, or
   * this reader was lapped): whoever needs them reads them from the log.
   */
  gap: boolean;
}

/** One worker's reading end: a cursor over the ring, in log order. */
export class OrderEventReader {
  private readonly ring: RingViews;
  private readonly scratch = new Uint8Array(ID_BYTES_MAX);
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** The ring sequence of the next event to read (int32, wrapping). */
  private cursor: number;
  private readonly outcome: RingRead = { through: 0, gap: false };

  constructor(buffer: SharedArrayBuffer) {
    this.ring = new RingViews(buffer);
    this.cursor = Atomics.load(this.ring.control, HEAD);
  }

  /** The LSN through which the writer has published. */
  through(): number {
    return this.ring.through();
  }

  /** Counts this worker's orders subscribers in the node-wide total (the writer skips at 0). */
  addSubscribers(delta: number): void {
    Atomics.add(this.ring.control, SUBSCRIBERS, delta);
  }

  /**
   * Appends to `out` the events above LSN `after` up to the published THROUGH, at most `max`
   * (with `max` 0 they are passed over: nobody here listens). The returned object is reused
   * by the next call.
   */
  read(out: OrderEventView[], max: number, after: number): RingRead {
    const ring = this.ring;
    const words = ring.words;
    const outcome = this.outcome;
    let through = ring.through();
    outcome.gap = ring.completeFrom() > after + 1;
    if (((Atomics.load(ring.control, HEAD) - this.cursor) | 0) > ring.slots) {
      outcome.gap = true;
      through = Math.max(through, this.resync());
    }
    let read = 0;
    while (this.cursor !== Atomics.load(ring.control, HEAD)) {
      const slot = this.cursor & ring.mask;
      const base = slot * SLOT_WORDS;
      if (!this.holds(base, this.cursor)) {
        outcome.gap = true;
        through = Math.max(through, this.resync());
        continue;
      }
      const lsn = ring.floats[(slot * SLOT_BYTES + LSN_BYTE) / 8];
      if (lsn > through) break;
      if (lsn <= after || max === 0) {
        this.cursor = (this.cursor + 1) | 0;
        continue;
      }
      if (read === max) {
        // Stopped early: what was delivered is complete up to the event before this one.
        through = lsn - 1;
        break;
      }
      const type = words[base + TYPE];
      const status = words[base + STATUS];
      const at = ring.floats[(slot * SLOT_BYTES + AT_BYTE) / 8];
      const idBytes = Math.min(words[base + ID_BYTES], ID_BYTES_MAX);
      const offset = slot * SLOT_BYTES + ID_BYTE;
      // TextDecoder refuses views of shared memory: copy the bytes out first.
      this.scratch.set(ring.bytes.subarray(offset, offset + idBytes));
      if (!this.holds(base, this.cursor)) {
        outcome.gap = true;
        through = Math.max(through, this.resync());
        continue;
      }
      out.push({
        seq: lsn,
        type: ORDER_EVENT_TYPES[type] ?? 'placed',
        orderId: this.decoder.decode(this.scratch.subarray(0, idBytes)),
        status: ORDER_STATUSES[status] ?? 'held',
        at,
      });
      read++;
      this.cursor = (this.cursor + 1) | 0;
    }
    outcome.through = through;
    return outcome;
  }

  /** True when the slot at `base` holds the written event of ring sequence `seq`. */
  private holds(base: number, seq: number): boolean {
    const words = this.ring.words;
    return Atomics.load(words, base + STATE) === WRITTEN && Atomics.load(words, base + SEQ) === seq;
  }

  /**
   * After a lap: moves the cursor to the head and returns the LSN of the newest event before
   * it, so every event passed over is at or below that LSN and every event ahead is above.
   */
  private resync(): number {
    const ring = this.ring;
    for (;;) {
      const head = Atomics.load(ring.control, HEAD);
      const last = (head - 1) | 0;
      const slot = last & ring.mask;
      const lsn = ring.floats[(slot * SLOT_BYTES + LSN_BYTE) / 8];
      if (this.holds(slot * SLOT_WORDS, last)) {
        this.cursor = head;
        return lsn;
      }
      // The newest slot is being rewritten by a later lap: try again from the new head.
    }
  }
}
