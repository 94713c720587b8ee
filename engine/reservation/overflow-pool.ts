/**
 * The overflow pool: fixed-size blocks for the allocation entries an order slot cannot hold
 * inline (order-slot.ts), shared by every slot of the order table, allocated once at start.
 *
 * A block is BLOCK_BYTES (one cache line): the index of the next block of its chain, then
 * BLOCK_ENTRIES_MAX entries (cell, qty). A slot that needs blocks owns one chain of them; the
 * pool keeps the blocks no slot owns on a free list. Block 0 is never handed out, so NO_BLOCK
 * is 0 and zeroed memory reads as "no chain".
 *
 * Blocks are handed out from the free list first, then from the never-used tail (`bumped`
 * counts the blocks handed out at least once). The tail is never touched before it is handed
 * out, so the pool's resident memory is its high-water mark, not its size.
 *
 * Bounds: at most `blockCount` blocks; `take` answers POOL_SHORT, taking nothing, when fewer
 * are left, and the caller refuses the order (CAPACITY_EXHAUSTED) before anything is logged.
 *
 * Memory ordering: one futex-style lock word (futex-lock.ts) guards the free list and the
 * counters. The control words are read and written with Atomics under it (several threads
 * write them); the next-links of free blocks are plain, read and written only under the lock.
 * A block's contents are written by the slot that owns it, under that slot's bucket lock; a
 * block changes owner only through this lock, whose sequentially consistent exchange orders
 * the old owner's writes before the new owner's.
 */

import { assert } from '../assert.js';
import { lockWord, unlockWord } from './futex-lock.js';

/** Bytes of one block: one cache line. */
export const BLOCK_BYTES = 64;
/** Byte offset of the next block's index (int32) in a block; NO_BLOCK ends a chain. */
export const BLOCK_NEXT = 0;
/** Byte offset of the first entry; bytes 4-7 are unused so entries stay 8-byte aligned. */
export const BLOCK_ENTRIES = 8;
/** Bytes of one allocation entry: cell (int32) then qty (int32). */
export const ENTRY_BYTES = 8;
export const BLOCK_ENTRIES_MAX = (BLOCK_BYTES - BLOCK_ENTRIES) / ENTRY_BYTES;

/** Int32 index of a block's fields, relative to the block's first int32. */
export const BLOCK_INTS = BLOCK_BYTES / 4;
export const BLOCK_NEXT_INT = BLOCK_NEXT / 4;
export const BLOCK_ENTRIES_INT = BLOCK_ENTRIES / 4;

/** The end of a chain, and an empty free list. Block 0 exists but is never handed out. */
export const NO_BLOCK = 0;
/** `take` results other than a chain's head. */
export const POOL_SHORT = -1;
export const POOL_BUSY = -2;

// Control words (an Int32Array of CONTROL_INTS, one cache line).
const CONTROL_LOCK = 0;
/** The first block of the free list, or NO_BLOCK. */
const CONTROL_FREE_HEAD = 1;
/** Blocks on the free list. */
const CONTROL_FREE_COUNT = 2;
/** Blocks handed out at least once: 1 .. bumped have been touched, the rest never. */
const CONTROL_BUMPED = 3;
const CONTROL_INTS = 16;

export interface OverflowPoolBuffers {
  blocks: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

export function allocateOverflowPool(blockCount: number): OverflowPoolBuffers {
  return {
    blocks: new SharedArrayBuffer((blockCount + 1) * BLOCK_BYTES),
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
  };
}

export function overflowPoolBytes(blockCount: number): number {
  return (blockCount + 1) * BLOCK_BYTES + CONTROL_INTS * 4;
}

/** Blocks a chain needs for `entries` entries past the inline ones. */
export function blocksForEntries(entries: number): number {
  return entries <= 0 ? 0 : Math.ceil(entries / BLOCK_ENTRIES_MAX);
}

export class OverflowPool {
  /** Every block as int32s: block b's fields start at b * BLOCK_INTS. */
  readonly ints: Int32Array;
  private readonly control: Int32Array;

  constructor(
    buffers: OverflowPoolBuffers,
    readonly blockCount: number,
    private readonly lockWaitMsMax: number,
  ) {
    this.ints = new Int32Array(buffers.blocks);
    this.control = new Int32Array(buffers.control);
    assert(this.ints.length === (blockCount + 1) * BLOCK_INTS, 'overflow pool of the wrong size');
  }

