/**
 * One load-generator process: N SDK connections, each with a bounded window of "lanes" (a
 * lane is a closed loop that issues one request, awaits its answer and issues the next), so a
 * connection keeps up to `window` requests in flight and the SDK packs the ones issued in the
 * same event-loop turn into one frame. With `batch` > 0 a lane uses the SDK's batch API
 * instead: each request is a `placeOrders` or `availabilityMany` of `batch` entries (as a
 * service batching its own traffic would), `window / batch` lanes per connection, and every
 * entry counts as one order or query, with the batch's latency. Lanes draw availability queries and orders from the
 * seeded workload; latency is recorded per op type in HDR histograms (microseconds).
 *
 * Invariants: the run is bounded in time (warm-up + duration) and in count (`opsMax` requests
 * in all); a request is recorded only if it was issued inside the measured window (after the
 * warm-up), and throughput counts only answers inside it; a lane stops on a connection-level
 * failure instead of spinning; every connection is closed before the result is returned.
 */

import { performance } from 'node:perf_hooks';
import type { Histogram } from 'hdr-histogram-js';
import { Prng } from '../engine/testing/index.js';
import {
  type AvailabilityBatchResult,
  InventoryClient,
  InventoryError,
  type OrderBatchResult,
} from '../protocol/client/index.js';
import { createLatencyHistogram, encodeHistogram, recordLatencyUs } from './histogram.js';
import {
  buildDataset,
  type Dataset,
  type DatasetOptions,
  OrderIds,
  type OrderMixOptions,
  OrderSource,
  placeOrderArgs,
  QueryPool,
  QuerySource,
} from './workload.js';

export const OP_TYPES = ['availability', 'order', 'hold', 'confirm', 'fulfil'] as const;
export type OpType = (typeof OP_TYPES)[number];

/** Failures that mean the connection is gone: the lane stops rather than fail every draw. */
const FATAL_CODES: ReadonlySet<string> = new Set(['CLOSED', 'CONNECTION_LOST', 'CONNECT_FAILED']);
/** Hold lifetime for hold-then-confirm orders: long enough that none expires mid-run. */
const HOLD_TTL_SECONDS = 300;
/** Wait for lanes to finish their last request after the run stops. */
const DRAIN_MS_MAX = 30_000;
const PROGRESS_INTERVAL_MS = 1_000;
const US_PER_MS = 1000;

export interface WsRunConfig {
  wsUrl: string;
  apiKey: string;
  connections: number;
  /** Requests (or batch entries) in flight per connection. */
  window: number;
  /** Entries per batch request (placeOrders / availabilityMany); 0: one call per request. */
  batch: number;
  warmupMs: number;
  durationMs: number;
  /** Requests this process may issue in all. */
  opsMax: number;
  timeoutMs: number;
  dataset: DatasetOptions;
  mix: OrderMixOptions;
  /** Share of lane iterations that are availability queries; the rest are orders. */
  availabilityShare: number;
  /** Share of orders placed as holds and then confirmed; the rest are committed at once. */
  holdShare: number;
  /** Share of confirmed orders then fulfilled (picked), which frees their order-table slot. */
  fulfilShare: number;
  skusPerQuery: number;
  /** Ask for the per-DC breakdown in availability answers (false: totals only). */
  breakdown: boolean;
  /** Orders come from customer addresses (true) or from the DCs' own locations (false). */
  customerLocations: boolean;
  runId: string;
  /** This process's index: selects its PRNG streams and order-id namespace. */
  stream: number;
}

export interface OpResult {
  /** Answers inside the measured window. */
  count: number;
  /** Error answers by code, over the whole run. */
  errors: Record<string, number>;
  /** Latency histogram of successful requests issued in the window, base64. */
  histogram: string;
}

export interface WsRunResult {
  stream: number;
  measuredMs: number;
  ops: Record<OpType, OpResult>;
  /** Units in every order the node accepted (commit or hold), over the whole run. */
  unitsPlaced: number;
  /** Units of every order the node fulfilled, over the whole run. */
  unitsFulfilled: number;
}

export interface Progress {
  stream: number;
  /** Answers (any outcome) since the last report. */
  answers: number;
  errors: number;
}

