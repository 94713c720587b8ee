/**
 * A synthetic DC network over a metro bounding box, for tests and benchmarks of the
 * delivery-area index: DCs with radius areas and irregular polygon areas (some with a hole).
 * Randomness is passed in, so a seed reproduces a network.
 */

import { RADIUS_KM_MAX } from '../constants.js';
import type { DcRecord, PolygonCoordinates } from '../types.js';

export interface GeoBox {
  latMin: number;
  latMax: number;
  lngMin: number;
  lngMax: number;
}

/** About 28 km × 33 km around central Bengaluru: a dense quick-commerce metro. */
export const METRO_BOX: GeoBox = Object.freeze({
  latMin: 12.85,
  latMax: 13.1,
  lngMin: 77.45,
  lngMax: 77.75,
});

/** Kilometres per degree of latitude (and of longitude at the equator), near enough. */
const KM_PER_DEGREE = 111.2;

/** Vertices of a synthetic polygon area (an isochrone-like star shape). */
const POLYGON_VERTICES_MIN = 6;
const POLYGON_VERTICES_MAX = 24;

export interface SyntheticNetworkOptions {
  dcCount: number;
  /** Uniform in [0, 1), e.g. `seededRandom(seed)`. */
  random: () => number;
  box?: GeoBox;
  /** Share of DCs whose area is a polygon rather than a radius. */
  polygonShare?: number;
  /** Share of polygon areas that get a hole. */
  holeShare?: number;
  radiusKmMin?: number;
  radiusKmMax?: number;
  /** Share of DCs created inactive. */
  inactiveShare?: number;
}

/** mulberry32: a small, fast, seedable PRNG; good enough for test data, not for secrets. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** DC records with indexes 0..dcCount-1 and ids `dc-<index>`. */
export function syntheticDcs(options: SyntheticNetworkOptions): DcRecord[] {
  const { dcCount, random } = options;
  const box = options.box ?? METRO_BOX;
  const polygonShare = options.polygonShare ?? 0.3;
  const holeShare = options.holeShare ?? 0.3;
  const radiusKmMin = options.radiusKmMin ?? 1.5;
  const radiusKmMax = Math.min(options.radiusKmMax ?? 6, RADIUS_KM_MAX);
  const inactiveShare = options.inactiveShare ?? 0;
  const dcs: DcRecord[] = [];
  for (let index = 0; index < dcCount; index++) {
    const lat = box.latMin + random() * (box.latMax - box.latMin);
    const lng = box.lngMin + random() * (box.lngMax - box.lngMin);
    const radiusKm = radiusKmMin + random() * (radiusKmMax - radiusKmMin);
    const isPolygon = random() < polygonShare;
    const withHole = random() < holeShare;
    dcs.push({
      index,
      id: `dc-${index}`,
      name: `DC ${index}`,
      location: { lat, lng },
      radiusKm: isPolygon ? null : radiusKm,
      area: isPolygon
        ? { type: 'Polygon', coordinates: starPolygon(lat, lng, radiusKm, withHole, random) }
        : null,
      speedKmh: 12 + Math.floor(random() * 4) * 6,
      prepMinutes: 4 + Math.floor(random() * 4) * 2,
      active: random() >= inactiveShare,
    });
  }
  return dcs;
}

/**
 * A star-shaped ring around (lat, lng) whose vertex distances vary between half and all of
 * `radiusKm`, with an optional small square hole just off the centre.
 */
function starPolygon(
  lat: number,
  lng: number,
  radiusKm: number,
  withHole: boolean,
  random: () => number,
): PolygonCoordinates {
  const vertices =
    POLYGON_VERTICES_MIN + Math.floor(random() * (POLYGON_VERTICES_MAX - POLYGON_VERTICES_MIN));
  const kmPerDegreeLng = KM_PER_DEGREE * Math.cos((lat * Math.PI) / 180);
  const ring: number[][] = [];
  for (let i = 0; i < vertices; i++) {
    const angle = (2 * Math.PI * i) / vertices;
    const distanceKm = radiusKm * (0.5 + 0.5 * random());
    ring.push([
      lng + (Math.cos(angle) * distanceKm) / kmPerDegreeLng,
      lat + (Math.sin(angle) * distanceKm) / KM_PER_DEGREE,
    ]);
  }
  ring.push([ring[0][0], ring[0][1]]);
  if (!withHole) return [ring];
  // The hole spans 0.1r..0.3r east of the centre, well inside the 0.5r inner bound of the star.
  const west = lng + (0.1 * radiusKm) / kmPerDegreeLng;
  const east = lng + (0.3 * radiusKm) / kmPerDegreeLng;
  const south = lat - (0.1 * radiusKm) / KM_PER_DEGREE;
  const north = lat + (0.1 * radiusKm) / KM_PER_DEGREE;
  const hole = [
    [west, south],
    [east, south],
    [east, north],
    [west, north],
    [west, south],
  ];
  return [ring, hole];
}
