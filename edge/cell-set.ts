/**
 * `CellSet`: a set of stock cell ids (dc × skuCapacity + sku, non-negative int32) with a fixed
 * capacity, for collecting which cells changed during a tick. It sits on the engine observer's
 * hot path, so adding allocates nothing: an open-addressing table of twice the capacity
 * (linear probing) plus the ids in insertion order.
 *
 * Invariants: `count ≤ capacity`; `ids[0, count)` holds each added id once; the table holds
 * exactly those ids; `clear` costs O(count), not O(table).
 */

const EMPTY = -1;

export class CellSet {
  readonly capacity: number;
  private readonly table: Int32Array;
  private readonly mask: number;
  private readonly ids: Int32Array;
  private size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new RangeError(`CellSet capacity must be an integer in [1, 2^24], got ${capacity}`);
    }
    this.capacity = capacity;
    let slots = 2;
    while (slots < capacity * 2) slots *= 2;
    this.table = new Int32Array(slots).fill(EMPTY);
    this.mask = slots - 1;
    this.ids = new Int32Array(capacity);
  }

  get count(): number {
    return this.size;
  }

  get full(): boolean {
    return this.size === this.capacity;
  }

  /** Adds `cell`; false when it was not there and there is no room (nothing changes then). */
  add(cell: number): boolean {
    const table = this.table;
    const mask = this.mask;
    // Fibonacci hashing spreads the consecutive ids of one DC over the table.
    let slot = Math.imul(cell, 0x9e3779b1) >>> 0;
    slot &= mask;
    for (;;) {
      const held = table[slot];
      if (held === cell) return true;
      if (held === EMPTY) break;
      slot = (slot + 1) & mask;
    }
    if (this.size === this.capacity) return false;
    table[slot] = cell;
    this.ids[this.size++] = cell;
    return true;
  }

  has(cell: number): boolean {
    const table = this.table;
    const mask = this.mask;
    let slot = (Math.imul(cell, 0x9e3779b1) >>> 0) & mask;
    for (;;) {
      const held = table[slot];
      if (held === cell) return true;
      if (held === EMPTY) return false;
      slot = (slot + 1) & mask;
    }
  }

  /** The ids added since the last clear, in insertion order; a view, valid until `clear`. */
  view(): Int32Array {
    return this.ids.subarray(0, this.size);
  }

  /** A copy of the ids, for handing to another thread. */
  copy(): Int32Array {
    return this.ids.slice(0, this.size);
  }

  clear(): void {
    const table = this.table;
    const mask = this.mask;
    const ids = this.ids;
    // Each id is found by probing from its home slot, walking past slots already emptied
    // (the loop looks for the id, not for EMPTY), and cleared.
    for (let index = 0; index < this.size; index++) {
      const cell = ids[index];
      let slot = (Math.imul(cell, 0x9e3779b1) >>> 0) & mask;
      while (table[slot] !== cell) slot = (slot + 1) & mask;
      table[slot] = EMPTY;
    }
    this.size = 0;
  }
}
