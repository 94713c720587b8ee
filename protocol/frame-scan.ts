/**
 * A structural pre-scan of MessagePack bytes, run before the decoder sees a frame.
 *
 * It walks the bytes once, iteratively (no recursion, no allocation: the depth stack is
 * allocated once per scanner), and accepts exactly one complete value built from the subset
 * the protocol uses: nil, booleans, integers, floats, strings, binary, arrays, and maps whose
 * keys are strings. It refuses extension types (which msgpackr would turn into Dates, Errors,
 * RegExps, records or bundled strings), the never-used byte 0xc1, any length that runs past
 * the end, trailing bytes, and nesting deeper than the scanner's bound. So a frame that passes
 * decodes without surprises and a hostile one is refused in time linear in its bytes, before
 * the recursive decoder can be driven into a stack overflow.
 */

import { NESTING_DEPTH_MAX } from './limits.js';

export const ScanOutcomes = {
  OK: 0,
  /** Not one complete value of the accepted subset. */
  MALFORMED: 1,
  /** Well formed so far, but nested deeper than the bound. */
  TOO_DEEP: 2,
} as const;

export type ScanOutcome = (typeof ScanOutcomes)[keyof typeof ScanOutcomes];

/** Container kinds kept on the depth stack. */
const ARRAY = 0;
const MAP = 1;

// What each head byte starts. One table lookup per value keeps the scan loop branch-light.
const HEAD_REFUSED = 0;
/** A scalar of HEAD_SKIP[head] more bytes (fixints, nil, booleans, numbers, fixstr). */
const HEAD_FIXED = 1;
/** A str or bin with a 1, 2 or 4 byte length (HEAD_SKIP holds the width). */
const HEAD_SIZED = 2;
/** An array or map with its count in the head (fix forms) or in HEAD_SKIP more bytes. */
const HEAD_ARRAY = 3;
const HEAD_MAP = 4;

/**
 * The per-head tables, built once at load and never written afterwards: constant data,
 * not state.
 */
const { HEAD_KIND, HEAD_SKIP, HEAD_IS_STRING } = buildHeadTables();

function buildHeadTables() {
  const kind = new Uint8Array(256);
  const skip = new Uint8Array(256);
  const isString = new Uint8Array(256);
  const set = (head: number, headKind: number, headSkip: number) => {
    kind[head] = headKind;
    skip[head] = headSkip;
  };
  for (let head = 0x00; head <= 0x7f; head++) set(head, HEAD_FIXED, 0);
  for (let head = 0xe0; head <= 0xff; head++) set(head, HEAD_FIXED, 0);
  for (let head = 0x80; head <= 0x8f; head++) set(head, HEAD_MAP, 0);
  for (let head = 0x90; head <= 0x9f; head++) set(head, HEAD_ARRAY, 0);
  for (let head = 0xa0; head <= 0xbf; head++) {
    set(head, HEAD_FIXED, head & 0x1f);
    isString[head] = 1;
  }
  set(0xc0, HEAD_FIXED, 0); // nil
  set(0xc2, HEAD_FIXED, 0); // false
  set(0xc3, HEAD_FIXED, 0); // true
  set(0xc4, HEAD_SIZED, 1); // bin 8, 16, 32
  set(0xc5, HEAD_SIZED, 2);
  set(0xc6, HEAD_SIZED, 4);
  set(0xca, HEAD_FIXED, 4); // float 32, 64
  set(0xcb, HEAD_FIXED, 8);
  set(0xcc, HEAD_FIXED, 1); // uint 8, 16, 32, 64
  set(0xcd, HEAD_FIXED, 2);
  set(0xce, HEAD_FIXED, 4);
  set(0xcf, HEAD_FIXED, 8);
  set(0xd0, HEAD_FIXED, 1); // int 8, 16, 32, 64
  set(0xd1, HEAD_FIXED, 2);
  set(0xd2, HEAD_FIXED, 4);
  set(0xd3, HEAD_FIXED, 8);
  set(0xd9, HEAD_SIZED, 1); // str 8, 16, 32
  set(0xda, HEAD_SIZED, 2);
  set(0xdb, HEAD_SIZED, 4);
  isString[0xd9] = 1;
  isString[0xda] = 1;
  isString[0xdb] = 1;
  set(0xdc, HEAD_ARRAY, 2); // array 16, 32
  set(0xdd, HEAD_ARRAY, 4);
  set(0xde, HEAD_MAP, 2); // map 16, 32
  set(0xdf, HEAD_MAP, 4);
  // Everything else (0xc1, ext 8/16/32, fixext 1..16) stays HEAD_REFUSED.
  return { HEAD_KIND: kind, HEAD_SKIP: skip, HEAD_IS_STRING: isString };
}

