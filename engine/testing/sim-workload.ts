/**
 * The simulator's seeded workload: the network it starts from, and the operations of every
 * round, generated from the seed alone. Nothing here looks at what the engine answered, so a
 * seed always gives the same operations, whatever the threads did with them; the answers are
 * the checker's business (loadtest/simulate.ts).
 *
 * Each stream (one per simulated thread) owns the order ids it creates (`s<stream>-<n>`), so
 * only that stream moves them, apart from expiry, which any stream's sweep may do. Contested
 * ids (`c-<n>`) are placed by every stream with the same request (now and then a different
 * one), to race the idempotency key. Each stream creates at most `newOrdersMax` ids per epoch
 * and the contested ids are few, so an epoch never fills the order table (no eviction).
 */

import type { EngineConfig } from '../config.js';
import type { Location, OrderLineInput, PlaceOrderInput } from '../types.js';
import type { Operation } from './operations.js';
import { Prng } from './prng.js';

export const SIM_CONFIG: EngineConfig = {
  dcCapacity: 8,
  skuCapacity: 12,
  dcsPerShard: 4,
  orderCapacity: 2048,
  linesPerOrderMax: 4,
  allocationsPerOrderMax: 6,
  holdTtlSecondsDefault: 90,
  maxMinutesDefault: 60,
  geoCacheSize: 64,
  lockWaitMsMax: 5_000,
  casRetriesMax: 1_000,
  verify: false,
};

/** Orders one epoch may create in all: a quarter of the table, far from any eviction. */
export const SIM_ORDERS_PER_EPOCH_MAX = SIM_CONFIG.orderCapacity / 4;
export const SIM_CONTESTED_IDS = 48;
/** Contested order ids start with this; a stream's own ids with `s<stream>-`. */
export const CONTESTED_PREFIX = 'c-';
export const SIM_CLOCK_START = 1_700_000_000_000;
/** Placements ask for TTLs up to this (and the default is below it). */
export const SIM_TTL_SECONDS_MAX = 120;
/** An extend longer than any TTL a hold was given: it always moves the deadline later. */
export const EXTEND_LENGTHENING_SECONDS = 150;

const CENTER: Location = { lat: 12.975, lng: 77.595 };
/** Where shoppers are: the centre (three DCs), the east (one or two), the north, nowhere. */
export const SIM_LOCATIONS: readonly Location[] = [
  CENTER,
  { lat: 12.945, lng: 77.632 },
  { lat: 13.05, lng: 77.55 },
  { lat: 28.6, lng: 77.2 },
];
const LOCATION_WEIGHTS = [60, 18, 16, 6];

/** The network of a new epoch, set up by the catalogue owner (the checker's thread). */
export function simNetwork(): Operation[] {
  const dcs: Operation[] = [
    simDc('sim-dc-0', 12.97, 77.59, 6, 5, 20),
    simDc('sim-dc-1', 12.99, 77.61, 8, 8, 20),
    simDc('sim-dc-2', 12.95, 77.62, 10, 4, 30),
    simDc('sim-dc-3', 13.05, 77.552, 6, 6, 20),
  ];
  const skus: Operation[] = [];
  for (let sku = 0; sku < 8; sku++) {
    const maxPerOrder = sku === 6 ? 3 : sku === 7 ? 1 : 0;
    const category = sku % 2 === 0 ? 'dairy' : 'snacks';
    skus.push({
      kind: 'sku',
      input: { id: `sim-sku-${sku}`, name: `SKU ${sku}`, category, maxPerOrder },
    });
  }
  return [...dcs, ...skus];
}

function simDc(
  id: string,
  lat: number,
  lng: number,
  radiusKm: number,
  prepMinutes: number,
  speedKmh: number,
): Operation {
  return {
    kind: 'dc',
    input: { id, name: id, location: { lat, lng }, radiusKm, prepMinutes, speedKmh },
  };
}

/** How often each kind of operation comes (see OperationStream.next). */
const OPERATION_WEIGHTS = [22, 4, 2, 5, 8, 4, 7, 5, 6, 7, 3, 4, 8, 4, 2, 2, 2, 2];

/** What the generators know of the catalogue: the ids they have proposed, in order. */
export class CatalogueIds {
  readonly dcs: string[] = [];
  readonly skus: string[] = [];
  readonly dcInputs = new Map<string, Extract<Operation, { kind: 'dc' }>['input']>();

  note(operation: Operation): void {
    if (operation.kind === 'dc') {
      if (!this.dcInputs.has(operation.input.id)) this.dcs.push(operation.input.id);
      this.dcInputs.set(operation.input.id, operation.input);
    } else if (operation.kind === 'sku' && !this.skus.includes(operation.input.id)) {
      this.skus.push(operation.input.id);
    }
  }
}

