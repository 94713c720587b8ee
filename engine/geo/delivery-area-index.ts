/**
 * The delivery-area index: which DCs can deliver to a customer location within N minutes,
 * nearest first. Every worker thread builds its own instance from the same catalogue records;
 * nothing here is shared between threads, so nothing here needs Atomics.
 *
 * A lookup runs in two stages. The R-tree (rbush) holds one bounding box per DC area and
 * narrows a location to the DCs whose box contains it; @turf/turf then decides exact
 * containment against the area polygon (a radius area is the `turf.circle` polygon with
 * CIRCLE_STEPS vertices, a polygon area is used as given). A DC serves the location when it
 * is active, its area contains the point (a point on the boundary counts as inside) and its
 * ETA is within the window. ETA in minutes = prepMinutes + distanceKm / speedKmh * 60, with the
 * great-circle distance from the DC to the customer.
 *
 * Before the exact test, two discs around the DC location settle most candidates without it.
 * They are drawn in the same plain (lng, lat) plane the point-in-polygon test works in: a
 * point farther than every vertex is outside the area, and a point closer than every edge, when
 * the DC location itself is inside, is inside. Both radii keep a margin of BOUNDS_MARGIN_DEGREES
 * (about a millimetre, a million times the rounding error of either computation), so turf
 * still decides every point near the boundary and the answer is always turf's. For a circle
 * area the band left to turf is 0.12% of the radius wide.
 *
 * Most lookups repeat a location (one shopper pages through search results, then orders), so
 * a direct-mapped cache keyed by the exact float64 bits of (lat, lng) keeps, per entry, every
 * active DC whose area contains the point, at any ETA, sorted; a lookup copies the prefix
 * within its window. Invariants:
 * - A cache entry is used only when computed at the current `version`; every accepted upsert
 *   bumps the version, so no answer outlives a catalogue change.
 * - A location keeps at most DC_HITS_MAX (64) DCs, the 64 with the lowest ETA: a location served
 *   by more than 64 DCs keeps only the 64 nearest. The cached and uncached paths truncate alike,
 *   so the cache never changes an answer.
 * - Each indexed DC has exactly one box in the R-tree (`boxes[dc]`); an upsert removes the old
 *   box before inserting the new one. Deactivated DCs stay indexed and are skipped at lookup.
 *
 * Memory: per DC a few typed-array cells plus its polygon; the cache takes
 * cacheSize × (4 + 3 × DC_HITS_MAX) × 8 bytes (1,568 bytes an entry; 4,096 entries: 6.4 MB;
 * the GEO_CACHE_SIZE_MAX of 2^22 entries would take 6.6 GB, so size it to the working set).
 * A cache hit allocates nothing; a miss allocates what rbush's search and turf's point test
 * allocate (a few small arrays).
 */

import { booleanPointInPolygon, circle, polygon } from '@turf/turf';
import RBush from 'rbush';
import type { ErrorCode } from '../../protocol/index.js';
import { CIRCLE_STEPS, RADIUS_KM_MAX } from '../constants.js';
import type { DcRecord, PolygonCoordinates } from '../types.js';
import { DC_HITS_MAX, DcHits } from './dc-hits.js';
import { haversineKm } from './haversine.js';
import { validateArea } from './validate-area.js';

/** Largest DC capacity (matches the engine config's ceiling). */
export const GEO_DC_CAPACITY_MAX = 1 << 20;

/** Largest cache, in entries (matches the engine config's ceiling for geoCacheSize). */
export const GEO_CACHE_SIZE_MAX = 1 << 22;

/** rbush node fan-out; 9 is the library's own default, passed explicitly. */
const RTREE_NODE_ENTRIES_MAX = 9;

/** Cache entry layout, in Float64Array cells: a header, then DC_HITS_MAX triples. */
const CACHE_LAT = 0;
const CACHE_LNG = 1;
const CACHE_VERSION = 2;
const CACHE_COUNT = 3;
const CACHE_HEADER_CELLS = 4;
const CACHE_ENTRY_STRIDE = CACHE_HEADER_CELLS + DC_HITS_MAX * 3;

