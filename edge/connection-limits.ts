/**
 * Caps on WebSocket connections, per node and per API key, shared by every worker thread: a
 * connection is counted in shared memory when its upgrade is accepted and uncounted when it
 * closes, so a key cannot multiply its share by the number of threads, and a flood of idle
 * connections cannot take the node's memory.
 *
 * Layout of the shared Int32Array: [0] connections of the node, [1 + k] connections of the key
 * with index k in the KeyRing (`KeyIdentity.index`).
 *
 * Invariants: a slot is taken with Atomics.add and given back on refusal or close, so the counts
 * are exact whatever the threads interleave; a count never goes negative (asserted). A key's
 * slot keeps its index across key reloads while the key stays (keys.ts, KeySlots); a removed
 * key's connections are closed, which gives their counts back before the slot is reused.
 */

/** Keys the shared counters have room for; a key ring is refused at start beyond it. */
export const CONNECTION_KEYS_MAX = 4_096;
const NODE_WORD = 0;

export interface ConnectionCaps {
  /** WebSocket connections the whole node holds at most. */
  perNode: number;
  /** WebSocket connections one API key holds at most, over all its clients. */
  perKey: number;
}

export function createConnectionCounts(): SharedArrayBuffer {
  return new SharedArrayBuffer((1 + CONNECTION_KEYS_MAX) * Int32Array.BYTES_PER_ELEMENT);
}

export class ConnectionLimits {
  private readonly counts: Int32Array;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly caps: ConnectionCaps,
  ) {
    this.counts = new Int32Array(buffer);
  }

  /**
   * Counts one more connection of key `key`; false (nothing counted) when a cap is reached.
   * `perKey` is the key's own cap when its key file entry sets one.
   */
  acquire(key: number, perKey: number = this.caps.perKey): boolean {
    const counts = this.counts;
    if (Atomics.add(counts, NODE_WORD, 1) >= this.caps.perNode) {
      Atomics.sub(counts, NODE_WORD, 1);
      return false;
    }
    if (Atomics.add(counts, 1 + key, 1) >= perKey) {
      Atomics.sub(counts, 1 + key, 1);
      Atomics.sub(counts, NODE_WORD, 1);
      return false;
    }
    return true;
  }

  release(key: number): void {
    const node = Atomics.sub(this.counts, NODE_WORD, 1);
    const perKey = Atomics.sub(this.counts, 1 + key, 1);
    if (node <= 0 || perKey <= 0) throw new Error('connection limits invariant broken: release');
  }

  /** Connections the node holds now (a metric). */
  get total(): number {
    return Atomics.load(this.counts, NODE_WORD);
  }

  /** Connections key `key` holds now (a metric; whether a removed key's slot is free yet). */
  ofKey(key: number): number {
    return Atomics.load(this.counts, 1 + key);
  }
}
