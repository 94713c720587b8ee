/**
 * Columns: protocol v2 carries batches as columns, each a MessagePack `bin` of little-endian
 * int32 (`i32`) or float64 (`f64`) values. Plain MessagePack, so any language decodes them;
 * in JavaScript a column is a typed array over the bytes, with no object per value.
 *
 * Invariants:
 * - A column read from the wire is checked for its exact byte length before anything is read.
 * - A column read here is a view of the bytes it was decoded into when they are aligned for
 *   its type, else a copy. The node's codec copies binary values out of uWS's lent buffer
 *   (msgpackr `copyBuffers`); the SDK's decodes them as views of the `ws` message, which it
 *   owns (`aliasBinary`), so an aligned answer column is read with no copy at all.
 * - With `ColumnCopies`, the unaligned columns of one answer are copied into one buffer: V8
 *   frees every dead ArrayBuffer one by one on the main thread during its scavenges, and a
 *   buffer per column made those pauses last 3-4 ms in a busy client.
 * - This code runs only on little-endian hosts (every platform Node supports today); that is
 *   asserted at load, so a big-endian host fails loudly instead of sending scrambled numbers.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('protocol columns need a little-endian host');

const I32_BYTES = 4;
const F64_BYTES = 8;

function bytesOf(value: unknown): Uint8Array | undefined {
  return value instanceof Uint8Array ? value : undefined;
}

/** The bytes copied to a buffer of their own (`Buffer#slice` would be a view). */
function copyOf(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.prototype.slice.call(bytes).buffer;
}

/**
 * The copies of one answer's unaligned columns, made into one buffer as they are read. The
 * buffer is allocated at the first copy, `capacity` bytes: at least the bytes of every column
 * the answer will copy, each rounded up to 8 (`binBytesOf` gives it). A copy past the capacity
 * still works, into a buffer of its own.
 */
export class ColumnCopies {
  private buffer: ArrayBuffer | null = null;
  private at = 0;

  constructor(private readonly capacity: number) {}

  /** Copies `bytes` to an 8-byte boundary; returns where, in `copied`. */
  copy(bytes: Uint8Array): number {
    const length = bytes.byteLength;
    if (this.at + length > this.capacity) {
      this.copied = copyOf(bytes);
      return 0;
    }
    if (this.buffer === null) this.buffer = new ArrayBuffer(this.capacity);
    const offset = this.at;
    new Uint8Array(this.buffer, offset, length).set(bytes);
    this.at = offset + ((length + 7) & ~7);
    this.copied = this.buffer;
    return offset;
  }

  /** The buffer the last `copy` wrote to. */
  copied: ArrayBuffer = EMPTY_BUFFER;
}

const EMPTY_BUFFER = new ArrayBuffer(0);

/** The bytes of `keys`' binary values in `map`, each rounded up to 8: a ColumnCopies capacity. */
export function binBytesOf(map: Record<string, unknown>, keys: readonly string[]): number {
  let bytes = 0;
  for (let at = 0; at < keys.length; at++) {
    const value = map[keys[at]];
    if (value instanceof Uint8Array) bytes += (value.byteLength + 7) & ~7;
  }
  return bytes;
}

/**
 * An i32 column of exactly `count` values, or undefined when `value` is not one: a view of
 * `value`'s bytes when aligned, else a copy (into `copies` when given).
 */
export function readI32Column(
  value: unknown,
  count: number,
  copies?: ColumnCopies,
): Int32Array | undefined {
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes.byteLength !== count * I32_BYTES) return undefined;
  if (bytes.byteOffset % I32_BYTES === 0) {
    return new Int32Array(bytes.buffer, bytes.byteOffset, count);
  }
  if (copies === undefined) return new Int32Array(copyOf(bytes), 0, count);
  const offset = copies.copy(bytes);
  return new Int32Array(copies.copied, offset, count);
}

/** An f64 column of exactly `count` values, as readI32Column. */
export function readF64Column(
  value: unknown,
  count: number,
  copies?: ColumnCopies,
): Float64Array | undefined {
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes.byteLength !== count * F64_BYTES) return undefined;
  if (bytes.byteOffset % F64_BYTES === 0) {
    return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  }
  if (copies === undefined) return new Float64Array(copyOf(bytes), 0, count);
  const offset = copies.copy(bytes);
  return new Float64Array(copies.copied, offset, count);
}

/**
 * The first `count` values of `values` as the bytes of an i32 column, copied (so the typed
 * array may be reused at once). A fresh Buffer from Node's pool: cheap for small columns.
 */
export function i32Column(values: Int32Array, count: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(count * I32_BYTES);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, count * I32_BYTES));
  return bytes;
}

/** The first `count` values of `values` as the bytes of an f64 column, copied. */
export function f64Column(values: Float64Array, count: number): Uint8Array {
  const bytes = Buffer.allocUnsafe(count * F64_BYTES);
  bytes.set(new Uint8Array(values.buffer, values.byteOffset, count * F64_BYTES));
  return bytes;
}

/** An i32 column of plain numbers (the SDK building a request). */
export function i32ColumnOfNumbers(values: ArrayLike<number>, count: number): Uint8Array {
  const column = new Int32Array(count);
  for (let index = 0; index < count; index++) column[index] = values[index];
  return new Uint8Array(column.buffer);
}

/** An f64 column of plain numbers. */
export function f64ColumnOfNumbers(values: ArrayLike<number>, count: number): Uint8Array {
  const column = new Float64Array(count);
  for (let index = 0; index < count; index++) column[index] = values[index];
  return new Uint8Array(column.buffer);
}
