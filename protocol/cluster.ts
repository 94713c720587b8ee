/**
 * Regions, as every part of a cluster sees them: the names of the NATS JetStream buckets and
 * streams, the shape of a region's definition and of its owner record, and the rule that
 * routes a location to a region. The nodes (cluster/) write these records; the SDK
 * (protocol/client/cluster.ts) reads them; any service may read them with a NATS client.
 *
 * A region is a metro and its DCs; a DC belongs to exactly one region (it is in that region's
 * engine and nowhere else). The routing rule, `regionForLocation`, is deterministic:
 *
 * 1. The candidates are the regions with a DC whose reach (its delivery radius, or for a
 *    polygon the farthest vertex from the DC) covers the location.
 * 2. Of several candidates (a border both regions' DCs reach), the region with the nearest DC
 *    wins; equal distances go to the smaller region id.
 * 3. With no candidate, the region with the nearest DC anywhere wins (its engine then answers
 *    NO_DC_IN_RANGE, as a single node would), ties again by region id.
 *
 * A location is therefore served by one region's DCs only: at a border, the DCs of the losing
 * region are not offered even where they could deliver. Each region's `bounds` (the box around
 * its DCs' reach) lets a router skip regions that cannot be candidates.
 *
 * Nothing here imports anything: the SDK ships it to clients.
 */

/** The JetStream KV bucket holding each region's owner, one key per region, with a TTL. */
export const OWNERS_BUCKET = 'inventory-owners';
/** The JetStream KV bucket holding each region's definition (no TTL). */
export const REGIONS_BUCKET = 'inventory-regions';
/** Region ids: lower-case metro slugs, usable as a NATS subject token and a KV key. */
export const REGION_ID_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The headers of every message of a region's log stream (see PROTOCOL.md). */
export const LOG_HEADERS = {
  region: 'Inventory-Region',
  epoch: 'Inventory-Epoch',
  kind: 'Inventory-Kind',
  firstLsn: 'Inventory-First-Lsn',
  records: 'Inventory-Records',
} as const;

/** `Inventory-Kind` of a message with records, and of the marker a new owner publishes. */
export const LOG_KIND_BATCH = 'batch';
export const LOG_KIND_EPOCH = 'epoch';

export function isRegionId(value: unknown): value is string {
  return typeof value === 'string' && REGION_ID_PATTERN.test(value);
}

/** The subject a region's log is published on. */
export function logSubject(region: string): string {
  return `inventory.log.${region}`;
}

/** The JetStream stream that keeps a region's log. */
export function logStreamName(region: string): string {
  return `INVENTORY_${region.toUpperCase().replaceAll('-', '_')}`;
}

export interface RegionDc {
  id: string;
  lat: number;
  lng: number;
  /** Farthest distance the DC delivers to, in km (radius, or farthest polygon vertex). */
  reachKm: number;
}

export interface RegionBounds {
  south: number;
  west: number;
  north: number;
  east: number;
}

/** A region's definition, stored under its id in REGIONS_BUCKET (JSON). */
export interface RegionDefinition {
  id: string;
  name: string;
  dcs: RegionDc[];
  /** The box around every DC's reach; a location outside it is no DC's of this region. */
  bounds: RegionBounds;
  /** Milliseconds since the epoch when the owner last wrote it. */
  updatedAt: number;
}

/** A region's owner, stored under the region id in OWNERS_BUCKET (JSON), with a TTL. */
export interface RegionOwner {
  region: string;
  nodeId: string;
  /** The owner's WebSocket URL (`ws://host:port/v1/ws`), where the SDK sends requests. */
  url: string;
  /** The owner's HTTP base URL (`http://host:port`). */
  httpUrl: string;
  /** Raised by one at every takeover; the log stream's messages carry it too. */
  epoch: number;
  claimedAt: number;
}

const EARTH_RADIUS_KM = 6_371.0088;
/** Along a meridian, on the sphere `distanceKm` measures on (so the box holds each circle). */
const KM_PER_DEGREE = (EARTH_RADIUS_KM * Math.PI) / 180;
/** The box is drawn this much wider than the circles, against rounding at their edges. */
const BOUNDS_SLACK = 1.001;

/** Great-circle distance in km (haversine). */
export function distanceKm(
  a: { lat: number; lng: number },
  b: { lat: number; lng: number },
): number {
  const toRadians = Math.PI / 180;
  const dLat = (b.lat - a.lat) * toRadians;
  const dLng = (b.lng - a.lng) * toRadians;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * toRadians) * Math.cos(b.lat * toRadians) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The box around every DC's reach circle (slightly generous at high latitudes: a box). */
export function boundsOf(dcs: readonly RegionDc[]): RegionBounds {
  const bounds = { south: 90, west: 180, north: -90, east: -180 };
  for (const dc of dcs) {
    const dLat = (dc.reachKm * BOUNDS_SLACK) / KM_PER_DEGREE;
    const cos = Math.max(0.01, Math.cos((dc.lat * Math.PI) / 180));
    const dLng = (dc.reachKm * BOUNDS_SLACK) / (KM_PER_DEGREE * cos);
    bounds.south = Math.min(bounds.south, dc.lat - dLat);
    bounds.north = Math.max(bounds.north, dc.lat + dLat);
    bounds.west = Math.min(bounds.west, dc.lng - dLng);
    bounds.east = Math.max(bounds.east, dc.lng + dLng);
  }
  return bounds;
}

function inBounds(bounds: RegionBounds, location: { lat: number; lng: number }): boolean {
  return (
    location.lat >= bounds.south &&
    location.lat <= bounds.north &&
    location.lng >= bounds.west &&
    location.lng <= bounds.east
  );
}

/** Nearest DC of a region to a location, and whether any DC of it reaches the location. */
function nearestDc(
  region: RegionDefinition,
  location: { lat: number; lng: number },
): { km: number; reached: boolean } {
  let km = Number.POSITIVE_INFINITY;
  let reached = false;
  for (const dc of region.dcs) {
    const distance = distanceKm(dc, location);
    if (distance < km) km = distance;
    if (distance <= dc.reachKm) reached = true;
  }
  return { km, reached };
}

function better(
  candidate: { id: string; km: number },
  best: { id: string; km: number } | null,
): boolean {
  if (best === null || candidate.km < best.km) return true;
  return candidate.km === best.km && candidate.id < best.id;
}

/**
 * The region a location belongs to (the rule in this file's header); null with no regions.
 * Regions whose bounds exclude the location are skipped unless no region reaches it.
 */
export function regionForLocation(
  regions: readonly RegionDefinition[],
  location: { lat: number; lng: number },
): string | null {
  let reaching: { id: string; km: number } | null = null;
  for (const region of regions) {
    if (region.dcs.length === 0 || !inBounds(region.bounds, location)) continue;
    const found = nearestDc(region, location);
    const entry = { id: region.id, km: found.km };
    if (found.reached && better(entry, reaching)) reaching = entry;
  }
  if (reaching !== null) return reaching.id;
  let nearest: { id: string; km: number } | null = null;
  for (const region of regions) {
    if (region.dcs.length === 0) continue;
    const entry = { id: region.id, km: nearestDc(region, location).km };
    if (better(entry, nearest)) nearest = entry;
  }
  return nearest?.id ?? null;
}
