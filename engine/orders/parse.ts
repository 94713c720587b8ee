/**
 * Parsing an order request: the order id into its key bytes, the lines into SKU indexes and
 * quantities (refusing unknown SKUs, bad quantities, duplicates and per-order limits line by
 * line), the other fields checked against their limits, and the request's fingerprint.
 *
 * One parser per thread; its scratch (key bytes, parsed lines) holds the request being
 * handled until the next one is parsed. No object per line on the placement path: lines are
 * read from the request's columns into typed arrays.
 */

import type { LineRefusal } from '../../protocol/index.js';
import type { EngineContext } from '../context.js';
import { HOLD_TTL_SECONDS_MAX, ID_BYTES_MAX, MAX_MINUTES_CEILING } from '../constants.js';
import { fail } from '../failure.js';
import type { Failure, OrderLineInput, OrderRequest, PlaceOrderInput } from '../types.js';
import {
  encodeId,
  hashBytes,
  isIntInRange,
  isLatitude,
  isLongitude,
  isNumberInRange,
  isQuantity,
  mixInt,
} from '../validate.js';

export class OrderParser {
  /** The UTF-8 bytes of the order id last encoded, and how many. */
  readonly key = new Uint8Array(ID_BYTES_MAX);
  keyBytes = 0;
  /** The lines last parsed: SKU indexes and quantities, distinct SKUs. */
  readonly lineSku: Int32Array;
  readonly lineQty: Int32Array;
  lineCount = 0;
  /** Per-SKU stamps for duplicate-line detection in O(lines). */
  private readonly skuStamp: Int32Array;
  private stamp = 0;
  private readonly encoder = new TextEncoder();

  constructor(private readonly context: EngineContext) {
    const config = context.config;
    this.lineSku = new Int32Array(config.linesPerOrderMax);
    this.lineQty = new Int32Array(config.linesPerOrderMax);
    this.skuStamp = new Int32Array(config.skuCapacity);
  }

  /** Encodes an order id into `key`; its byte length, or -1 for an id that is not one. */
  encodeKey(orderId: unknown): number {
    this.keyBytes = encodeId(orderId, this.encoder, this.key);
    return this.keyBytes;
  }

  /** The table hash of the key last encoded. */
  keyHash(): number {
    return hashBytes(this.key, this.keyBytes);
  }

  /**
   * An object placement as a request, or a refusal for what is wrong with its shape (the
   * values themselves are checked by `parseRequest`, for both paths).
   */
  requestOf(input: PlaceOrderInput): OrderRequest | Failure {
    if (typeof input !== 'object' || input === null)
      return fail('BAD_REQUEST', 'order must be an object');
    const location = input.location as unknown;
    if (typeof location !== 'object' || location === null) return fail('BAD_LOCATION');
    const lines = this.linesOf(input.lines);
    if ('ok' in lines) return lines;
    return {
      orderId: input.orderId,
      lat: (location as { lat: number }).lat,
      lng: (location as { lng: number }).lng,
      mode: input.mode,
      policy: input.policy as OrderRequest['policy'],
      ttlSeconds: input.ttlSeconds,
      maxMinutes: input.maxMinutes,
      skus: lines.skus,
      qty: lines.qty,
      lineStart: 0,
      lineCount: lines.skus.length,
    };
  }

  /** Object lines as columns, or a refusal for a shape that is not an array of objects. */
  linesOf(lines: unknown): { skus: unknown[]; qty: unknown[] } | Failure {
    if (!Array.isArray(lines)) return fail('BAD_REQUEST', 'lines must be an array');
    if (lines.length > this.context.config.linesPerOrderMax) {
      return fail('TOO_MANY_LINES', `at most ${this.context.config.linesPerOrderMax} lines`);
    }
    const skus = new Array<unknown>(lines.length);
    const qty = new Array<unknown>(lines.length);
    for (let line = 0; line < lines.length; line++) {
      const entry = lines[line] as OrderLineInput;
      if (typeof entry !== 'object' || entry === null)
        return fail('BAD_REQUEST', 'a line must be an object');
      skus[line] = entry.sku;
      qty[line] = entry.qty;
    }
    return { skus, qty };
  }

