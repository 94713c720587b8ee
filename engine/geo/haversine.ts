/**
 * Great-circle distance on a spherical Earth, written to allocate nothing: the delivery-area
 * index calls it for every candidate DC of a location, and `turf.distance` builds point
 * objects on each call.
 *
 * The radius is turf's mean Earth radius, so a distance computed here agrees with the circles
 * `turf.circle` draws for radius delivery areas (a point on such a circle is `radiusKm` away).
 */

/** Mean Earth radius in km, the value @turf/helpers uses (`earthRadius` / 1000). */
export const EARTH_RADIUS_KM = 6371.0088;

const RADIANS_PER_DEGREE = Math.PI / 180;

/** Distance in km between two points given in degrees. */
export function haversineKm(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const sinHalfLat = Math.sin((lat2 - lat1) * RADIANS_PER_DEGREE * 0.5);
  const sinHalfLng = Math.sin((lng2 - lng1) * RADIANS_PER_DEGREE * 0.5);
  const a =
    sinHalfLat * sinHalfLat +
    Math.cos(lat1 * RADIANS_PER_DEGREE) *
      Math.cos(lat2 * RADIANS_PER_DEGREE) *
      sinHalfLng *
      sinHalfLng;
  // Rounding can push `a` a hair above 1 for antipodal points; clamp so sqrt(1 - a) stays real.
  const aClamped = Math.min(a, 1);
  return 2 * EARTH_RADIUS_KM * Math.atan2(Math.sqrt(aClamped), Math.sqrt(1 - aClamped));
}
