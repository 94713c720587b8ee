/**
 * The client's half of a connection's SKU table (PROTOCOL.md, "SKU refs"): which ref each
 * SKU id was given on this connection, and which of those definitions the node is known to
 * hold. `availabilityMany` and `placeOrders` requests then carry 4-byte refs, plus the
 * definitions of the refs the node may not hold yet.
 *
 * Invariants:
 * - Refs are given in order from 0, one per distinct id, never reused: at most `max`.
 * - A ref is `known` only once a request that defined it was answered with an ok answer (the
 *   node ran it, so it holds the definition); until then every request that uses the ref
 *   defines it again, which the node accepts (the same id at the same ref).
 * - One table per connection: a new connection starts a new one (the node's is per
 *   connection too), and requests encoded for the old one are encoded again.
 */

import { StringTable } from './string-table.js';

export class SkuRefs {
  private readonly refs = new StringTable<number>();
  private readonly ids: string[] = [];
  private readonly known: Uint8Array;
  /** Per ref: the last encoding that listed its definition (no ref is defined twice in one). */
  private readonly listedIn: Int32Array;
  private encoding = 0;

  constructor(readonly max: number) {
    this.known = new Uint8Array(max);
    this.listedIn = new Int32Array(max);
  }

  /** Refs given so far. */
  get size(): number {
    return this.ids.length;
  }

  /** Starts encoding a request: `defines` then lists each ref once. */
  begin(): void {
    this.encoding++;
  }

  /**
   * The ref of `id` (given now if new), and whether the request being encoded must define it;
   * -1 when the table is full and `id` has no ref.
   */
  refOf(id: string): number {
    let ref = this.refs.get(id);
    if (ref === undefined) {
      if (this.ids.length >= this.max) return -1;
      ref = this.ids.length;
      this.ids.push(id);
      this.refs.set(id, ref);
    }
    return ref;
  }

  /** Whether the request being encoded must carry `ref`'s definition (first ask per request). */
  mustDefine(ref: number): boolean {
    if (this.known[ref] === 1 || this.listedIn[ref] === this.encoding) return false;
    this.listedIn[ref] = this.encoding;
    return true;
  }

  idOf(ref: number): string {
    return this.ids[ref];
  }

  /** The node ran a request that defined `refs`: it holds them from now on. */
  confirm(refs: Int32Array): void {
    for (let at = 0; at < refs.length; at++) this.known[refs[at]] = 1;
  }
}
