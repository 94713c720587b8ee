/**
 * Sanity checks for a client-supplied delivery area (a GeoJSON Polygon), shared by the edge
 * (to refuse bad input with BAD_AREA before it reaches the engine) and the delivery-area index
 * (which never indexes an area that fails them).
 *
 * What passes: `type: 'Polygon'`; one or more rings (the first is the outer boundary, the
 * others are holes); every ring has at least 4 positions and is closed (its last position
 * equals its first); every position is `[lng, lat]` or `[lng, lat, altitude]` of finite
 * numbers with lng in [-180, 180] and lat in [-90, 90]; at most AREA_VERTICES_MAX positions
 * over all rings. The work done is bounded by AREA_VERTICES_MAX however large the input is.
 *
 * What is not checked: self-intersection and ring orientation (containment is even-odd, so
 * orientation does not matter), and antimeridian crossing (an area is read in plain lng/lat,
 * so one that crosses ±180° must be split by the client; no metro needs that).
 */

import { AREA_VERTICES_MAX } from '../constants.js';

/** Fewest positions of a closed ring: a triangle plus the closing position. */
export const RING_POSITIONS_MIN = 4;

/** True when `area` is a GeoJSON Polygon the delivery-area index accepts. */
export function validateArea(area: unknown): boolean {
  if (typeof area !== 'object' || area === null) return false;
  const { type, coordinates } = area as { type?: unknown; coordinates?: unknown };
  if (type !== 'Polygon' || !Array.isArray(coordinates) || coordinates.length === 0) {
    return false;
  }
  let verticesTotal = 0;
  for (const ring of coordinates as unknown[]) {
    if (!Array.isArray(ring) || ring.length < RING_POSITIONS_MIN) return false;
    // Count before looking inside, so an oversized area is refused without walking it.
    verticesTotal += ring.length;
    if (verticesTotal > AREA_VERTICES_MAX) return false;
    if (!validRing(ring)) return false;
  }
  return true;
}

function validRing(ring: unknown[]): boolean {
  for (const position of ring) {
    if (!validPosition(position)) return false;
  }
  const first = ring[0] as number[];
  const last = ring[ring.length - 1] as number[];
  return first[0] === last[0] && first[1] === last[1];
}

function validPosition(position: unknown): boolean {
  if (!Array.isArray(position) || position.length < 2 || position.length > 3) return false;
  const lng: unknown = position[0];
  const lat: unknown = position[1];
  if (typeof lng !== 'number' || typeof lat !== 'number') return false;
  // NaN fails every comparison, so these also refuse NaN; ±Infinity is out of range.
  if (!(lng >= -180 && lng <= 180 && lat >= -90 && lat <= 90)) return false;
  if (position.length === 3) {
    const altitude: unknown = position[2];
    if (typeof altitude !== 'number' || !Number.isFinite(altitude)) return false;
  }
  return true;
}
