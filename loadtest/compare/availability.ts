/**
 * The availability side of the comparison: the engine's availability query (a customer
 * location and 20 SKUs, with the per-DC breakdown, through the SDK) against Redis answering
 * the same question with GEOSEARCH and one Lua script (redis-system.ts). Before the answers
 * are compared, both systems take the same orders, one at a time, so the counters differ from
 * cell to cell and a total that agrees means the same DCs and the same units.
 *
 * One difference is expected and explained: the engine draws a radius area as a polygon of
 * CIRCLE_STEPS (64) vertices inscribed in the circle, which reaches between 99.88 % of the
 * radius (mid-edge) and 100 % (at a vertex), while Redis tests the distance against the
 * radius (measured on its own Earth radius, 0.03 % larger). A customer in that thin band
 * around a DC's circle may be served by the DC in one system and not in the other. The check
 * counts such queries apart; any other difference fails the comparison.
 *
 * Invariants: both systems were loaded with the same dataset (every DC a circle, see
 * dataset.ts) and take the same orders in the same sequence; the queries compared are drawn
 * from their own PRNG stream, not the measured one; every loop is bounded in count.
 */

import { CIRCLE_STEPS } from '../../engine/index.js';
import { haversineKm } from '../../engine/geo/index.js';
import type { AvailabilityArgs } from '../../protocol/client/index.js';
import { type Dataset, OrderSource, orderMixDefault, QuerySource } from '../workload.js';
import type { AvailabilityClients, SkuAnswer, SystemUnderTest } from './systems.js';

export const SKUS_PER_QUERY = 20;
/** Popularity of the queried SKUs: the orders' Zipf exponent. */
const QUERY_ZIPF_EXPONENT = 1;
/** Orders both systems take before their answers are compared. */
export const AGREEMENT_ORDERS = 200;
/** Queries whose answers are compared. */
export const AGREEMENT_QUERIES_DEFAULT = 50;
/** PRNG streams: the measured queries use stream 0, these others. */
const STREAM_AGREEMENT = 1;
/** Differences kept in a report; the count says how many there were. */
const DIFFERENCES_KEPT_MAX = 10;
/** Slack on either side of the edge band, in km: Redis stores locations as 52-bit geohashes. */
const EDGE_SLACK_KM = 0.001;
/** How far in from its circle the engine's inscribed polygon reaches at mid-edge (a ratio). */
const POLYGON_REACH_MIN = Math.cos(Math.PI / CIRCLE_STEPS);

/** The measured queries: the same sequence for every system. */
export function measuredQueries(dataset: Dataset): QuerySource {
  return new QuerySource(dataset, SKUS_PER_QUERY, QUERY_ZIPF_EXPONENT, 0);
}

/** Places the same orders on every system, one at a time, in the same sequence. */
export async function placeSameOrders(
  systems: readonly SystemUnderTest[],
  dataset: Dataset,
  count: number,
): Promise<void> {
  for (const system of systems) {
    const source = new OrderSource(dataset, orderMixDefault(), STREAM_AGREEMENT);
    const clients = await system.openOrders(1, 1);
    try {
      for (let index = 0; index < count; index++) {
        if (!(await clients.place[0](source.next()))) {
          throw new Error(`${system.name} refused agreement order ${index}: stock too small`);
        }
      }
    } finally {
      await clients.close();
    }
  }
}

/** One SKU on which two answers differ: the totals, and the DCs whose units differ. */
export interface SkuDifference {
  sku: string;
  totals: [number, number];
  dcs: { dc: string; units: [number, number] }[];
}

/** What differs between two answers to one query, SKU by SKU. */
export function answerDifferences(
  skus: readonly string[],
  a: readonly SkuAnswer[],
  b: readonly SkuAnswer[],
): SkuDifference[] {
  const differences: SkuDifference[] = [];
  for (let index = 0; index < skus.length; index++) {
    const left = a[index] ?? { total: Number.NaN, dcs: {} };
    const right = b[index] ?? { total: Number.NaN, dcs: {} };
    const names = [...new Set([...Object.keys(left.dcs), ...Object.keys(right.dcs)])].sort();
    const dcs = names
      .filter((dc) => left.dcs[dc] !== right.dcs[dc])
      .map((dc) => ({ dc, units: [left.dcs[dc] ?? 0, right.dcs[dc] ?? 0] as [number, number] }));
    if (left.total === right.total && dcs.length === 0) continue;
    differences.push({ sku: skus[index], totals: [left.total, right.total], dcs });
  }
  return differences;
}

/**
 * True when the customer is in the band around the DC's circle where the engine's inscribed
 * polygon and Redis's distance test may disagree (see the file's header).
 */
export function onAreaEdge(dataset: Dataset, dcId: string, query: AvailabilityArgs): boolean {
  const dc = dataset.dcs.find((candidate) => candidate.id === dcId);
  if (dc?.radiusKm === undefined) return false;
  const km = haversineKm(dc.location.lat, dc.location.lng, query.lat, query.lng);
  return km >= dc.radiusKm * POLYGON_REACH_MIN - EDGE_SLACK_KM && km <= dc.radiusKm + EDGE_SLACK_KM;
}

function describeDifference(difference: SkuDifference): string {
  const dcs = difference.dcs.map((dc) => `${dc.dc} ${dc.units[0]} vs ${dc.units[1]}`);
  const [left, right] = difference.totals;
  const perDc = dcs.length > 0 ? `; ${dcs.join(', ')}` : '';
  return `${difference.sku}: total ${left} vs ${right}${perDc}`;
}

export interface AgreementReport {
  queries: number;
  /** Queries whose every SKU had the same total and the same units per DC. */
  agreed: number;
  /** Queries that differed only by DCs whose circle's edge passes by the customer. */
  onEdge: number;
  /** Queries that differed otherwise: a broken comparison. */
  unexplained: number;
  /** Totals compared (queries × SKUs) and how many were equal. */
  totals: number;
  totalsEqual: number;
  /** The first differences, as text. */
  differences: string[];
}

/** Asks both systems the same `count` queries and compares the answers SKU by SKU. */
export async function compareAnswers(
  a: AvailabilityClients,
  b: AvailabilityClients,
  dataset: Dataset,
  count: number,
): Promise<AgreementReport> {
  const source = new QuerySource(dataset, SKUS_PER_QUERY, QUERY_ZIPF_EXPONENT, STREAM_AGREEMENT);
  const report: AgreementReport = {
    queries: count,
    agreed: 0,
    onEdge: 0,
    unexplained: 0,
    totals: 0,
    totalsEqual: 0,
    differences: [],
  };
  for (let index = 0; index < count; index++) {
    const query = source.next();
    const [left, right] = await Promise.all([a.answer(query), b.answer(query)]);
    for (let sku = 0; sku < query.skus.length; sku++) {
      report.totals++;
      if (left[sku]?.total === right[sku]?.total) report.totalsEqual++;
    }
    const differences = answerDifferences(query.skus, left, right);
    if (differences.length === 0) {
      report.agreed++;
      continue;
    }
    const edge = differences.every(
      (difference) =>
        difference.dcs.length > 0 &&
        difference.dcs.every((dc) => onAreaEdge(dataset, dc.dc, query)),
    );
    if (edge) report.onEdge++;
    else report.unexplained++;
    if (report.differences.length < DIFFERENCES_KEPT_MAX) {
      report.differences.push(
        `query ${index} at (${query.lat}, ${query.lng})${edge ? ', on an area edge' : ''}: ` +
          `${differences.length} SKU(s) differ, e.g. ${describeDifference(differences[0])}`,
      );
    }
  }
  return report;
}