/** Margin of the inner and outer discs, in degrees (about 1 mm); see the header. */
const BOUNDS_MARGIN_DEGREES = 1e-8;

/** Points on an area's boundary are inside: a customer on the edge is served. */
const POINT_IN_AREA_OPTIONS = Object.freeze({ ignoreBoundary: false });

/** Why an upsert was refused; each is a code of protocol/codes.ts. */
export type GeoUpsertRefusal = Extract<ErrorCode, 'BAD_AREA' | 'BAD_LOCATION' | 'BAD_FIELD'>;

export interface DeliveryAreaIndexOptions {
  /** Most DCs; DC indexes are 0..dcCapacity-1. */
  dcCapacity: number;
  /** Cache entries, a power of two. */
  cacheSize: number;
}

type AreaFeature = ReturnType<typeof polygon>;

/** One DC's R-tree entry: the bounding box of its area, kept so rbush.remove can find it. */
interface AreaBox {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  dc: number;
}

/**
 * A node of rbush's tree as `toJSON()` returns it (the tree itself, not a copy): a leaf's
 * children are the boxes inserted, an inner node's are nodes. Each holds its bounding box.
 */
interface TreeNode {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  leaf: boolean;
  children: (TreeNode | AreaBox)[];
}

/**
 * The DCs whose boxes contain (lng, lat), written to `out` from 0; returns how many. The same
 * boxes as rbush's `search` with a point box, walked without allocating: `search` builds a
 * result array and a node stack on every call, which was most of what an availability query
 * at a new location allocated. `stack` is scratch, left empty.
 */
function searchPoint(
  root: TreeNode,
  lng: number,
  lat: number,
  stack: TreeNode[],
  out: Int32Array,
): number {
  let count = 0;
  if (!(root.minX <= lng && lng <= root.maxX && root.minY <= lat && lat <= root.maxY)) return 0;
  let node: TreeNode | undefined = root;
  while (node !== undefined) {
    const children = node.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (!(child.minX <= lng && lng <= child.maxX && child.minY <= lat && lat <= child.maxY)) {
        continue;
      }
      if (node.leaf) out[count++] = (child as AreaBox).dc;
      else stack.push(child as TreeNode);
    }
    node = stack.pop();
  }
  return count;
}

export class DeliveryAreaIndex {
  readonly dcCapacity: number;
  readonly cacheSize: number;
  /** Lookups answered from the cache, and lookups that had to search (for metrics). */
  cacheHits = 0;
  cacheMisses = 0;

  private versionCurrent = 0;
  private readonly tree = new RBush<AreaBox>(RTREE_NODE_ENTRIES_MAX);
  private readonly boxes: (AreaBox | null)[];
  private readonly areas: (AreaFeature | null)[];
  private readonly active: Uint8Array;
  private readonly dcLat: Float64Array;
  private readonly dcLng: Float64Array;
  private readonly speedKmh: Float64Array;
  private readonly prepMinutes: Float64Array;
  /** Squared radii (in degrees²) of the discs around the DC: inside if closer than inner. */
  private readonly innerSq: Float64Array;
  /** Outside if farther than outer. An inner of -1 means no point can skip the exact test. */
  private readonly outerSq: Float64Array;

  /**
   * The cache, one Float64Array of CACHE_ENTRY_STRIDE cells per entry: a header (lat, lng,
   * version, count) followed by `count` (dc, eta, distance) triples. Keeping an entry's cells
   * together makes a hit read a few consecutive cache lines instead of one line per array.
   */
  private readonly cacheMask: number;
  private readonly cache: Float64Array;

  // Scratch, reused by every lookup.
  private readonly keyFloats = new Float64Array(2);
  private readonly keyWords = new Int32Array(this.keyFloats.buffer);
  private readonly searchStack: TreeNode[] = [];
  /** The DCs whose boxes hold the location being searched (at most one per DC). */
  private readonly candidates: Int32Array;
  private readonly point: number[] = [0, 0];
  private readonly found = new DcHits(DC_HITS_MAX);

