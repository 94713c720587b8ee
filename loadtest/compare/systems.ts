/**
 * The systems of the comparison, each behind the same small interface: load the dataset (same
 * DCs, same SKUs, same stock), open the clients for a number of concurrent buyers, place one
 * all-or-nothing order; and, for the engine and Redis, answer an availability query. An order
 * is the same draw everywhere: a DC, distinct SKUs sorted by index, and a quantity per line.
 *
 * This file holds the interface and the engine: a node started by the script, driven through
 * its SDK over WebSocket (`commit` orders with unique order ids, placed at the DC's own
 * location so that DC is the one allocated; `availability` with the per-DC breakdown).
 * Redis (ioredis) is in redis-system.ts, PostgreSQL (pg) in postgres-system.ts.
 *
 * Invariants: a place function resolves true for an accepted order and false for a refusal
 * for stock, rejects for anything else, and reads the draw before its first await (the
 * driver's draw objects are reused); lines are locked in one global order (sorted SKUs of one
 * DC), so PostgreSQL never deadlocks on this workload.
 */

import {
  type AvailabilityArgs,
  type AvailabilityResult,
  InventoryClient,
  InventoryError,
} from '../../protocol/client/index.js';
import { startNodeProcess } from '../node-process.js';
import { provisionAt } from '../provision.js';
import { type Dataset, OrderIds, type OrderDraw, placeOrderArgs } from '../workload.js';
import { AVAILABILITY_WINDOW_MINUTES } from './dataset.js';

/**
 * Order-table slots per order a run may place. Committed orders stay live, and the table's
 * 16-slot buckets start to overflow (CAPACITY_EXHAUSTED) when the mean bucket holds about 8;
 * at a quarter full the chance of any full bucket is negligible.
 */
const ENGINE_SLOTS_PER_ORDER = 4;
const ENGINE_ORDER_CAPACITY_MIN = 1 << 18;
const ENGINE_ORDER_CAPACITY_MAX = 1 << 24;

/** The smallest power-of-two order table that holds `ordersMax` committed orders safely. */
export function engineOrderCapacity(ordersMax: number): number {
  let capacity = ENGINE_ORDER_CAPACITY_MIN;
  while (capacity < ordersMax * ENGINE_SLOTS_PER_ORDER && capacity < ENGINE_ORDER_CAPACITY_MAX) {
    capacity *= 2;
  }
  return capacity;
}
/** Longest a call may wait for its answer, in every client of the comparison. */
export const CALL_TIMEOUT_MS = 60_000;
/**
 * The engine's refusals for stock: OUT_OF_STOCK, and NOT_IN_ONE_DC (every line is in stock
 * nearby but no single DC has them all), which the textbook designs cannot meet because they
 * never look past the DC the client chose.
 */
const STOCK_REFUSALS: ReadonlySet<string> = new Set(['OUT_OF_STOCK', 'NOT_IN_ONE_DC']);

/** True: accepted, stock taken. False: refused for stock, nothing taken. */
export type PlaceOrder = (draw: OrderDraw) => Promise<boolean>;

export interface OrderClients {
  /** Buyer i places its orders through `place[i % place.length]`. */
  place: PlaceOrder[];
  /** Waits for what was asked, then closes every connection. */
  close(): Promise<void>;
}

/** One SKU of an availability answer: units over the DCs in range, and per DC (DCs with units). */
export interface SkuAnswer {
  total: number;
  dcs: Record<string, number>;
}

export interface AvailabilityClients {
  /** For the load loop: one query, the answer as the system's own client returns it. */
  query: ((args: AvailabilityArgs) => Promise<unknown>)[];
  /** For the agreement check: one query, its answer per SKU in the query's order. */
  answer(args: AvailabilityArgs): Promise<SkuAnswer[]>;
  close(): Promise<void>;
}

export interface SystemUnderTest {
  key: string;
  name: string;
  /** What an acknowledged order survives, in words. */
  durability: string;
  pid: number;
  settings: Record<string, string>;
  /**
   * Clients for `buyers` concurrent buyers: the engine and Redis multiplex them over
   * `connections` connections; PostgreSQL runs one transaction per connection, so it opens a
   * pool of `buyers` connections.
   */
  openOrders(buyers: number, connections: number): Promise<OrderClients>;
  /** Clients for availability queries over `connections` connections (engine and Redis). */
  openAvailability?(connections: number): Promise<AvailabilityClients>;
  /** Units of a SKU still available at a DC (for the conservation check). */
  readAvailable(dc: string, sku: string): Promise<number>;
  stop(): Promise<void>;
}

