/**
 * A WebSocket connection's SKU table (protocol v2, the `skuRefs` of `availabilityMany` and
 * `placeOrders`): the client
 * names each SKU id once per connection, at a ref of its choosing (0..SKU_REFS_MAX-1), and
 * then sends 4-byte refs instead of the id's bytes. The node resolves a ref to the engine's
 * SKU index once and keeps it (SKUs are never removed, so an index stays right), so a query
 * costs an array read per SKU instead of decoding a string and looking it up in the catalogue.
 *
 * Invariants:
 * - A ref, once defined, keeps its id for the connection's life: a definition that gives a
 *   defined ref another id is refused, and so is the whole request, with nothing applied.
 * - A request's definitions apply only when the request runs (`resolve`), all of them or none;
 *   a request refused before it runs (rate limit, window, validation) defines nothing, so a
 *   client sends a ref's definition with every request that uses it until one such request is
 *   answered (an ok answer, even with per-query refusals inside).
 * - An index of -1 (an id the catalogue lacked) is looked up again on each use: the SKU may
 *   have been created since.
 */

import { type ErrorBody, SKU_REFS_MAX } from '../protocol/index.js';
import { errorOf } from './errors.js';

/** `indexes` value of a ref no definition has named. */
const UNDEFINED_REF = -2;
const UNKNOWN_SKU = -1;
const TABLE_CAPACITY_INITIAL = 256;

/** Where a ref's id is looked up (the engine): its SKU index, or -1 for an unknown id. */
export interface SkuCatalogue {
  skuIndexOf(id: string): number;
}

export class SkuTable {
  private ids: string[] = [];
  private indexes = new Int32Array(TABLE_CAPACITY_INITIAL).fill(UNDEFINED_REF);
  /** The refs in the order they were defined (to take back a refused request's). */
  private readonly order: number[] = [];

  /** Refs defined so far. */
  get size(): number {
    return this.order.length;
  }

  /**
   * Applies `defineRefs` / `defineSkus` (checked first, all or nothing), then writes the
   * engine's SKU index of each of `refs` into `into` (-1 for an unknown SKU). Null when done;
   * the error (BAD_FIELD, naming the field) when a definition conflicts or a ref is not
   * defined, with none of the request's definitions kept.
   */
  resolve(
    refs: Int32Array,
    defineRefs: Int32Array | undefined,
    defineSkus: readonly string[] | undefined,
    catalogue: SkuCatalogue,
    into: Int32Array,
  ): ErrorBody | null {
    const sizeBefore = this.size;
    if (defineRefs !== undefined && defineSkus !== undefined) {
      const conflict = this.conflict(defineRefs, defineSkus);
      if (conflict !== null) return conflict;
      for (let at = 0; at < defineRefs.length; at++) this.define(defineRefs[at], defineSkus[at]);
    }
    const { ids, indexes } = this;
    for (let at = 0; at < refs.length; at++) {
      const ref = refs[at];
      let index = ref < indexes.length ? indexes[ref] : UNDEFINED_REF;
      if (index === UNDEFINED_REF) {
        this.undefineFrom(sizeBefore);
        const message = `skuRefs[${at}]: ref ${ref} is not defined on this connection`;
        return errorOf('BAD_FIELD', message, { field: `skuRefs[${at}]` });
      }
      if (index === UNKNOWN_SKU) {
        index = catalogue.skuIndexOf(ids[ref]);
        indexes[ref] = index;
      }
      into[at] = index;
    }
    return null;
  }

  /** The ids of `refs`, all defined (as after a `resolve` of them that returned null). */
  idsOf(refs: Int32Array): string[] {
    const ids = new Array<string>(refs.length);
    for (let at = 0; at < refs.length; at++) ids[at] = this.ids[refs[at]];
    return ids;
  }

  /**
   * The first definition that would give a defined ref another id, or give one ref two ids in
   * the same request. Linear in the definitions (a request may carry thousands).
   */
  private conflict(defineRefs: Int32Array, defineSkus: readonly string[]): ErrorBody | null {
    const inRequest = defineRefs.length > 1 ? new Map<number, string>() : null;
    for (let at = 0; at < defineRefs.length; at++) {
      const ref = defineRefs[at];
      const id = defineSkus[at];
      const held = ref < this.indexes.length && this.indexes[ref] !== UNDEFINED_REF;
      let other = held && this.ids[ref] !== id ? this.ids[ref] : undefined;
      if (other === undefined && inRequest !== null) {
        const earlier = inRequest.get(ref);
        if (earlier === undefined) inRequest.set(ref, id);
        else if (earlier !== id) other = earlier;
      }
      if (other !== undefined) {
        return errorOf(
          'BAD_FIELD',
          `defineRefs[${at}]: ref ${ref} is '${other}' on this connection, not '${id}'`,
          { field: `defineRefs[${at}]` },
        );
      }
    }
    return null;
  }

  private define(ref: number, id: string): void {
    if (ref >= this.indexes.length) this.grow(ref + 1);
    if (this.indexes[ref] !== UNDEFINED_REF) return;
    this.ids[ref] = id;
    // Looked up at first use, and again while the catalogue lacks it.
    this.indexes[ref] = UNKNOWN_SKU;
    this.order.push(ref);
  }

  /** Takes back the definitions made since the table held `size` refs. */
  private undefineFrom(size: number): void {
    const order = this.order;
    while (order.length > size) this.indexes[order.pop()!] = UNDEFINED_REF;
  }

  private grow(needed: number): void {
    let capacity = this.indexes.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Int32Array(Math.min(capacity, SKU_REFS_MAX)).fill(UNDEFINED_REF);
    grown.set(this.indexes);
    this.indexes = grown;
  }
}
