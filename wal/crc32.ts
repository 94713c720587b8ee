/**
 * CRC-32 (IEEE 802.3, the polynomial of zlib, gzip and PNG), table-driven, slicing by four.
 *
 * `crc32(bytes, start, end, previous)` continues a checksum: crc32(a ‖ b) equals
 * crc32(b, 0, b.length, crc32(a)), so a record's checksum can be extended over its flags and
 * LSN without copying them next to the payload. Results are unsigned 32-bit integers.
 *
 * Invariant: the tables are computed once at load and never written afterwards.
 */

const POLYNOMIAL_REVERSED = 0xedb88320;
const TABLE_SIZE = 256;

/** Four 256-entry tables: table k advances a byte through k further zero bytes. */
function makeTables(): Uint32Array {
  const tables = new Uint32Array(TABLE_SIZE * 4);
  for (let byte = 0; byte < TABLE_SIZE; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REVERSED : crc >>> 1;
    tables[byte] = crc >>> 0;
  }
  for (let byte = 0; byte < TABLE_SIZE; byte++) {
    let crc = tables[byte];
    for (let k = 1; k < 4; k++) {
      crc = tables[crc & 0xff] ^ (crc >>> 8);
      tables[k * TABLE_SIZE + byte] = crc >>> 0;
    }
  }
  return tables;
}

const TABLES = makeTables();

export function crc32(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  previous = 0,
): number {
  const t = TABLES;
  let crc = ~previous;
  let index = start;
  // Four bytes per step: each table lookup handles one byte of the running word.
  for (const stop = end - 3; index < stop; index += 4) {
    crc ^=
      bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24);
    crc =
      t[768 + (crc & 0xff)] ^
      t[512 + ((crc >>> 8) & 0xff)] ^
      t[256 + ((crc >>> 16) & 0xff)] ^
      t[crc >>> 24];
  }
  for (; index < end; index++) crc = t[(crc ^ bytes[index]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** Continues a checksum over one unsigned 32-bit integer, little-endian. */
export function crc32Uint32(value: number, previous: number): number {
  const t = TABLES;
  let crc = ~previous;
  crc ^= value;
  crc =
    t[768 + (crc & 0xff)] ^
    t[512 + ((crc >>> 8) & 0xff)] ^
    t[256 + ((crc >>> 16) & 0xff)] ^
    t[crc >>> 24];
  return ~crc >>> 0;
}