interface OpStats {
  count: number;
  errors: Map<string, number>;
  histogram: Histogram;
}

/** Shared state of one process's lanes. */
class RunState {
  running = true;
  issued = 0;
  answers = 0;
  errorCount = 0;
  unitsPlaced = 0;
  unitsFulfilled = 0;
  windowStart = Number.POSITIVE_INFINITY;
  windowEnd = Number.POSITIVE_INFINITY;
  readonly stats = new Map<OpType, OpStats>();

  constructor(readonly config: WsRunConfig) {
    for (const op of OP_TYPES) {
      this.stats.set(op, { count: 0, errors: new Map(), histogram: createLatencyHistogram() });
    }
  }

  /** Claims `count` requests of the count budget; false once the run must stop. */
  claim(count = 1): boolean {
    if (!this.running || this.issued + count > this.config.opsMax) return false;
    this.issued += count;
    return true;
  }

  /**
   * Awaits one batch request of `count` entries and records it: each entry answered counts,
   * with the batch's latency; refused entries count as errors by code (`refusals`). A failed
   * request counts `count` errors; a connection-level failure stops the lane.
   */
  async timedBatch<T>(
    op: OpType,
    count: number,
    request: () => Promise<T>,
    refusals: (value: T, into: Map<string, number>) => number,
  ): Promise<T | undefined> {
    const started = performance.now();
    const stats = this.stats.get(op)!;
    try {
      const value = await request();
      const ended = performance.now();
      const refused = refusals(value, stats.errors);
      this.answers += count;
      this.errorCount += refused;
      if (started >= this.windowStart && started < this.windowEnd && count > refused) {
        recordLatencyUs(stats.histogram, (ended - started) * US_PER_MS, count - refused);
      }
      if (ended >= this.windowStart && ended < this.windowEnd) stats.count += count - refused;
      return value;
    } catch (error) {
      this.answers += count;
      this.errorCount += count;
      const code = error instanceof InventoryError ? error.code : 'CLIENT_ERROR';
      stats.errors.set(code, (stats.errors.get(code) ?? 0) + count);
      if (FATAL_CODES.has(code) || !(error instanceof InventoryError)) throw error;
      return undefined;
    }
  }

  /**
   * Awaits one request and records it. Resolves undefined after an error answer; rethrows a
   * connection-level failure, which stops the lane.
   */
  async timed<T>(op: OpType, request: () => Promise<T>): Promise<T | undefined> {
    const started = performance.now();
    try {
      const value = await request();
      const ended = performance.now();
      this.answers++;
      const stats = this.stats.get(op)!;
      if (started >= this.windowStart && started < this.windowEnd) {
        recordLatencyUs(stats.histogram, (ended - started) * US_PER_MS);
      }
      if (ended >= this.windowStart && ended < this.windowEnd) stats.count++;
      return value;
    } catch (error) {
      this.answers++;
      this.errorCount++;
      const code = error instanceof InventoryError ? error.code : 'CLIENT_ERROR';
      const errors = this.stats.get(op)!.errors;
      errors.set(code, (errors.get(code) ?? 0) + 1);
      if (FATAL_CODES.has(code) || !(error instanceof InventoryError)) throw error;
      return undefined;
    }
  }
}

/**
 * One connection's generators, shared by its lanes (one thread, so no races): per-lane Zipf
 * tables would cost megabytes per lane for no gain in realism.
 */
interface LaneSources {
  prng: Prng;
  orders: OrderSource;
  queries: QueryPool;
  orderIds: OrderIds;
}

/**
 * Queries each connection draws before the run and sends in turn (QueryPool): with 4
 * connections, 65,536 distinct queries, about 4 MB per connection.
 */
const QUERY_POOL_SIZE = 16_384;

/** Connections per process are bounded by this, so stream numbers never overlap. */
export const CONNECTIONS_PER_PROCESS_MAX = 4_096;

