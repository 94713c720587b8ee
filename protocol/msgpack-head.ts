/**
 * MessagePack's array and map headers, read and written in place, for the code that walks or
 * writes MessagePack bytes itself instead of through msgpackr: the codec's frame check, the
 * log's record writer and reader, and the snapshot's streaming state.
 *
 * A header is fix (one byte: the count in its low 4 bits), 16 (three bytes) or 32 (five
 * bytes), counts big-endian. Written headers take the smallest form, as msgpackr writes them.
 * `writeUint` writes a non-negative integer the same way (positive fixint, uint 8, 16 or 32).
 */

const FIXARRAY = 0x90;
const ARRAY16 = 0xdc;
const FIXMAP = 0x80;
const MAP16 = 0xde;
const FIX_MAX = 15;
const COUNT16_MAX = 0xffff;

/** Bytes of the array or map header whose first byte is `first`: 1, 3 or 5. */
export function headLength(first: number): number {
  if (first === ARRAY16 || first === MAP16) return 3;
  if (first === ARRAY16 + 1 || first === MAP16 + 1) return 5;
  return 1;
}

/** Entries of the array header at `bytes[at]`, or -1 when none ends by `end`. */
export function arrayCountAt(bytes: Uint8Array, at: number, end = bytes.length): number {
  return countAt(bytes, at, end, FIXARRAY, ARRAY16);
}

/** Entries of the map header at `bytes[at]`, or -1 when none ends by `end`. */
export function mapCountAt(bytes: Uint8Array, at: number, end = bytes.length): number {
  return countAt(bytes, at, end, FIXMAP, MAP16);
}

/**
 * Writes `value`, an integer in [0, 2^32), in its smallest form at `bytes[at]` (room for 5
 * bytes checked by the caller); returns the end. `view` is a DataView of `bytes`' buffer.
 */
export function writeUint(bytes: Uint8Array, view: DataView, at: number, value: number): number {
  if (value < 0x80) {
    bytes[at] = value;
    return at + 1;
  }
  if (value < 0x100) {
    bytes[at] = 0xcc;
    bytes[at + 1] = value;
    return at + 2;
  }
  if (value < 0x1_0000) {
    bytes[at] = 0xcd;
    view.setUint16(at + 1, value);
    return at + 3;
  }
  bytes[at] = 0xce;
  view.setUint32(at + 1, value);
  return at + 5;
}

/** Writes an array header for `count` at `bytes[at]`; returns its length. */
export function writeArrayHead(bytes: Uint8Array, at: number, count: number): number {
  return writeHead(bytes, at, count, FIXARRAY, ARRAY16);
}

/** Writes a map header for `count` at `bytes[at]`; returns its length. */
export function writeMapHead(bytes: Uint8Array, at: number, count: number): number {
  return writeHead(bytes, at, count, FIXMAP, MAP16);
}

function countAt(bytes: Uint8Array, at: number, end: number, fix: number, of16: number): number {
  if (at >= end) return -1;
  const first = bytes[at];
  if (first >= fix && first <= fix + FIX_MAX) return first - fix;
  if (first === of16 && at + 3 <= end) return (bytes[at + 1] << 8) | bytes[at + 2];
  if (first === of16 + 1 && at + 5 <= end) {
    return (
      bytes[at + 1] * 0x1_00_00_00 + ((bytes[at + 2] << 16) | (bytes[at + 3] << 8) | bytes[at + 4])
    );
  }
  return -1;
}

function writeHead(bytes: Uint8Array, at: number, count: number, fix: number, of16: number) {
  if (count <= FIX_MAX) {
    bytes[at] = fix | count;
    return 1;
  }
  if (count <= COUNT16_MAX) {
    bytes[at] = of16;
    bytes[at + 1] = count >>> 8;
    bytes[at + 2] = count & 0xff;
    return 3;
  }
  bytes[at] = of16 + 1;
  bytes[at + 1] = count >>> 24;
  bytes[at + 2] = (count >>> 16) & 0xff;
  bytes[at + 3] = (count >>> 8) & 0xff;
  bytes[at + 4] = count & 0xff;
  return 5;
}
