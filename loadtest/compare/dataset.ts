/**
 * The comparison's dataset: the load tests' seeded network (loadtest/workload.ts), changed in
 * two ways so that the engine and the textbook designs answer the same questions.
 *
 * - Every delivery area is a circle, because Redis's GEOSEARCH answers "which DCs are within
 *   r km" and cannot test a point against a polygon. The DCs the demo network gives an
 *   isochrone polygon get the circle of the polygon's mean reach instead.
 * - Every DC has the same travel model (the engine's default speed and preparation time).
 *   The engine allocates an order to the DC with the lowest ETA; orders are placed at the
 *   location of the DC the other systems are told to use, and with one travel model that DC
 *   (distance 0) always has the lowest ETA. With the demo network's varied preparation times a
 *   nearby DC that prepares faster would win, and the engine would take other cells.
 *
 * Invariants: a pure function of the options; every DC has `radiusKm`, no `area`, and the same
 * speed and preparation time; and every DC's ETA at the edge of its circle is within the
 * availability window, so in the engine the window never drops a DC its circle contains and
 * radius alone decides, as in Redis. A dataset that breaks the last invariant is refused with
 * an error rather than compared unequally.
 */

import { PREP_MINUTES_DEFAULT, SPEED_KMH_DEFAULT } from '../../engine/index.js';
import { etaMinutes, haversineKm } from '../../engine/geo/index.js';
import type { UpsertDcArgs } from '../../protocol/client/index.js';
import { buildDataset, type Dataset, type DatasetOptions } from '../workload.js';

/** The window availability queries ask for, in minutes (the engine's default, passed). */
export const AVAILABILITY_WINDOW_MINUTES = 60;
/** Circles are rounded to 100 m (tenths of a km), as the demo network's own radii are. */
const RADIUS_TENTHS_PER_KM = 10;

/** The mean distance from the DC to the vertices of its polygon, rounded to 100 m. */
export function meanReachKm(dc: UpsertDcArgs): number {
  const ring = dc.area?.coordinates[0];
  if (ring === undefined || ring.length < 2) throw new Error(`${dc.id} has no polygon`);
  let sumKm = 0;
  // The ring is closed: its last position repeats the first and is counted once.
  for (let index = 0; index + 1 < ring.length; index++) {
    sumKm += haversineKm(dc.location.lat, dc.location.lng, ring[index][1], ring[index][0]);
  }
  const meanKm = sumKm / (ring.length - 1);
  return Math.max(1, Math.round(meanKm * RADIUS_TENTHS_PER_KM)) / RADIUS_TENTHS_PER_KM;
}

/** The DC as the comparison uses it: a circular delivery area and the common travel model. */
export function comparableDc(dc: UpsertDcArgs): UpsertDcArgs {
  const { area, ...rest } = dc;
  if (area === undefined && dc.radiusKm === undefined) {
    throw new Error(`${dc.id} has neither radius nor area`);
  }
  return {
    ...rest,
    radiusKm: area === undefined ? dc.radiusKm : meanReachKm(dc),
    speedKmh: SPEED_KMH_DEFAULT,
    prepMinutes: PREP_MINUTES_DEFAULT,
  };
}

/** ETA at the edge of the DC's circle in minutes, as the engine computes it. */
export function edgeEtaMinutes(dc: UpsertDcArgs): number {
  return etaMinutes(
    dc.prepMinutes ?? PREP_MINUTES_DEFAULT,
    dc.speedKmh ?? SPEED_KMH_DEFAULT,
    dc.radiusKm ?? Number.NaN,
  );
}

export function buildCompareDataset(options: DatasetOptions): Dataset {
  const base = buildDataset(options);
  const dcs = base.dcs.map(comparableDc);
  for (const dc of dcs) {
    const eta = edgeEtaMinutes(dc);
    if (!(eta <= AVAILABILITY_WINDOW_MINUTES)) {
      throw new Error(
        `${dc.id}: ETA ${eta.toFixed(1)} min at the edge of its ${dc.radiusKm} km circle is ` +
          `past the ${AVAILABILITY_WINDOW_MINUTES}-minute window, so radius alone would not ` +
          'decide which DCs serve a location',
      );
    }
  }
  return { ...base, dcs };
}

/** The largest delivery radius of the dataset: the radius Redis searches before filtering. */
export function searchRadiusKm(dataset: Dataset): number {
  let radiusKm = 0;
  for (const dc of dataset.dcs) radiusKm = Math.max(radiusKm, dc.radiusKm ?? 0);
  return radiusKm;
}