function weighted(prng: Prng, weights: readonly number[]): number {
  let roll = prng.int(weights.reduce((sum, weight) => sum + weight, 0));
  for (let at = 0; at < weights.length; at++) {
    roll -= weights[at];
    if (roll < 0) return at;
  }
  return weights.length - 1;
}

/** Random lines: 1–3 distinct known SKUs, sometimes an unknown one, a duplicate or a zero. */
function randomLines(prng: Prng, catalogue: CatalogueIds): OrderLineInput[] {
  const count = prng.range(1, 3);
  const skus = new Set<string>();
  while (skus.size < count) skus.add(prng.pick(catalogue.skus));
  const lines = [...skus].map((sku) => ({
    sku,
    qty: prng.chance(0.1) ? prng.range(4, 9) : prng.range(1, 3),
  }));
  const oddity = prng.int(100);
  if (oddity < 2) lines.push({ sku: 'sim-sku-unknown', qty: 1 });
  else if (oddity < 3) lines.push({ ...lines[0] });
  else if (oddity < 4) lines[0] = { ...lines[0], qty: 0 };
  return lines;
}

function randomPlacement(prng: Prng, orderId: string, catalogue: CatalogueIds): PlaceOrderInput {
  const input: PlaceOrderInput = {
    orderId,
    location: SIM_LOCATIONS[weighted(prng, LOCATION_WEIGHTS)],
    lines: randomLines(prng, catalogue),
    mode: prng.chance(0.75) ? 'hold' : 'commit',
  };
  if (prng.chance(0.5)) input.policy = prng.chance(0.5) ? 'split' : 'single-dc';
  if (prng.chance(0.8)) input.ttlSeconds = prng.range(1, SIM_TTL_SECONDS_MAX);
  if (prng.chance(0.1)) input.maxMinutes = prng.range(5, 30);
  return input;
}

/** The request every stream sends for contested id `index` of an epoch (or its variant). */
function contestedPlacement(
  seed: number,
  epoch: number,
  index: number,
  catalogue: CatalogueIds,
): PlaceOrderInput {
  const prng = new Prng(seed, 1_000_000 + epoch * SIM_CONTESTED_IDS + index);
  return randomPlacement(prng, `${CONTESTED_PREFIX}${index}`, catalogue);
}

/**
 * The operations of one stream. Its ids, and the requests it made for them, are remembered for
 * retries and for the lifecycle operations that follow; the engine's answers are not.
 */
export class OperationStream {
  private readonly prng: Prng;
  private readonly placed: PlaceOrderInput[] = [];
  private readonly linesOf = new Map<string, OrderLineInput[]>();

  /**
   * `extendsLengthen`: every extend asks for EXTEND_LENGTHENING_SECONDS, longer than any hold's
   * TTL, so no extend ever brings a deadline forward.
   */
  constructor(
    private readonly seed: number,
    private readonly epoch: number,
    readonly stream: number,
    private readonly newOrdersMax: number,
    private readonly extendsLengthen = false,
  ) {
    this.prng = new Prng(seed, 1 + epoch * 64 + stream);
  }

  /** An own id: mostly a recent one, where the lifecycle is still going on. */
  private knownId(): string {
    if (this.placed.length === 0) return `s${this.stream}-none`;
    const recent = Math.min(this.placed.length, 24);
    const at = this.prng.chance(0.8)
      ? this.placed.length - 1 - this.prng.int(recent)
      : this.prng.int(this.placed.length);
    return this.placed[at].orderId;
  }

  /**
   * The next operation. Weights, in the order of OPERATION_WEIGHTS: a new order, a retry, a
   * reuse of an id with other contents, a contested id, confirm, partial confirm, cancel,
   * extend, change, fulfil, look-up, sweep, then the stock operations and reads
   * (`nextAboutStock`), then malformed input.
   */
  next(catalogue: CatalogueIds): Operation {
    const prng = this.prng;
    const kind = weighted(prng, OPERATION_WEIGHTS);
    switch (kind) {
      case 0:
        if (this.placed.length >= this.newOrdersMax)
          return { kind: 'get', orderId: this.knownId() };
        return this.place(
          randomPlacement(prng, `s${this.stream}-${this.placed.length}`, catalogue),
        );
      case 1:
        if (this.placed.length === 0) return { kind: 'expire' };
        return { kind: 'place', input: prng.pick(this.placed) };
      case 2:
        return { kind: 'place', input: randomPlacement(prng, this.knownId(), catalogue) };
      case 3: {
        const index = prng.int(SIM_CONTESTED_IDS);
        const input = contestedPlacement(this.seed, this.epoch, index, catalogue);
        if (prng.chance(0.1)) input.lines = randomLines(prng, catalogue);
        return { kind: 'place', input };
      }
      case 4:
        return { kind: 'confirm', orderId: this.knownId() };
      case 5:
        return this.partialConfirm();
      case 6:
        return { kind: 'cancel', orderId: this.knownId() };
      case 7: {
        const ttlSeconds = prng.range(1, 150);
        const extended = this.extendsLengthen ? EXTEND_LENGTHENING_SECONDS : ttlSeconds;
        return { kind: 'extend', orderId: this.knownId(), ttlSeconds: extended };
      }
      case 8: {
        const orderId = this.knownId();
        const lines = randomLines(prng, catalogue);
        this.linesOf.set(orderId, lines);
        return { kind: 'change', orderId, lines };
      }
      case 9:
        return { kind: 'fulfil', orderId: this.knownId() };
      case 10: {
        const contested = `${CONTESTED_PREFIX}${prng.int(SIM_CONTESTED_IDS)}`;
        return { kind: 'get', orderId: prng.chance(0.9) ? this.knownId() : contested };
      }
      case 11:
        return { kind: 'expire' };
      case OPERATION_WEIGHTS.length - 1:
        return this.malformed();
      default:
        return this.nextAboutStock(kind - 12, catalogue);
    }
  }