  /** The block after `block` in its chain, or NO_BLOCK. */
  next(block: number): number {
    return this.ints[block * BLOCK_INTS + BLOCK_NEXT_INT];
  }

  /** Links `next` after `block` (the caller owns the chain). */
  link(block: number, next: number): void {
    this.ints[block * BLOCK_INTS + BLOCK_NEXT_INT] = next;
  }

  /**
   * A chain of `count` (> 0) blocks, its last linked to NO_BLOCK, for the caller to own; or
   * POOL_SHORT when fewer are left (nothing taken), or POOL_BUSY when the lock stayed busy.
   */
  take(count: number): number {
    assert(count > 0, 'a take of no blocks');
    const control = this.control;
    if (!lockWord(control, CONTROL_LOCK, this.lockWaitMsMax)) return POOL_BUSY;
    try {
      let freeHead = Atomics.load(control, CONTROL_FREE_HEAD);
      let freeCount = Atomics.load(control, CONTROL_FREE_COUNT);
      let bumped = Atomics.load(control, CONTROL_BUMPED);
      if (freeCount + (this.blockCount - bumped) < count) return POOL_SHORT;
      let head = NO_BLOCK;
      for (let taken = 0; taken < count; taken++) {
        let block: number;
        if (freeHead !== NO_BLOCK) {
          block = freeHead;
          freeHead = this.next(block);
          freeCount--;
        } else {
          block = ++bumped;
        }
        this.link(block, head);
        head = block;
      }
      Atomics.store(control, CONTROL_FREE_HEAD, freeHead);
      Atomics.store(control, CONTROL_FREE_COUNT, freeCount);
      Atomics.store(control, CONTROL_BUMPED, bumped);
      return head;
    } finally {
      unlockWord(control, CONTROL_LOCK);
    }
  }

  /** Gives a chain the caller owns back to the pool (NO_BLOCK gives nothing). */
  free(head: number): void {
    if (head === NO_BLOCK) return;
    // The chain is the caller's: walk it to its tail before taking the lock.
    let tail = head;
    let count = 1;
    for (let block = this.next(head); block !== NO_BLOCK; block = this.next(block)) {
      tail = block;
      count++;
    }
    const control = this.control;
    // A holder keeps this lock for a few hundred nanoseconds and creates no objects under it;
    // a wait past the bound means a thread died holding it, and a free that gave up would
    // leak the chain silently. Stop instead; recovery rebuilds the pool from the log.
    assert(
      lockWord(control, CONTROL_LOCK, this.lockWaitMsMax),
      "the overflow pool's lock stayed busy past its bound",
    );
    try {
      this.link(tail, Atomics.load(control, CONTROL_FREE_HEAD));
      Atomics.store(control, CONTROL_FREE_HEAD, head);
      Atomics.add(control, CONTROL_FREE_COUNT, count);
    } finally {
      unlockWord(control, CONTROL_LOCK);
    }
  }

  /** Blocks owned by chains now (a hint while other threads run). */
  blocksInUse(): number {
    return (
      Atomics.load(this.control, CONTROL_BUMPED) - Atomics.load(this.control, CONTROL_FREE_COUNT)
    );
  }

  /** Blocks never handed out plus blocks on the free list (a hint while other threads run). */
  blocksLeft(): number {
    return this.blockCount - this.blocksInUse();
  }

  /**
   * O(pool) check for a quiescent table (verify): the free list is as long as its count and
   * holds only handed-out blocks, and with `owned` blocks in chains, none is lost.
   */
  checkAccounting(owned: number): string[] {
    const problems: string[] = [];
    const bumped = Atomics.load(this.control, CONTROL_BUMPED);
    const freeCount = Atomics.load(this.control, CONTROL_FREE_COUNT);
    let listed = 0;
    let block = Atomics.load(this.control, CONTROL_FREE_HEAD);
    for (; block !== NO_BLOCK && listed <= bumped; block = this.next(block)) {
      if (block < 1 || block > bumped) {
        problems.push(`overflow pool: block ${block} on the free list was never handed out`);
        break;
      }
      listed++;
    }
    if (listed !== freeCount) {
      problems.push(
        `overflow pool: ${listed} blocks on the free list, its count says ${freeCount}`,
      );
    }
    if (owned + freeCount !== bumped) {
      problems.push(`overflow pool: ${owned} owned + ${freeCount} free ≠ ${bumped} handed out`);
    }
    return problems;
  }
}
