/**
 * Deadlines of every pending call under one timer. A call's deadline is its start plus its
 * timeout; calls with the same timeout therefore expire in the order they started, so each
 * distinct timeout keeps its calls in one FIFO list (an intrusive doubly linked list: adding,
 * removing and finding the earliest are O(1), with no object per call beyond the call). The
 * one timer is armed for the earliest head over all lists.
 *
 * Invariants:
 * - An item is in at most one list, and in none once removed or expired.
 * - Within a list, deadlines never decrease from head to tail (the clock is monotonic and the
 *   timeout is the list's own), so the head is the list's earliest.
 * - While any item is listed, the timer is armed, for the earliest deadline or at most
 *   DEADLINE_RESOLUTION_MS after it; a timer that fires for a removed item finds nothing due
 *   and re-arms for what is left (or stays off). So timer operations follow deadlines, not
 *   calls, and no item expires before its deadline.
 * - Lists are few: one per distinct timeout value in use, removed when they empty.
 */

/**
 * The timer's resolution: after a sweep, the next one is at least this far off, so deadlines
 * a fraction of a millisecond apart (a burst of calls) expire in one sweep, not one each. A
 * call may so time out up to this much late, never early.
 */
export const DEADLINE_RESOLUTION_MS = 4;

/** Something with a deadline: the session's pending calls extend this. */
export abstract class Deadlined {
  /** Monotonic milliseconds (performance.now) at which the item expires. */
  deadline = 0;
  previous: Deadlined | null = null;
  next: Deadlined | null = null;
  list: DeadlineList | null = null;

  /** Called once the deadline has passed; the item is already out of its list. */
  abstract expired(): void;
}

class DeadlineList {
  head: Deadlined | null = null;
  tail: Deadlined | null = null;

  constructor(readonly timeoutMs: number) {}
}

/** The clock deadlines are measured on: monotonic, in milliseconds. */
export type MonotonicClock = () => number;

function sweepOnTimer(deadlines: Deadlines): void {
  deadlines.sweep();
}

export class Deadlines {
  private readonly lists = new Map<number, DeadlineList>();
  private timer: NodeJS.Timeout | undefined = undefined;
  /** The deadline the timer is armed for; Infinity when it is not armed. */
  private armedFor = Number.POSITIVE_INFINITY;
  /** Items in all lists. */
  size = 0;

  constructor(private readonly now: MonotonicClock) {}

  /** Starts `item`'s deadline `timeoutMs` from now. */
  add(item: Deadlined, timeoutMs: number): void {
    const deadline = this.now() + timeoutMs;
    item.deadline = deadline;
    let list = this.lists.get(timeoutMs);
    if (list === undefined) {
      list = new DeadlineList(timeoutMs);
      this.lists.set(timeoutMs, list);
    }
    item.list = list;
    item.previous = list.tail;
    item.next = null;
    if (list.tail === null) list.head = item;
    else list.tail.next = item;
    list.tail = item;
    this.size++;
    if (deadline < this.armedFor) this.arm(deadline);
  }

  /** Takes `item` out of its list; a no-op when it is in none. */
  remove(item: Deadlined): void {
    const list = item.list;
    if (list === null) return;
    if (item.previous === null) list.head = item.next;
    else item.previous.next = item.next;
    if (item.next === null) list.tail = item.previous;
    else item.next.previous = item.previous;
    item.previous = null;
    item.next = null;
    item.list = null;
    this.size--;
    if (list.head === null) this.lists.delete(list.timeoutMs);
    // The timer is left armed, even with nothing left: when it fires it expires what is due,
    // if anything, and re-arms only for what remains. Disarming here would cost a
    // clearTimeout, and the next call a setTimeout, per answered call.
  }

  /** Expires every item whose deadline has passed, then re-arms for the earliest left. */
  sweep(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (const list of [...this.lists.values()]) {
      let head = list.head;
      while (head !== null && head.deadline <= now) {
        this.remove(head);
        head.expired();
        head = list.head;
      }
    }
    this.rearm();
  }

  /** Every item, for failing them all at once (a snapshot: the caller may remove them). */
  items(): Deadlined[] {
    const all: Deadlined[] = [];
    for (const list of this.lists.values()) {
      for (let item = list.head; item !== null; item = item.next) all.push(item);
    }
    return all;
  }

  /** Stops the timer; items stay (the caller removes them). */
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private rearm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const list of this.lists.values()) {
      if (list.head !== null && list.head.deadline < earliest) earliest = list.head.deadline;
    }
    if (earliest !== Number.POSITIVE_INFINITY) {
      this.arm(Math.max(earliest, this.now() + DEADLINE_RESOLUTION_MS));
    }
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    const delayMs = Math.max(0, Math.ceil(at - this.now()));
    this.timer = setTimeout(sweepOnTimer, delayMs, this);
  }
}