/** Closes every client, waiting for all of them even when one fails. */
export async function closeAll(closers: readonly (() => Promise<unknown>)[]): Promise<void> {
  await Promise.allSettled(closers.map((close) => close()));
}

export type EngineFsync = 'fsync' | 'write';

const ENGINE_DURABILITY: Record<EngineFsync, string> = {
  fsync: 'answered after the log record is fsynced (group commit): survives a power loss',
  write: 'answered after the LMDB commit, fsync left to the OS: survives a process crash',
};

export async function startEngineSystem(
  dataset: Dataset,
  fsync: EngineFsync,
  threads: number,
  ordersMax: number,
  runId: string,
): Promise<SystemUnderTest> {
  const orderCapacity = engineOrderCapacity(ordersMax);
  const node = await startNodeProcess({
    threads,
    fsync,
    cpus: null,
    orderCapacity,
    extraArgs: ['--no-demo'],
  });
  try {
    await provisionAt(node.wsUrl, { apiKey: node.keys.admin, timeoutMs: CALL_TIMEOUT_MS }, dataset);
  } catch (error) {
    await node.stop();
    throw error;
  }
  let streams = 0;
  const connect = (apiKey: string) =>
    InventoryClient.connect(node.wsUrl, { apiKey, timeoutMs: CALL_TIMEOUT_MS, reconnect: false });
  const connectMany = async (apiKey: string, count: number) => {
    const clients: InventoryClient[] = [];
    try {
      for (let index = 0; index < count; index++) clients.push(await connect(apiKey));
    } catch (error) {
      await closeAll(clients.map((client) => () => client.close()));
      throw error;
    }
    return clients;
  };
  return {
    key: `engine-${fsync}`,
    name: `engine (--fsync ${fsync})`,
    durability: ENGINE_DURABILITY[fsync],
    pid: node.pid,
    settings: {
      fsync,
      threads: String(threads),
      orderCapacity: String(orderCapacity),
      transport: 'WebSocket, SDK batching',
    },
    async openOrders(_buyers, connections) {
      const clients = await connectMany(node.keys.orderer, connections);
      const place = clients.map((client): PlaceOrder => {
        const ids = new OrderIds(runId, streams++);
        return async (draw) => {
          try {
            await client.placeOrder(placeOrderArgs(dataset, draw, ids.next(), 'commit'));
            return true;
          } catch (error) {
            if (error instanceof InventoryError && STOCK_REFUSALS.has(error.code)) return false;
            throw error;
          }
        };
      });
      return { place, close: () => closeAll(clients.map((client) => () => client.close())) };
    },
    async openAvailability(connections) {
      const clients = await connectMany(node.keys.reader, connections);
      return {
        query: clients.map(
          (client) => (args: AvailabilityArgs) => client.availability(engineQuery(args)),
        ),
        answer: async (args) =>
          engineAnswer(args, await clients[0].availability(engineQuery(args))),
        close: () => closeAll(clients.map((client) => () => client.close())),
      };
    },
    async readAvailable(dc, sku) {
      const client = await connect(node.keys.reader);
      try {
        return (await client.getStock({ dc, sku })).stock.available;
      } finally {
        await client.close();
      }
    },
    stop: () => node.stop(),
  };
}

/** The engine's form of a query: every option passed, the per-DC breakdown asked for. */
function engineQuery(args: AvailabilityArgs): AvailabilityArgs {
  return {
    lat: args.lat,
    lng: args.lng,
    skus: args.skus,
    maxMinutes: AVAILABILITY_WINDOW_MINUTES,
    breakdown: true,
  };
}

function engineAnswer(args: AvailabilityArgs, result: AvailabilityResult): SkuAnswer[] {
  return args.skus.map((sku) => {
    const entry = result.skus[sku];
    const dcs: Record<string, number> = {};
    for (const dc of entry?.dcs ?? []) dcs[dc.dc] = dc.available;
    return { total: entry?.available ?? Number.NaN, dcs };
  });
}
