/**
 * Whether this node may accept writes for its region, in shared memory so every worker thread
 * decides on its own, per request, without a message from the main thread: a primary whose
 * main thread was paused (SIGSTOP, a long GC) must not accept a write its worker threads see
 * first after the pause.
 *
 * Words: the role, the epoch, and the write deadline: a time on the monotonic clock
 * (`process.hrtime.bigint()`, nanoseconds, the same clock in every thread of the process, and
 * one that keeps running while the process is stopped). Writes are allowed only while the role
 * is PRIMARY and the clock is before the deadline. The lease (lease.ts) moves the deadline
 * forward after each successful renewal; nothing else does.
 *
 * Invariant: only the main thread stores; every thread loads with Atomics (the deadline is a
 * BigInt64 word, read and written whole).
 */

export const ROLE_STANDBY = 1;
export const ROLE_PRIMARY = 2;
/** Deposed or lease lost: writes refused for good (the process exits and restarts as a standby). */
export const ROLE_DEPOSED = 3;

export type RoleName = 'standby' | 'primary' | 'deposed';

const WORD_ROLE = 0;
const WORD_EPOCH = 1;
/** BigInt64 index of the deadline (byte offset 8). */
const WIDE_DEADLINE = 1;
const BUFFER_BYTES = 16;

export function createOwnershipBuffer(): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(BUFFER_BYTES);
  Atomics.store(new Int32Array(buffer), WORD_ROLE, ROLE_STANDBY);
  return buffer;
}

export class OwnershipGate {
  private readonly words: Int32Array;
  private readonly wide: BigInt64Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    private readonly nowNs: () => bigint = process.hrtime.bigint,
  ) {
    this.words = new Int32Array(buffer, 0, 2);
    this.wide = new BigInt64Array(buffer, 0, 2);
  }

  /** True while this node may accept a write: primary, and before its deadline. */
  writable(): boolean {
    return (
      Atomics.load(this.words, WORD_ROLE) === ROLE_PRIMARY &&
      this.nowNs() < Atomics.load(this.wide, WIDE_DEADLINE)
    );
  }

  role(): number {
    return Atomics.load(this.words, WORD_ROLE);
  }

  roleName(): RoleName {
    const role = this.role();
    return role === ROLE_PRIMARY ? 'primary' : role === ROLE_DEPOSED ? 'deposed' : 'standby';
  }

  epoch(): number {
    return Atomics.load(this.words, WORD_EPOCH);
  }

  deadlineNs(): bigint {
    return Atomics.load(this.wide, WIDE_DEADLINE);
  }

  // --- Main thread only. ---

  /** Moves the deadline; never backwards (a late renewal answer cannot shorten it). */
  extend(deadlineNs: bigint): void {
    if (deadlineNs > Atomics.load(this.wide, WIDE_DEADLINE)) {
      Atomics.store(this.wide, WIDE_DEADLINE, deadlineNs);
    }
  }

  becomePrimary(epoch: number): void {
    Atomics.store(this.words, WORD_EPOCH, epoch);
    Atomics.store(this.words, WORD_ROLE, ROLE_PRIMARY);
  }

  /** Writes stop at once and for good; the deadline is cleared too. */
  depose(): void {
    Atomics.store(this.words, WORD_ROLE, ROLE_DEPOSED);
    Atomics.store(this.wide, WIDE_DEADLINE, 0n);
  }
}