  constructor(options: DeliveryAreaIndexOptions) {
    const { dcCapacity, cacheSize } = options;
    requireInt('dcCapacity', dcCapacity, 1, GEO_DC_CAPACITY_MAX);
    requireInt('cacheSize', cacheSize, 1, GEO_CACHE_SIZE_MAX);
    if ((cacheSize & (cacheSize - 1)) !== 0) {
      throw new Error(`DeliveryAreaIndex cacheSize must be a power of two, got ${cacheSize}`);
    }
    this.dcCapacity = dcCapacity;
    this.cacheSize = cacheSize;
    this.boxes = new Array<AreaBox | null>(dcCapacity).fill(null);
    this.areas = new Array<AreaFeature | null>(dcCapacity).fill(null);
    this.active = new Uint8Array(dcCapacity);
    this.dcLat = new Float64Array(dcCapacity);
    this.dcLng = new Float64Array(dcCapacity);
    this.speedKmh = new Float64Array(dcCapacity);
    this.prepMinutes = new Float64Array(dcCapacity);
    this.innerSq = new Float64Array(dcCapacity);
    this.outerSq = new Float64Array(dcCapacity);
    this.candidates = new Int32Array(dcCapacity);
    this.cacheMask = cacheSize - 1;
    this.cache = new Float64Array(cacheSize * CACHE_ENTRY_STRIDE);
    // Version -1 marks every entry empty: versions count up from 0.
    for (let slot = 0; slot < cacheSize; slot++) {
      this.cache[slot * CACHE_ENTRY_STRIDE + CACHE_VERSION] = -1;
    }
  }

  /** Bumps on every accepted upsert; a cache entry from an older version is never used. */
  get version(): number {
    return this.versionCurrent;
  }

  /** True when DC `dc` has been indexed (active or not). */
  has(dc: number): boolean {
    return this.boxes[dc] != null;
  }

  /**
   * Validates and (re)indexes one DC. A refused record changes nothing: the DC keeps its
   * previous area, if it had one. The catalogue assigns `dc.index`; one out of range is a bug.
   */
  upsert(dc: DcRecord): GeoUpsertRefusal | null {
    const index = dc.index;
    if (!Number.isInteger(index) || index < 0 || index >= this.dcCapacity) {
      throw new Error(
        `DeliveryAreaIndex.upsert: DC index ${index} outside [0, ${this.dcCapacity})`,
      );
    }
    const refusal = checkTravel(dc);
    if (refusal !== null) return refusal;
    const area = buildArea(dc);
    if (area === null) return 'BAD_AREA';

    const boxOld = this.boxes[index];
    if (boxOld != null) this.tree.remove(boxOld);
    const box = boxOf(area.geometry.coordinates, index);
    this.tree.insert(box);
    this.boxes[index] = box;
    this.areas[index] = area;
    this.active[index] = dc.active ? 1 : 0;
    this.dcLat[index] = dc.location.lat;
    this.dcLng[index] = dc.location.lng;
    this.speedKmh[index] = dc.speedKmh;
    this.prepMinutes[index] = dc.prepMinutes;
    this.setBounds(index, area);
    this.versionCurrent += 1;
    return null;
  }

  /**
   * Fills `out` with the active DCs whose area contains (lat, lng) and whose ETA is at most
   * `maxMinutes`, nearest first; returns `out.count`. At most min(DC_HITS_MAX, out.capacity)
   * DCs are returned, the ones with the lowest ETA. A location out of range is a bug (the edge
   * refuses it with BAD_LOCATION).
   */
  resolve(lat: number, lng: number, maxMinutes: number, out: DcHits): number {
    assertLocation(lat, lng);
    const cache = this.cache;
    const entry = this.slotOf(lat, lng) * CACHE_ENTRY_STRIDE;
    if (
      cache[entry + CACHE_VERSION] !== this.versionCurrent ||
      cache[entry + CACHE_LAT] !== lat ||
      cache[entry + CACHE_LNG] !== lng
    ) {
      this.cacheMisses += 1;
      this.collect(lat, lng);
      this.store(entry, lat, lng);
    } else {
      this.cacheHits += 1;
    }
    return copyEntry(cache, entry, maxMinutes, out);
  }

