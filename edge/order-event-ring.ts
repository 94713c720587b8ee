/**
 * The order event ring: one SharedArrayBuffer that every thread of a node writes its order
 * events into and every worker reads, in one total order. A global order is what lets the
 * event stream deliver an order's events in the order they happened even when `placed` was
 * seen by one thread and `confirmed` by another: each event takes its sequence number with
 * one `Atomics.add` at the moment the engine reports it, after the change, so an event caused
 * by an earlier one (a confirm sent after the place was answered) always gets a later number.
 *
 * Layout (int32 words): a control block of CONTROL_WORDS (word HEAD: the next sequence number,
 * wrapping at 2^32), then `slots` slots of SLOT_BYTES. Slot words: STATE (0 writing, 1
 * written), SEQ (the event's sequence number, int32), TYPE, STATUS, ID_BYTES; the float64 AT
 * at byte AT_BYTE; the order id's UTF-8 bytes from ID_BYTE (at most ID_BYTES_MAX).
 *
 * Protocol (a seqlock per slot):
 * - A writer takes `seq = Atomics.add(HEAD, 1)`, stores STATE = 0 then SEQ = seq, writes the
 *   fields with plain stores, and publishes with `Atomics.store(STATE, 1)`.
 * - A reader expecting `seq` loads STATE and SEQ; it reads the fields only when STATE is 1
 *   and SEQ is `seq`, then loads both again: a change means a writer a lap ahead overwrote
 *   the slot meanwhile, and the event counts as missed. The seq-cst loads and stores order the
 *   plain field accesses between them; a torn read is always caught by the second check.
 * - A reader stops at the first slot not yet written (STATE 0 or an older SEQ) and tries again
 *   next tick, so events are delivered strictly in sequence order. A slot that stays unwritten
 *   for ORDER_EVENT_STALL_MS_MAX (its writer died) is skipped as missed.
 * - A reader more than a lap behind skips to the oldest event still in the ring.
 *
 * Sequence numbers are exposed as full numbers (not wrapped): every reader starts at the same
 * head when the node starts and counts laps itself.
 */

import type { OrderEvent } from '../engine/types.js';
import type { OrderEventType, OrderEventView, OrderStatus } from '../protocol/messages.js';
import { ORDER_EVENT_STALL_MS_MAX } from './constants.js';

const CONTROL_WORDS = 16;
const HEAD = 0;

const SLOT_BYTES = 96;
const SLOT_WORDS = SLOT_BYTES / 4;
const STATE = 0;
const SEQ = 1;
const TYPE = 2;
const STATUS = 3;
const ID_BYTES = 4;
const AT_BYTE = 24;
const ID_BYTE = 32;
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
  return new SharedArrayBuffer(CONTROL_WORDS * 4 + slots * SLOT_BYTES);
}

/** The views every thread makes over the ring's buffer. */
class RingViews {
  readonly control: Int32Array;
  readonly words: Int32Array;
  readonly floats: Float64Array;
  readonly bytes: Uint8Array;
  readonly slots: number;
  readonly mask: number;

