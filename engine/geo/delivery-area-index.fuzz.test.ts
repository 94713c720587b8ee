/**
 * Seeded property test: the index, through its cache and around it, answers exactly what a
 * brute-force reference answers (every DC tested with turf, no R-tree, no discs, no cache),
 * over random networks, random and boundary locations, random windows, and catalogue changes
 * in between. Replay a failure with SEED=<seed>.
 */

import { bbox, booleanPointInPolygon, circle, polygon } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { CIRCLE_STEPS } from '../constants.js';
import type { DcRecord } from '../types.js';
import { DC_HITS_MAX, DcHits } from './dc-hits.js';
import { DeliveryAreaIndex } from './delivery-area-index.js';
import { haversineKm } from './haversine.js';
import { type GeoBox, METRO_BOX, seededRandom, syntheticDcs } from './synthetic-network.js';

const SEED = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 32);

interface Hit {
  dc: number;
  eta: number;
  distanceKm: number;
}

type Feature = ReturnType<typeof polygon>;

/** The brute-force reference: a list of DCs, each tested directly. */
class ReferenceAreas {
  readonly dcs = new Map<number, { record: DcRecord; area: Feature; box: number[] }>();
  /** How many DCs contained the last location, before the DC_HITS_MAX cut. */
  containedLast = 0;

  upsert(record: DcRecord): void {
    const copy = structuredClone(record);
    const area =
      copy.area !== null
        ? polygon(copy.area.coordinates)
        : circle([copy.location.lng, copy.location.lat], copy.radiusKm!, {
            steps: CIRCLE_STEPS,
            units: 'kilometers',
          });
    this.dcs.set(copy.index, { record: copy, area, box: bbox(area) });
  }

  resolve(lat: number, lng: number, maxMinutes: number): Hit[] {
    const hits: Hit[] = [];
    for (const { record, area, box } of this.dcs.values()) {
      if (!record.active) continue;
      if (lng < box[0] || lat < box[1] || lng > box[2] || lat > box[3]) continue;
      if (!booleanPointInPolygon([lng, lat], area)) continue;
      const distanceKm = haversineKm(record.location.lat, record.location.lng, lat, lng);
      const eta = record.prepMinutes + (distanceKm / record.speedKmh) * 60;
      hits.push({ dc: record.index, eta, distanceKm });
    }
    this.containedLast = hits.length;
    hits.sort((a, b) => a.eta - b.eta || a.distanceKm - b.distanceKm || a.dc - b.dc);
    const kept = hits.slice(0, DC_HITS_MAX);
    const inWindow = kept.findIndex((hit) => !(hit.eta <= maxMinutes));
    return inWindow === -1 ? kept : kept.slice(0, inWindow);
  }

  /** Boundary probes: the vertices and edge midpoints of a DC's area. */
  boundaryPoints(dc: number): number[][] {
    const ring = this.dcs.get(dc)!.area.geometry.coordinates[0];
    const points: number[][] = [];
    for (let i = 0; i + 1 < ring.length; i++) {
      points.push(ring[i], [(ring[i][0] + ring[i + 1][0]) / 2, (ring[i][1] + ring[i + 1][1]) / 2]);
    }
    return points;
  }
}

function sameHits(label: string, out: DcHits, expected: Hit[]): void {
  const got: Hit[] = [];
  for (let i = 0; i < out.count; i++) {
    got.push({ dc: out.dcs[i], eta: out.etaMinutes[i], distanceKm: out.distanceKm[i] });
  }
  const same =
    got.length === expected.length &&
    got.every(
      (hit, i) =>
        hit.dc === expected[i].dc &&
        hit.eta === expected[i].eta &&
        hit.distanceKm === expected[i].distanceKm,
    );
  if (!same) {
    throw new Error(`${label}: got ${JSON.stringify(got)}, want ${JSON.stringify(expected)}`);
  }
}

interface Scenario {
  dcCount: number;
  queries: number;
  radiusKmMin: number;
  radiusKmMax: number;
  cacheSize: number;
  /** Queries between two catalogue changes. */
  changeEvery: number;
}