  /** The same answer as `resolve`, always searched, leaving the cache alone. */
  resolveUncached(lat: number, lng: number, maxMinutes: number, out: DcHits): number {
    assertLocation(lat, lng);
    this.collect(lat, lng);
    return copyFound(this.found, maxMinutes, out);
  }

  /** O(n) consistency check for tests: the R-tree holds exactly one box per indexed DC. */
  verify(): void {
    const all = this.tree.all();
    let indexed = 0;
    for (let dc = 0; dc < this.dcCapacity; dc++) {
      if (this.boxes[dc] != null) indexed += 1;
      if ((this.boxes[dc] == null) !== (this.areas[dc] == null)) {
        throw new Error(`DeliveryAreaIndex.verify: DC ${dc} has a box without an area`);
      }
    }
    if (all.length !== indexed) {
      throw new Error(`DeliveryAreaIndex.verify: ${all.length} boxes for ${indexed} DCs`);
    }
    for (const box of all) {
      if (this.boxes[box.dc] !== box) {
        throw new Error(`DeliveryAreaIndex.verify: stale box for DC ${box.dc}`);
      }
    }
  }

  /**
   * Hashes the exact bits of both doubles to a cache slot. Nearby locations differ mostly in
   * the low mantissa words, so every word is mixed in and the result goes through a
   * murmur3-style finalizer before masking.
   */
  private slotOf(lat: number, lng: number): number {
    const words = this.keyWords;
    this.keyFloats[0] = lat;
    this.keyFloats[1] = lng;
    let hash = Math.imul(words[0], 0x9e3779b1) ^ words[1];
    hash = Math.imul(hash, 0x85ebca6b) ^ words[2];
    hash = Math.imul(hash, 0xc2b2ae35) ^ words[3];
    hash ^= hash >>> 16;
    hash = Math.imul(hash, 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
    return hash & this.cacheMask;
  }

  /** Searches: fills `found` with the (up to DC_HITS_MAX) serving DCs at any ETA, sorted. */
  private collect(lat: number, lng: number): void {
    const found = this.found;
    found.count = 0;
    const point = this.point;
    point[0] = lng;
    point[1] = lat;
    const candidates = this.candidates;
    const count = searchPoint(this.tree.toJSON(), lng, lat, this.searchStack, candidates);
    for (let i = 0; i < count; i++) {
      const dc = candidates[i];
      if (this.active[dc] === 0) continue;
      const dx = lng - this.dcLng[dc];
      const dy = lat - this.dcLat[dc];
      const distanceSq = dx * dx + dy * dy;
      if (distanceSq > this.outerSq[dc]) continue;
      if (!(distanceSq < this.innerSq[dc])) {
        if (!booleanPointInPolygon(point, this.areas[dc]!, POINT_IN_AREA_OPTIONS)) continue;
      }
      const distanceKm = haversineKm(this.dcLat[dc], this.dcLng[dc], lat, lng);
      const eta = etaMinutes(this.prepMinutes[dc], this.speedKmh[dc], distanceKm);
      insertNearest(found, dc, eta, distanceKm);
    }
  }

  /** Computes the inner and outer discs of `area` around the DC location (see the header). */
  private setBounds(dc: number, area: AreaFeature): void {
    const lat = this.dcLat[dc];
    const lng = this.dcLng[dc];
    let vertexSqMax = 0;
    let edgeSqMin = Number.POSITIVE_INFINITY;
    for (const ring of area.geometry.coordinates) {
      for (let i = 0; i + 1 < ring.length; i++) {
        const ax = ring[i][0] - lng;
        const ay = ring[i][1] - lat;
        const vertexSq = ax * ax + ay * ay;
        if (vertexSq > vertexSqMax) vertexSqMax = vertexSq;
        const edgeSq = segmentDistanceSq(ax, ay, ring[i + 1][0] - lng, ring[i + 1][1] - lat);
        if (edgeSq < edgeSqMin) edgeSqMin = edgeSq;
      }
    }
    const outer = Math.sqrt(vertexSqMax) + BOUNDS_MARGIN_DEGREES;
    this.outerSq[dc] = outer * outer;
    // The open disc closer than every edge lies wholly on one side of the boundary: inside when
    // its centre is. The centre is at least a margin away from every edge, so turf's verdict
    // on it cannot be a rounding accident.
    const inner = Math.sqrt(edgeSqMin) - BOUNDS_MARGIN_DEGREES;
    const centreInside =
      inner > 0 && booleanPointInPolygon([lng, lat], area, { ignoreBoundary: true });
    this.innerSq[dc] = centreInside ? inner * inner : -1;
  }

  private store(entry: number, lat: number, lng: number): void {
    const found = this.found;
    const cache = this.cache;
    let cell = entry + CACHE_HEADER_CELLS;
    for (let i = 0; i < found.count; i++) {
      cache[cell] = found.dcs[i];
      cache[cell + 1] = found.etaMinutes[i];
      cache[cell + 2] = found.distanceKm[i];
      cell += 3;
    }
    cache[entry + CACHE_LAT] = lat;
    cache[entry + CACHE_LNG] = lng;
    cache[entry + CACHE_VERSION] = this.versionCurrent;
    cache[entry + CACHE_COUNT] = found.count;
  }
}

/** ETA in minutes: fixed preparation time plus travel at the courier speed. */
export function etaMinutes(prepMinutes: number, speedKmh: number, distanceKm: number): number {
  return prepMinutes + (distanceKm / speedKmh) * 60;
}

/**
 * Inserts one DC into `hits`, kept sorted by (ETA, distance, index) and bounded by its
 * capacity: when full, the newcomer enters only if it sorts before the last entry, which then
 * falls off. So the list always holds the `capacity` lowest-ETA DCs seen so far.
 */
function insertNearest(hits: DcHits, dc: number, eta: number, distanceKm: number): void {
  const dcs = hits.dcs;
  const etas = hits.etaMinutes;
  const distances = hits.distanceKm;
  let i = hits.count;
  if (i === hits.capacity) {
    if (!sortsBefore(eta, distanceKm, dc, etas[i - 1], distances[i - 1], dcs[i - 1])) return;
    i -= 1;
  } else {
    hits.count = i + 1;
  }
  while (i > 0 && sortsBefore(eta, distanceKm, dc, etas[i - 1], distances[i - 1], dcs[i - 1])) {
    dcs[i] = dcs[i - 1];
    etas[i] = etas[i - 1];
    distances[i] = distances[i - 1];
    i -= 1;
  }
  dcs[i] = dc;
  etas[i] = eta;
  distances[i] = distanceKm;
}

function sortsBefore(
  etaA: number,
  distanceA: number,
  dcA: number,
  etaB: number,
  distanceB: number,
  dcB: number,
): boolean {
  if (etaA !== etaB) return etaA < etaB;
  if (distanceA !== distanceB) return distanceA < distanceB;
  return dcA < dcB;
}

/** Copies the cached DCs with ETA ≤ maxMinutes (a NaN window finds nothing) into `out`. */
function copyEntry(cache: Float64Array, entry: number, maxMinutes: number, out: DcHits): number {
  const count = cache[entry + CACHE_COUNT];
  const limit = Math.min(count, out.capacity);
  const outDcs = out.dcs;
  const outEtas = out.etaMinutes;
  const outDistances = out.distanceKm;
  let cell = entry + CACHE_HEADER_CELLS;
  let i = 0;
  for (; i < limit; i++) {
    const eta = cache[cell + 1];
    if (!(eta <= maxMinutes)) break;
    outDcs[i] = cache[cell];
    outEtas[i] = eta;
    outDistances[i] = cache[cell + 2];
    cell += 3;
  }
  out.count = i;
  return i;
}

/** The same copy from a freshly searched `found` list. */
function copyFound(found: DcHits, maxMinutes: number, out: DcHits): number {
  const limit = Math.min(found.count, out.capacity);
  let i = 0;
  for (; i < limit; i++) {
    const eta = found.etaMinutes[i];
    if (!(eta <= maxMinutes)) break;
    out.dcs[i] = found.dcs[i];
    out.etaMinutes[i] = eta;
    out.distanceKm[i] = found.distanceKm[i];
  }
  out.count = i;
  return i;
}

/**
 * What `upsert` would refuse this record with, without indexing it: the catalogue calls this
 * before it logs a DC, so a logged record is never refused on replay. Besides `validateArea`,
 * it refuses a radius circle that cannot be drawn in plain lng/lat (one that would cross the
 * antimeridian), a location out of range, and a travel model that makes every ETA meaningless.
 */
export function checkDcRecord(
  dc: Pick<DcRecord, 'location' | 'radiusKm' | 'area' | 'speedKmh' | 'prepMinutes'>,
): GeoUpsertRefusal | null {
  const refusal = checkTravel(dc);
  if (refusal !== null) return refusal;
  return buildArea(dc) === null ? 'BAD_AREA' : null;
}

/** Refuses a travel model or location that would make every ETA or distance meaningless. */
function checkTravel(
  dc: Pick<DcRecord, 'location' | 'speedKmh' | 'prepMinutes'>,
): GeoUpsertRefusal | null {
  const { lat, lng } = dc.location;
  if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) return 'BAD_LOCATION';
  if (!(Number.isFinite(dc.speedKmh) && dc.speedKmh > 0)) return 'BAD_FIELD';
  if (!(Number.isFinite(dc.prepMinutes) && dc.prepMinutes >= 0)) return 'BAD_FIELD';
  return null;
}