function laneSources(dataset: Dataset, config: WsRunConfig, connection: number): LaneSources {
  const stream = config.stream * CONNECTIONS_PER_PROCESS_MAX + connection;
  return {
    prng: new Prng(config.dataset.seed, stream),
    orders: new OrderSource(dataset, config.mix, stream),
    queries: new QueryPool(
      new QuerySource(dataset, config.skusPerQuery, config.mix.zipfExponent, stream),
      config.availabilityShare > 0 ? QUERY_POOL_SIZE : 1,
      config.breakdown,
    ),
    orderIds: new OrderIds(config.runId, stream),
  };
}

async function placeOne(
  state: RunState,
  client: InventoryClient,
  dataset: Dataset,
  sources: LaneSources,
): Promise<void> {
  const config = state.config;
  const hold = config.holdShare > 0 && sources.prng.chance(config.holdShare);
  const location = config.customerLocations ? sources.queries.location() : undefined;
  const args = placeOrderArgs(
    dataset,
    sources.orders.next(),
    sources.orderIds.next(),
    hold ? 'hold' : 'commit',
    location,
  );
  if (hold) args.ttlSeconds = HOLD_TTL_SECONDS;
  const placed = await state.timed(hold ? 'hold' : 'order', () => client.placeOrder(args));
  if (placed === undefined) return;
  const units = unitsOf(placed.order.allocation);
  state.unitsPlaced += units;
  const orderId = args.orderId;
  if (hold) {
    if (!state.claim()) return;
    const confirmed = await state.timed('confirm', () => client.confirm({ orderId }));
    if (confirmed === undefined) return;
  }
  if (config.fulfilShare > 0 && sources.prng.chance(config.fulfilShare) && state.claim()) {
    const fulfilled = await state.timed('fulfil', () => client.fulfil({ orderId }));
    if (fulfilled !== undefined) state.unitsFulfilled += units;
  }
}

function unitsOf(allocation: readonly { qty: number }[]): number {
  let units = 0;
  for (const line of allocation) units += line.qty;
  return units;
}

/** Counts a batch's refused orders by code; returns how many were refused. */
function orderRefusals(result: OrderBatchResult, into: Map<string, number>): number {
  for (let at = 0; at < result.count; at++) {
    if (!result.refused(at)) continue;
    const code = result.error(at)?.code ?? 'REFUSED';
    into.set(code, (into.get(code) ?? 0) + 1);
  }
  return result.refusedCount;
}

function queryRefusals(result: AvailabilityBatchResult, into: Map<string, number>): number {
  for (let query = 0; query < result.count; query++) {
    const code = result.error(query)?.code;
    if (code !== undefined) into.set(code, (into.get(code) ?? 0) + 1);
  }
  return result.refusedCount;
}

/** A lane of the batch API: each request is `batch` orders or `batch` queries. */
async function runBatchLane(
  state: RunState,
  client: InventoryClient,
  dataset: Dataset,
  sources: LaneSources,
): Promise<void> {
  const config = state.config;
  const size = config.batch;
  const share = config.availabilityShare;
  while (state.claim(size)) {
    if (share > 0 && (share >= 1 || sources.prng.chance(share))) {
      const queries = new Array(size);
      for (let at = 0; at < size; at++) queries[at] = sources.queries.next();
      await state.timedBatch(
        'availability',
        size,
        () => client.availabilityMany(queries, { breakdown: config.breakdown }),
        queryRefusals,
      );
      continue;
    }
    const orders = new Array(size);
    for (let at = 0; at < size; at++) {
      const location = config.customerLocations ? sources.queries.location() : undefined;
      orders[at] = placeOrderArgs(
        dataset,
        sources.orders.next(),
        sources.orderIds.next(),
        'commit',
        location,
      );
    }
    const placed = await state.timedBatch(
      'order',
      size,
      () => client.placeOrders(orders),
      orderRefusals,
    );
    if (placed === undefined) continue;
    for (let at = 0; at < placed.count; at++) {
      if (placed.refused(at)) continue;
      const start = placed.allocationStart(at);
      for (let entry = start; entry < start + placed.allocationCount(at); entry++) {
        state.unitsPlaced += placed.allocationQty(entry);
      }
    }
  }
}