  /** Receive, adjust, a stock read, availability, a basket check. */
  private nextAboutStock(kind: number, catalogue: CatalogueIds): Operation {
    const prng = this.prng;
    const dc = prng.pick(catalogue.dcs);
    const sku = prng.pick(catalogue.skus);
    switch (kind) {
      case 0:
        return { kind: 'receive', dc, sku, qty: prng.range(1, 12) };
      case 1:
        return { kind: 'adjust', dc, sku, onHand: prng.range(0, 25) };
      case 2:
        return { kind: 'stock', dc, sku };
      case 3: {
        const location = SIM_LOCATIONS[weighted(prng, LOCATION_WEIGHTS)];
        return {
          kind: 'availability',
          location,
          skus: [sku, prng.pick(catalogue.skus), 'sim-sku-unknown'],
        };
      }
      default: {
        const input = randomPlacement(prng, 'unused', catalogue);
        delete (input as { orderId?: string }).orderId;
        return { kind: 'check', input };
      }
    }
  }

  private place(input: PlaceOrderInput): Operation {
    this.placed.push(input);
    this.linesOf.set(input.orderId, input.lines);
    return { kind: 'place', input };
  }

  /** Keeps part of what the order asked for: some lines fewer, some SKUs left out. */
  private partialConfirm(): Operation {
    const orderId = this.knownId();
    const lines = this.linesOf.get(orderId) ?? [];
    const kept = lines
      .filter(() => this.prng.chance(0.7))
      .map((line) => ({ sku: line.sku, qty: this.prng.range(0, Math.max(1, line.qty)) }));
    return { kind: 'confirm', orderId, lines: kept };
  }

  /** Input the engine must refuse without changing anything. */
  private malformed(): Operation {
    const prng = this.prng;
    switch (prng.int(5)) {
      case 0:
        return {
          kind: 'extend',
          orderId: this.knownId(),
          ttlSeconds: prng.chance(0.5) ? 0 : 86_401,
        };
      case 1:
        return { kind: 'cancel', orderId: `s${this.stream}-never` };
      case 2:
        return { kind: 'get', orderId: '' };
      case 3:
        return { kind: 'receive', dc: 'sim-dc-nowhere', sku: 'sim-sku-0', qty: 1 };
      default:
        return {
          kind: 'place',
          input: { orderId: `s${this.stream}-bad`, location: CENTER, lines: [], mode: 'hold' },
        };
    }
  }
}

/** A catalogue change by the owner thread: a new DC or SKU, or an existing one changed. */
export function catalogueChange(
  prng: Prng,
  catalogue: CatalogueIds,
  config: EngineConfig,
): Operation {
  if (prng.chance(0.5)) {
    if (catalogue.dcs.length < config.dcCapacity + 1 && prng.chance(0.4)) {
      const id = `sim-dc-${catalogue.dcs.length}`;
      const lat = CENTER.lat + prng.uniform(-0.06, 0.06);
      const lng = CENTER.lng + prng.uniform(-0.06, 0.06);
      return simDc(id, lat, lng, prng.range(3, 10), prng.range(2, 10), prng.pick([15, 20, 30]));
    }
    const id = prng.pick(catalogue.dcs);
    const before = catalogue.dcInputs.get(id)!;
    return {
      kind: 'dc',
      input: {
        ...before,
        radiusKm: prng.range(3, 10),
        prepMinutes: prng.range(2, 10),
        active: prng.chance(0.75),
      },
    };
  }
  const id =
    catalogue.skus.length < config.skuCapacity + 1 && prng.chance(0.4)
      ? `sim-sku-${catalogue.skus.length}`
      : prng.pick(catalogue.skus);
  return {
    kind: 'sku',
    input: {
      id,
      name: `SKU ${id}`,
      category: prng.chance(0.5) ? 'dairy' : 'produce',
      maxPerOrder: prng.chance(0.7) ? 0 : prng.range(1, 4),
    },
  };
}