/**
 * Builds the area polygon the index owns: a copy of a given polygon (so later changes to the
 * record cannot move the area under the R-tree), or the circle around the DC. Returns null
 * when the area is invalid, including a circle that would cross the antimeridian.
 */
function buildArea(dc: Pick<DcRecord, 'location' | 'radiusKm' | 'area'>): AreaFeature | null {
  if (dc.area !== null) {
    if (!validateArea(dc.area)) return null;
    const rings = dc.area.coordinates.map((ring) => ring.map((p) => [p[0], p[1]]));
    return polygon(rings);
  }
  const radiusKm = dc.radiusKm;
  if (radiusKm === null || !(radiusKm > 0 && radiusKm <= RADIUS_KM_MAX)) return null;
  const area = circle([dc.location.lng, dc.location.lat], radiusKm, {
    steps: CIRCLE_STEPS,
    units: 'kilometers',
  });
  return validateArea(area.geometry) ? area : null;
}

/** Squared distance from the origin to the segment from (ax, ay) to (bx, by). */
function segmentDistanceSq(ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const lengthSq = dx * dx + dy * dy;
  let t = lengthSq > 0 ? -(ax * dx + ay * dy) / lengthSq : 0;
  if (t < 0) t = 0;
  else if (t > 1) t = 1;
  const x = ax + t * dx;
  const y = ay + t * dy;
  return x * x + y * y;
}

function boxOf(rings: PolygonCoordinates, dc: number): AreaBox {
  const box: AreaBox = { minX: 180, minY: 90, maxX: -180, maxY: -90, dc };
  for (const ring of rings) {
    for (const position of ring) {
      if (position[0] < box.minX) box.minX = position[0];
      if (position[0] > box.maxX) box.maxX = position[0];
      if (position[1] < box.minY) box.minY = position[1];
      if (position[1] > box.maxY) box.maxY = position[1];
    }
  }
  return box;
}

function assertLocation(lat: number, lng: number): void {
  if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)) {
    throw new Error(`DeliveryAreaIndex: location (${lat}, ${lng}) out of range`);
  }
}

function requireInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`DeliveryAreaIndex ${name} must be an integer in [${min}, ${max}]`);
  }
}
