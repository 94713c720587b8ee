/**
 * Checks of untrusted input shared by every engine operation. Each returns a boolean or a
 * number so the hot path allocates nothing; callers turn a false into a result with a code.
 */

import { idProblem } from '../protocol/index.js';
import { ID_BYTES_MAX, QUANTITY_MAX } from './constants.js';

/** The part of TextEncoder that ids need (one encoder per thread, reused). */
export interface Utf8Encoder {
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
}

/**
 * Writes an id's UTF-8 bytes into `out` (at least ID_BYTES_MAX long) and returns how many there
 * are, or -1 when it is not a valid id. What a valid id is has one definition, the wire's
 * (`idProblem`), so an id the engine accepts is one every client can send.
 */
export function encodeId(id: unknown, encoder: Utf8Encoder, out: Uint8Array): number {
  if (typeof id !== 'string') return -1;
  const length = id.length;
  if (length === 0 || length > ID_BYTES_MAX) return -1;
  // Printable ASCII, the common case, is copied unit by unit; anything else (control
  // characters, other scripts) takes the full check and the encoder.
  for (let index = 0; index < length; index++) {
    const unit = id.charCodeAt(index);
    if (unit < 0x20 || unit >= 0x7f) return encodeIdSlow(id, encoder, out);
    out[index] = unit;
  }
  return length;
}

function encodeIdSlow(id: string, encoder: Utf8Encoder, out: Uint8Array): number {
  if (idProblem(id) !== undefined) return -1;
  return encoder.encodeInto(id, out.subarray(0, ID_BYTES_MAX)).written;
}

export { isValidId as isId } from '../protocol/index.js';

/** A quantity of units moved by one line or stock operation: an int32 of at least 1. */
export function isQuantity(qty: unknown): qty is number {
  return typeof qty === 'number' && Number.isInteger(qty) && qty >= 1 && qty <= QUANTITY_MAX;
}

/** A counted on-hand quantity: an int32 of at least 0. */
export function isCount(qty: unknown): qty is number {
  return typeof qty === 'number' && Number.isInteger(qty) && qty >= 0 && qty <= QUANTITY_MAX;
}

export function isLatitude(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= -90 && value <= 90;
}

export function isLongitude(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= -180 && value <= 180;
}

export function isLocation(value: unknown): value is { lat: number; lng: number } {
  if (typeof value !== 'object' || value === null) return false;
  const location = value as { lat?: unknown; lng?: unknown };
  return isLatitude(location.lat) && isLongitude(location.lng);
}

export function isIntInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

export function isNumberInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
}

export function isShortText(value: unknown, lengthMax: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= lengthMax;
}

/** FNV-1a over bytes: the order-table hash of an id. */
export function hashBytes(bytes: Uint8Array, length: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < length; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, 0x01000193);
  }
  // Mix the high bits down: buckets are chosen by the low bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash | 0;
}

/** Mixes one int32 into a running FNV-style hash (request fingerprints). */
export function mixInt(hash: number, value: number): number {
  hash ^= value;
  return Math.imul(hash, 0x01000193) | 0;
}