/** Runs one scenario; returns how many locations were contained by more than DC_HITS_MAX. */
function run(seed: number, scenario: Scenario): { crowded: number; cacheHits: number } {
  const random = seededRandom(seed);
  const box: GeoBox = METRO_BOX;
  const network = { random, box, radiusKmMin: scenario.radiusKmMin };
  const records = syntheticDcs({
    ...network,
    dcCount: scenario.dcCount,
    radiusKmMax: scenario.radiusKmMax,
    inactiveShare: 0.1,
  });
  const index = new DeliveryAreaIndex({
    dcCapacity: scenario.dcCount,
    cacheSize: scenario.cacheSize,
  });
  const reference = new ReferenceAreas();
  for (const record of records) {
    expect(index.upsert(record)).toBeNull();
    reference.upsert(record);
  }
  const cached = new DcHits();
  const uncached = new DcHits();
  const seen: number[][] = [];
  let crowded = 0;
  for (let query = 0; query < scenario.queries; query++) {
    if (query > 0 && query % scenario.changeEvery === 0) {
      change(index, reference, records, random, scenario);
    }
    const [lng, lat] = pickLocation(random, box, seen, reference, scenario.dcCount);
    seen.push([lng, lat]);
    let maxMinutes = pickWindow(random);
    let expected = reference.resolve(lat, lng, Number.POSITIVE_INFINITY);
    if (expected.length > 0 && random() < 0.2) {
      // A window that ends exactly on one DC's ETA: that DC is in, the next one may not be.
      maxMinutes = expected[Math.floor(random() * expected.length)].eta;
    }
    expected = reference.resolve(lat, lng, maxMinutes);
    if (reference.containedLast > DC_HITS_MAX) crowded += 1;
    const where = `query ${query} at (${lat}, ${lng}) within ${maxMinutes}`;
    index.resolve(lat, lng, maxMinutes, cached);
    sameHits(`cached ${where}`, cached, expected);
    index.resolveUncached(lat, lng, maxMinutes, uncached);
    sameHits(`uncached ${where}`, uncached, expected);
    // Ask again at once: this one is certainly a cache hit.
    index.resolve(lat, lng, maxMinutes, cached);
    sameHits(`cached again ${where}`, cached, expected);
  }
  index.verify();
  return { crowded, cacheHits: index.cacheHits };
}

function pickLocation(
  random: () => number,
  box: GeoBox,
  seen: number[][],
  reference: ReferenceAreas,
  dcCount: number,
): number[] {
  const roll = random();
  if (roll < 0.25 && seen.length > 0) return seen[Math.floor(random() * seen.length)];
  if (roll < 0.45) {
    const dc = reference.dcs.get(Math.floor(random() * dcCount))!;
    const points = reference.boundaryPoints(dc.record.index);
    const [lng, lat] = points[Math.floor(random() * points.length)];
    // On the boundary exactly, or a hair to either side of it.
    const jitter = random() < 0.5 ? 0 : (random() - 0.5) * 2e-8;
    return [lng + jitter, lat - jitter];
  }
  if (roll < 0.5) {
    const dc = reference.dcs.get(Math.floor(random() * dcCount))!;
    return [dc.record.location.lng, dc.record.location.lat];
  }
  // A margin around the box, so some locations are served by nobody.
  const latSpan = box.latMax - box.latMin;
  const lngSpan = box.lngMax - box.lngMin;
  return [
    box.lngMin - 0.2 * lngSpan + random() * 1.4 * lngSpan,
    box.latMin - 0.2 * latSpan + random() * 1.4 * latSpan,
  ];
}

function pickWindow(random: () => number): number {
  const roll = random();
  if (roll < 0.1) return Number.POSITIVE_INFINITY;
  if (roll < 0.15) return 0;
  return 5 + random() * 115;
}

/** One catalogue change, applied to both: deactivate, reactivate, move, reshape or retime. */
function change(
  index: DeliveryAreaIndex,
  reference: ReferenceAreas,
  records: DcRecord[],
  random: () => number,
  scenario: Scenario,
): void {
  const dc = Math.floor(random() * records.length);
  const current = records[dc];
  const [fresh] = syntheticDcs({
    dcCount: 1,
    random,
    radiusKmMin: scenario.radiusKmMin,
    radiusKmMax: scenario.radiusKmMax,
  });
  const roll = random();
  let next: DcRecord;
  if (roll < 0.3) next = { ...current, active: !current.active };
  else if (roll < 0.8) next = { ...fresh, index: dc, id: current.id, active: current.active };
  else next = { ...current, speedKmh: fresh.speedKmh, prepMinutes: fresh.prepMinutes };
  expect(index.upsert(next)).toBeNull();
  reference.upsert(next);
  records[dc] = next;
  index.verify();
}

describe('DeliveryAreaIndex against a brute-force reference', () => {
  it(`agrees on a metro network, cached and uncached (seed ${SEED})`, () => {
    try {
      const result = run(SEED, {
        dcCount: 200,
        queries: 5_000,
        radiusKmMin: 1.5,
        radiusKmMax: 6,
        cacheSize: 256,
        changeEvery: 250,
      });
      expect(result.cacheHits).toBeGreaterThan(5_000);
    } catch (error) {
      console.error(`delivery-area-index fuzz failed; replay with SEED=${SEED}`);
      throw error;
    }
  });

  it(`agrees where more than DC_HITS_MAX DCs cover a location (seed ${SEED})`, () => {
    try {
      const result = run(SEED ^ 0x5bd1e995, {
        dcCount: 150,
        queries: 800,
        radiusKmMin: 25,
        radiusKmMax: 40,
        cacheSize: 64,
        changeEvery: 100,
      });
      expect(result.crowded).toBeGreaterThan(100);
    } catch (error) {
      console.error(`delivery-area-index fuzz failed; replay with SEED=${SEED}`);
      throw error;
    }
  });
});