async function runLane(
  state: RunState,
  client: InventoryClient,
  dataset: Dataset,
  sources: LaneSources,
): Promise<void> {
  if (state.config.batch > 0) {
    await runBatchLane(state, client, dataset, sources);
    return;
  }
  const share = state.config.availabilityShare;
  while (state.claim()) {
    if (share > 0 && (share >= 1 || sources.prng.chance(share))) {
      const args = sources.queries.next();
      await state.timed('availability', () => client.availability(args));
    } else {
      await placeOne(state, client, dataset, sources);
    }
  }
}

function resultOf(state: RunState): WsRunResult {
  const ops = {} as Record<OpType, OpResult>;
  for (const [op, stats] of state.stats) {
    ops[op] = {
      count: stats.count,
      errors: Object.fromEntries(stats.errors),
      histogram: encodeHistogram(stats.histogram),
    };
  }
  const measuredMs = Math.max(0, Math.min(performance.now(), state.windowEnd) - state.windowStart);
  return {
    stream: state.config.stream,
    measuredMs,
    ops,
    unitsPlaced: state.unitsPlaced,
    unitsFulfilled: state.unitsFulfilled,
  };
}

export interface RunControl {
  /** Called about once a second while the run is going. */
  onProgress?: (progress: Progress) => void;
  /** Resolves when the lanes may start (lets several processes start together). */
  startSignal?: Promise<void>;
  /** Called once every connection is open, before waiting for `startSignal`. */
  onReady?: () => void;
}

export async function runWsLoad(config: WsRunConfig, control: RunControl = {}) {
  const dataset = buildDataset(config.dataset);
  const state = new RunState(config);
  const clients: InventoryClient[] = [];
  try {
    for (let index = 0; index < config.connections; index++) {
      clients.push(
        await InventoryClient.connect(config.wsUrl, {
          apiKey: config.apiKey,
          timeoutMs: config.timeoutMs,
          reconnect: false,
          inFlightMax: config.window,
        }),
      );
    }
    control.onReady?.();
    if (control.startSignal !== undefined) await control.startSignal;
    return await driveLanes(state, clients, dataset, control);
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
  }
}

async function driveLanes(
  state: RunState,
  clients: InventoryClient[],
  dataset: Dataset,
  control: RunControl,
): Promise<WsRunResult> {
  const config = state.config;
  const begun = performance.now();
  state.windowStart = begun + config.warmupMs;
  state.windowEnd = state.windowStart + config.durationMs;
  let reported = 0;
  let reportedErrors = 0;
  const progress = setInterval(() => {
    control.onProgress?.({
      stream: config.stream,
      answers: state.answers - reported,
      errors: state.errorCount - reportedErrors,
    });
    reported = state.answers;
    reportedErrors = state.errorCount;
  }, PROGRESS_INTERVAL_MS);
  const stopTimer = setTimeout(() => {
    state.running = false;
  }, config.warmupMs + config.durationMs);
  const lanes: Promise<void>[] = [];
  for (let connection = 0; connection < clients.length; connection++) {
    const sources = laneSources(dataset, config, connection);
    const laneCount =
      config.batch > 0 ? Math.max(1, Math.floor(config.window / config.batch)) : config.window;
    for (let slot = 0; slot < laneCount; slot++) {
      lanes.push(runLane(state, clients[connection], dataset, sources));
    }
  }
  let drainTimer: NodeJS.Timeout | undefined;
  const allLanes = await Promise.race([
    Promise.allSettled(lanes),
    new Promise<null>((done) => {
      drainTimer = setTimeout(done, config.warmupMs + config.durationMs + DRAIN_MS_MAX, null);
    }),
  ]);
  clearTimeout(drainTimer);
  clearTimeout(stopTimer);
  clearInterval(progress);
  state.running = false;
  // The count budget can end the run before the clock does: the window ends there.
  state.windowEnd = Math.min(state.windowEnd, performance.now());
  if (allLanes === null) throw new Error('lanes did not finish within the drain time');
  const failed = allLanes.find((lane) => lane.status === 'rejected');
  if (failed !== undefined && failed.status === 'rejected' && state.answers === 0) {
    throw failed.reason;
  }
  return resultOf(state);
}
