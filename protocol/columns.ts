/**
 * Columns: protocol v2 carries batches as columns, each a MessagePack `bin` of little-endian
 * int32 (`i32`) or float64 (`f64`) values. Plain MessagePack, so any language decodes them;
 * in JavaScript a column is a typed array over the bytes, with no object per value.
 *
 * Invariants:
 * - A column read from the wire is checked for its exact byte length before anything is read.
 * - Columns read here never alias the frame they came from: the codec copies binary values
 *   (msgpackr `copyBuffers`), and an unaligned copy is aligned by copying again.
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

/** An i32 column of exactly `count` values, or undefined when `value` is not one. */
export function readI32Column(value: unknown, count: number): Int32Array | undefined {
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes.byteLength !== count * I32_BYTES) return undefined;
  if (bytes.byteOffset % I32_BYTES === 0) {
    return new Int32Array(bytes.buffer, bytes.byteOffset, count);
  }
  return new Int32Array(copyOf(bytes), 0, count);
}

/** An f64 column of exactly `count` values, or undefined when `value` is not one. */
export function readF64Column(value: unknown, count: number): Float64Array | undefined {
  const bytes = bytesOf(value);
  if (bytes === undefined || bytes.byteLength !== count * F64_BYTES) return undefined;
  if (bytes.byteOffset % F64_BYTES === 0) {
    return new Float64Array(bytes.buffer, bytes.byteOffset, count);
  }
  return new Float64Array(copyOf(bytes), 0, count);
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
