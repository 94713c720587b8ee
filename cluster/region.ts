/**
 * A region's definition (protocol/cluster.ts), built from the catalogue its owner serves: each
 * active DC with its reach, and the box around them. The owner writes it to the regions
 * bucket after a takeover and whenever its DCs change, so routers learn the area it serves.
 *
 * Invariant: the definition is a pure function of the catalogue records (and the clock for
 * `updatedAt`), so every owner of a region writes the same one for the same catalogue.
 */

import type { DcRecord, LogRecord } from '../engine/index.js';
import { boundsOf, distanceKm, type RegionDc, type RegionDefinition } from '../protocol/index.js';

/** How far a DC delivers: its radius, or the farthest vertex of its area from it. */
export function reachKm(dc: DcRecord): number {
  if (dc.radiusKm !== null) return dc.radiusKm;
  let reach = 0;
  for (const ring of dc.area?.coordinates ?? []) {
    for (const [lng, lat] of ring) reach = Math.max(reach, distanceKm(dc.location, { lat, lng }));
  }
  return reach;
}

export function regionDefinition(
  id: string,
  name: string,
  catalogue: readonly Extract<LogRecord, { type: 'dc' | 'sku' }>[],
  now: number,
): RegionDefinition {
  const byId = new Map<string, DcRecord>();
  for (const record of catalogue) if (record.type === 'dc') byId.set(record.dc.id, record.dc);
  const dcs: RegionDc[] = [];
  for (const dc of byId.values()) {
    if (!dc.active) continue;
    dcs.push({ id: dc.id, lat: dc.location.lat, lng: dc.location.lng, reachKm: reachKm(dc) });
  }
  dcs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { id, name, dcs, bounds: boundsOf(dcs), updatedAt: now };
}

/** True when two definitions describe the same DCs (their times aside). */
export function sameDcs(a: RegionDefinition | null, b: RegionDefinition): boolean {
  if (a === null || a.dcs.length !== b.dcs.length) return false;
  return a.dcs.every((dc, index) => {
    const other = b.dcs[index];
    return (
      dc.id === other.id &&
      dc.lat === other.lat &&
      dc.lng === other.lng &&
      dc.reachKm === other.reachKm
    );
  });
}
