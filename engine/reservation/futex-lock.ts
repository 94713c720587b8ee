/**
 * A mutex on one int32 word of shared memory, futex style (Drepper, "Futexes Are Tricky",
 * mutex 2): the word is FREE, or HELD by one thread, or HELD with possible WAITERS asleep on
 * it, whom unlock wakes. The order table's bucket locks and its overflow pool's lock are such
 * words.
 *
 * Memory ordering: the lock is taken with Atomics.compareExchange or Atomics.exchange and
 * released with Atomics.exchange, all sequentially consistent. So every write a holder made,
 * plain or atomic, is visible to the next thread that takes the same word: that is what lets
 * the fields a lock guards be written and read with plain stores and loads.
 *
 * Waits are bounded: a thread that cannot take a word within `waitMsMax` gets false and
 * holds nothing; the caller answers a code (LOCK_TIMEOUT) or treats it as a broken invariant.
 */

import { LOCK_SPINS_BEFORE_WAIT } from '../constants.js';

export const LOCK_FREE = 0;
export const LOCK_HELD = 1;
export const LOCK_WAITERS = 2;

/** Takes the lock word `words[index]`, waiting at most `waitMsMax`; false if it did not. */
export function lockWord(words: Int32Array, index: number, waitMsMax: number): boolean {
  if (Atomics.compareExchange(words, index, LOCK_FREE, LOCK_HELD) === LOCK_FREE) return true;
  // A holder keeps a lock for microseconds: spin a little before sleeping.
  for (let spin = 0; spin < LOCK_SPINS_BEFORE_WAIT; spin++) {
    if (
      Atomics.load(words, index) === LOCK_FREE &&
      Atomics.compareExchange(words, index, LOCK_FREE, LOCK_HELD) === LOCK_FREE
    ) {
      return true;
    }
  }
  // Mark the lock as having waiters and sleep until the holder's unlock wakes us. Taking it
  // by exchange leaves it marked, so our own unlock wakes whoever else may be asleep.
  const deadline = performance.now() + waitMsMax;
  while (Atomics.exchange(words, index, LOCK_WAITERS) !== LOCK_FREE) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(words, index, LOCK_WAITERS, left);
  }
  return true;
}

/** Releases a lock word this thread holds, waking one sleeper if any may wait. */
export function unlockWord(words: Int32Array, index: number): void {
  if (Atomics.exchange(words, index, LOCK_FREE) === LOCK_WAITERS) Atomics.notify(words, index, 1);
}