  /** Validates a placement (with or without its order id) and parses its lines. */
  parseRequest(input: OrderRequest, needsId: boolean): Failure | null {
    if ((needsId || input.orderId !== undefined) && this.encodeKey(input.orderId) < 0) {
      return fail('BAD_ORDER_ID');
    }
    if (!isLatitude(input.lat) || !isLongitude(input.lng)) return fail('BAD_LOCATION');
    if (input.mode !== 'hold' && input.mode !== 'commit') return fail('BAD_MODE');
    if (input.policy !== undefined && input.policy !== 'single-dc' && input.policy !== 'split') {
      return fail('BAD_POLICY');
    }
    if (
      input.ttlSeconds !== undefined &&
      !isIntInRange(input.ttlSeconds, 1, HOLD_TTL_SECONDS_MAX)
    ) {
      return fail('BAD_TTL', `ttlSeconds must be an integer in [1, ${HOLD_TTL_SECONDS_MAX}]`);
    }
    if (
      input.maxMinutes !== undefined &&
      !isNumberInRange(input.maxMinutes, 1, MAX_MINUTES_CEILING)
    ) {
      return fail('BAD_FIELD', `maxMinutes must be in [1, ${MAX_MINUTES_CEILING}]`);
    }
    return this.parseLines(input);
  }

  /** Parses a request's lines into lineSku / lineQty; refuses with per-line reasons. */
  parseLines(input: OrderRequest): Failure | null {
    const { catalogue, config } = this.context;
    const count = input.lineCount;
    if (count === 0) return fail('EMPTY_ORDER');
    if (count > config.linesPerOrderMax) {
      return fail('TOO_MANY_LINES', `at most ${config.linesPerOrderMax} lines`);
    }
    const stamp = ++this.stamp;
    const skus = input.skus as readonly unknown[];
    const resolved = input.skuIndexes ?? null;
    const known = catalogue.skus.length;
    const quantities = input.qty as ArrayLike<unknown>;
    let refusals: LineRefusal[] | null = null;
    for (let line = 0; line < count; line++) {
      const id = skus[input.lineStart + line];
      const qty = quantities[input.lineStart + line];
      let sku: number | undefined;
      if (resolved !== null) {
        const index = resolved[input.lineStart + line];
        sku = index >= 0 && index < known ? index : undefined;
      } else sku = typeof id === 'string' ? catalogue.skuIndexes.get(id) : undefined;
      let code: LineRefusal['code'] | null = null;
      if (sku === undefined) code = 'UNKNOWN_SKU';
      else if (!isQuantity(qty)) code = 'BAD_QUANTITY';
      else if (this.skuStamp[sku] === stamp) code = 'DUPLICATE_LINE';
      else if (catalogue.skuMaxPerOrder[sku] > 0 && qty > catalogue.skuMaxPerOrder[sku]) {
        code = 'OVER_LIMIT';
      }
      if (code !== null) {
        refusals ??= [];
        const requested = typeof qty === 'number' ? qty : 0;
        const refusal: LineRefusal = { sku: String(id), code, requested, available: 0 };
        if (code === 'OVER_LIMIT') refusal.limit = catalogue.skuMaxPerOrder[sku as number];
        refusals.push(refusal);
        continue;
      }
      this.skuStamp[sku as number] = stamp;
      this.lineSku[line] = sku as number;
      this.lineQty[line] = qty as number;
    }
    if (refusals !== null) return fail(refusals[0].code, undefined, { lines: refusals });
    this.lineCount = count;
    return null;
  }

  /** The hash of a parsed request: a retry has the same one, a reuse of its id another. */
  fingerprint(input: OrderRequest): number {
    let hash = input.mode === 'commit' ? 1 : 2;
    hash = mixInt(hash, input.policy === 'split' ? 1 : 0);
    hash = mixInt(hash, input.ttlSeconds ?? -1);
    hash = mixInt(hash, input.maxMinutes ?? -1);
    hash = mixInt(hash, Math.round(input.lat * 1e6));
    hash = mixInt(hash, Math.round(input.lng * 1e6));
    for (let line = 0; line < this.lineCount; line++) {
      hash = mixInt(hash, this.lineSku[line]);
      hash = mixInt(hash, this.lineQty[line]);
    }
    return hash;
  }

  /** The parsed line that asks for `sku` (the request's lines are distinct SKUs); -1 if none. */
  lineOf(sku: number): number {
    for (let line = 0; line < this.lineCount; line++) if (this.lineSku[line] === sku) return line;
    return -1;
  }
}