export class FrameScanner {
  readonly depthMax: number;
  /**
   * Values still to read at each depth; for a map, keys and values both count. A count is
   * checked against the bytes left before it is stored, so it fits an int32 for any frame
   * under 1 GiB.
   */
  private readonly remaining: Int32Array;
  private readonly kinds: Uint8Array;

  constructor(depthMax: number = NESTING_DEPTH_MAX) {
    if (!Number.isInteger(depthMax) || depthMax < 1 || depthMax > 1024) {
      throw new RangeError(`depthMax must be an integer in [1, 1024], got ${depthMax}`);
    }
    this.depthMax = depthMax;
    this.remaining = new Int32Array(depthMax + 1);
    this.kinds = new Uint8Array(depthMax + 1);
  }

  /** `bin` values in the last scan (counted as far as it went). */
  binCount = 0;

  /** Scans `bytes[start, end)`, which must hold exactly one value (end - start < 1 GiB). */
  scan(bytes: Uint8Array, start = 0, end: number = bytes.length): ScanOutcome {
    const remaining = this.remaining;
    const kinds = this.kinds;
    const depthMax = this.depthMax;
    let depth = 0;
    let position = start;
    this.binCount = 0;
    remaining[0] = 1;
    kinds[0] = ARRAY;
    for (;;) {
      if (remaining[depth] === 0) {
        if (depth === 0) break;
        depth--;
        continue;
      }
      if (position >= end) return ScanOutcomes.MALFORMED;
      const head = bytes[position++];
      // In a map, an even count of values left means this value is a key.
      if (kinds[depth] === MAP && (remaining[depth] & 1) === 0 && HEAD_IS_STRING[head] === 0) {
        return ScanOutcomes.MALFORMED;
      }
      remaining[depth]--;
      const kind = HEAD_KIND[head];
      const width = HEAD_SKIP[head];
      if (kind === HEAD_FIXED) {
        position += width;
        if (position > end) return ScanOutcomes.MALFORMED;
        continue;
      }
      if (kind === HEAD_REFUSED) return ScanOutcomes.MALFORMED;
      if (position + width > end) return ScanOutcomes.MALFORMED;
      const length = width === 0 ? head & 0x0f : readLength(bytes, position, width);
      position += width;
      if (kind === HEAD_SIZED) {
        position += length;
        if (position > end) return ScanOutcomes.MALFORMED;
        if (HEAD_IS_STRING[head] === 0) this.binCount++;
        continue;
      }
      const values = kind === HEAD_MAP ? length * 2 : length;
      // Every value takes at least one byte: a larger count cannot be honest.
      if (values > end - position) return ScanOutcomes.MALFORMED;
      if (values === 0) continue;
      if (depth === depthMax) return ScanOutcomes.TOO_DEEP;
      depth++;
      remaining[depth] = values;
      kinds[depth] = kind === HEAD_MAP ? MAP : ARRAY;
    }
    return position === end ? ScanOutcomes.OK : ScanOutcomes.MALFORMED;
  }
}

/** A big-endian unsigned length of 1, 2 or 4 bytes. */
function readLength(bytes: Uint8Array, position: number, width: number): number {
  if (width === 1) return bytes[position];
  if (width === 2) return (bytes[position] << 8) | bytes[position + 1];
  return (
    bytes[position] * 0x1_00_00_00 +
    ((bytes[position + 1] << 16) | (bytes[position + 2] << 8) | bytes[position + 3])
  );
}