  constructor(buffer: SharedArrayBuffer) {
    const slotBytes = buffer.byteLength - CONTROL_WORDS * 4;
    this.slots = slotBytes / SLOT_BYTES;
    if (!Number.isInteger(this.slots) || (this.slots & (this.slots - 1)) !== 0) {
      throw new Error('not an order event ring buffer');
    }
    this.mask = this.slots - 1;
    this.control = new Int32Array(buffer, 0, CONTROL_WORDS);
    this.words = new Int32Array(buffer, CONTROL_WORDS * 4, this.slots * SLOT_WORDS);
    this.floats = new Float64Array(buffer, CONTROL_WORDS * 4, (this.slots * SLOT_BYTES) / 8);
    this.bytes = new Uint8Array(buffer, CONTROL_WORDS * 4, this.slots * SLOT_BYTES);
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

/** One thread's writing end: called from the engine observer, allocation-free. */
export class OrderEventWriter {
  private readonly ring: RingViews;

  constructor(buffer: SharedArrayBuffer) {
    this.ring = new RingViews(buffer);
  }

  write(event: OrderEvent): void {
    const ring = this.ring;
    const seq = Atomics.add(ring.control, HEAD, 1);
    const slot = seq & ring.mask;
    const base = slot * SLOT_WORDS;
    const words = ring.words;
    Atomics.store(words, base + STATE, WRITING);
    Atomics.store(words, base + SEQ, seq);
    words[base + TYPE] = TYPE_INDEX.get(event.type) ?? 0;
    words[base + STATUS] = STATUS_INDEX.get(event.status) ?? 0;
    ring.floats[(slot * SLOT_BYTES + AT_BYTE) / 8] = event.at;
    const offset = slot * SLOT_BYTES + ID_BYTE;
    words[base + ID_BYTES] = writeUtf8(ring.bytes, offset, event.orderId, ID_BYTES_MAX);
    Atomics.store(words, base + STATE, WRITTEN);
  }
}

/** What one `read` found: events appended to the caller's array, and how many were lost. */
export interface ReadOutcome {
  read: number;
  missed: number;
}

/** One worker's reading end: a cursor over the ring, in sequence order. */
export class OrderEventReader {
  private readonly ring: RingViews;
  private readonly scratch = new Uint8Array(ID_BYTES_MAX);
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  /** The next sequence number to deliver, as a full number. */
  private cursor: number;
  /** When the slot at the cursor was first found unwritten (0: it was not). */
  private stalledSinceMs = 0;
  private readonly outcome: ReadOutcome = { read: 0, missed: 0 };

  constructor(
    buffer: SharedArrayBuffer,
    private readonly clock: () => number,
  ) {
    this.ring = new RingViews(buffer);
    this.cursor = Atomics.load(this.ring.control, HEAD) >>> 0;
  }

  /** The sequence number of the next event this reader delivers. */
  get next(): number {
    return this.cursor;
  }

  /** Events written and not yet read (including any being written right now). */
  backlog(): number {
    return (Atomics.load(this.ring.control, HEAD) - (this.cursor | 0)) | 0;
  }

  /** Moves past everything written so far, delivering nothing (no one is listening). */
  skipToHead(): void {
    const behind = this.backlog();
    if (behind > 0) this.cursor += behind;
    this.stalledSinceMs = 0;
  }

  /**
   * Appends up to `max` events to `out`, in order. The returned object is reused by the next
   * call.
   */
  read(out: OrderEventView[], max: number): ReadOutcome {
    const outcome = this.outcome;
    outcome.read = 0;
    outcome.missed = 0;
    let behind = this.backlog();
    if (behind > this.ring.slots) {
      // Lapped: the oldest events were overwritten before this reader got to them.
      const lost = behind - this.ring.slots;
      outcome.missed += lost;
      this.cursor += lost;
      behind = this.ring.slots;
    }
    while (behind > 0 && outcome.read < max) {
      const step = this.readOne(out);
      if (step === 0) break;
      behind--;
    }
    return outcome;
  }

  /** Reads the event at the cursor: 1 when the cursor moved (read or missed), 0 to wait. */
  private readOne(out: OrderEventView[]): number {
    const ring = this.ring;
    const expected = this.cursor | 0;
    const slot = expected & ring.mask;
    const base = slot * SLOT_WORDS;
    const words = ring.words;
    const state = Atomics.load(words, base + STATE);
    const seq = Atomics.load(words, base + SEQ);
    if (seq !== expected || state !== WRITTEN) {
      if (((seq - expected) | 0) > 0) return this.miss();
      // Not written yet: wait, unless its writer has clearly gone.
      const now = this.clock();
      if (this.stalledSinceMs === 0) this.stalledSinceMs = now;
      if (now - this.stalledSinceMs < ORDER_EVENT_STALL_MS_MAX) return 0;
      return this.miss();
    }
    const type = words[base + TYPE];
    const status = words[base + STATUS];
    const at = ring.floats[(slot * SLOT_BYTES + AT_BYTE) / 8];
    const idBytes = Math.min(words[base + ID_BYTES], ID_BYTES_MAX);
    const offset = slot * SLOT_BYTES + ID_BYTE;
    // TextDecoder refuses views of shared memory: copy the bytes out first.
    this.scratch.set(ring.bytes.subarray(offset, offset + idBytes));
    if (Atomics.load(words, base + STATE) !== WRITTEN || Atomics.load(words, base + SEQ) !== seq) {
      return this.miss();
    }
    out.push({
      seq: this.cursor,
      type: ORDER_EVENT_TYPES[type] ?? 'placed',
      orderId: this.decoder.decode(this.scratch.subarray(0, idBytes)),
      status: ORDER_STATUSES[status] ?? 'held',
      at,
    });
    this.outcome.read++;
    this.cursor++;
    this.stalledSinceMs = 0;
    return 1;
  }

  private miss(): number {
    this.outcome.missed++;
    this.cursor++;
    this.stalledSinceMs = 0;
    return 1;
  }
}
