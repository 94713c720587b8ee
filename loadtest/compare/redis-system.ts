/**
 * Redis in the comparison, driven the way its Node users drive it: ioredis with auto-pipelining
 * (commands issued in the same event-loop turn share one write), and the logic in Lua scripts
 * registered with `defineCommand`, which ioredis sends as EVALSHA (EVAL once per connection,
 * the first time, to load the script).
 *
 * - Orders: the textbook all-or-nothing reservation, one script that checks every line's
 *   counter and, only if all have enough, DECRBYs them all.
 * - Availability: the textbook geo query, one script that finds the DCs near the customer with
 *   GEOSEARCH (FROMLONLAT, BYRADIUS the largest delivery radius, WITHDIST), keeps those whose
 *   own delivery radius reaches the customer, and MGETs those DCs' counters of the queried
 *   SKUs; it answers per-SKU totals and per-DC counts.
 *
 * Keys: `stock:<dc>:<sku>` (units available), `dcs:geo` (DC locations), `dcs:radius-km` (a
 * hash: DC → delivery radius in km). Invariants: a script runs atomically, so an order takes
 * all its lines or none and a counter never goes below zero; the availability script reads
 * counters named from what GEOSEARCH found, which one Redis allows (a cluster would not).
 */

import { Redis, type RedisOptions } from 'ioredis';
import type { AvailabilityArgs } from '../../protocol/client/index.js';
import type { Dataset } from '../workload.js';
import { searchRadiusKm } from './dataset.js';
import { type AppendFsync, type Say, type StartedServer, startRedis } from './servers.js';
import {
  type AvailabilityClients,
  closeAll,
  type PlaceOrder,
  type SkuAnswer,
  type SystemUnderTest,
} from './systems.js';

/** Keys per MSET while loading. */
const LOAD_BATCH_KEYS = 1_000;
const CONNECT_MS_MAX = 10_000;
export const REDIS_GEO_KEY = 'dcs:geo';
export const REDIS_RADIUS_KEY = 'dcs:radius-km';

/**
 * The textbook all-or-nothing reservation: check every key, then DECRBY them all.
 * KEYS: the lines' counters; ARGV: their quantities. Returns 0 when taken, else the 1-based
 * index of the first short line.
 */
export const REDIS_ORDER_SCRIPT = `
for i = 1, #KEYS do
  local available = tonumber(redis.call('GET', KEYS[i]) or '0')
  if available < tonumber(ARGV[i]) then return i end
end
for i = 1, #KEYS do
  redis.call('DECRBY', KEYS[i], ARGV[i])
end
return 0
`;

/**
 * Availability near a location. KEYS[1]: the DCs' geo set; KEYS[2]: the DCs' radius hash.
 * ARGV: longitude, latitude, search radius in km, then the SKU ids. Returns { totals per SKU,
 * DC ids in range (nearest first), counts } where counts holds, DC after DC, the units of each
 * SKU at that DC. Totals add only positive counts, as the engine's do.
 */
export const REDIS_AVAILABILITY_SCRIPT = `
local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
  'BYRADIUS', ARGV[3], 'km', 'ASC', 'WITHDIST')
local skuCount = #ARGV - 3
local totals = {}
for s = 1, skuCount do totals[s] = 0 end
local dcs = {}
local counts = {}
if #found == 0 then return {totals, dcs, counts} end
local names = {}
for i = 1, #found do names[i] = found[i][1] end
local radii = redis.call('HMGET', KEYS[2], unpack(names))
local keys = {}
for i = 1, #found do
  if tonumber(found[i][2]) <= tonumber(radii[i]) then
    local dc = names[i]
    for s = 1, skuCount do keys[s] = 'stock:' .. dc .. ':' .. ARGV[s + 3] end
    local values = redis.call('MGET', unpack(keys))
    dcs[#dcs + 1] = dc
    for s = 1, skuCount do
      local units = tonumber(values[s]) or 0
      counts[#counts + 1] = units
      if units > 0 then totals[s] = totals[s] + units end
    end
  end
end
return {totals, dcs, counts}
`;

export type RedisAvailabilityReply = [number[], string[], number[]];

/** An ioredis client with the comparison's two scripts defined on it. */
interface StockRedis extends Redis {
  takeStock(keyCount: number, ...keysThenQuantities: (string | number)[]): Promise<number>;
  availableNearby(...keysThenArgs: (string | number)[]): Promise<RedisAvailabilityReply>;
}

export function redisStockKey(dc: string, sku: string): string {
  return `stock:${dc}:${sku}`;
}

/** Every option that matters passed explicitly (ioredis 6's defaults noted where kept). */
function clientOptions(server: StartedServer): RedisOptions {
  return {
    host: server.host,
    port: server.port,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: [],
    // RESP3, ioredis 6's default; the replies used here read the same in RESP2.
    protocol: 3,
    lazyConnect: true,
    connectTimeout: CONNECT_MS_MAX,
    enableReadyCheck: true,
    // A lost connection fails the run's calls; reconnecting mid-run would hide it.
    retryStrategy: null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    noDelay: true,
    // No per-command timer (what most users run with): the driver bounds every run instead.
    commandTimeout: undefined,
  };
}

async function connectRedis(server: StartedServer): Promise<StockRedis> {
  const client = new Redis(clientOptions(server)) as StockRedis;
  client.defineCommand('takeStock', { lua: REDIS_ORDER_SCRIPT });
  client.defineCommand('availableNearby', { lua: REDIS_AVAILABILITY_SCRIPT, numberOfKeys: 2 });
  // Failures reach the calls as rejections; the listener keeps ioredis from logging them too.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw error;
  }
  return client;
}

/** QUIT after the replies already asked for; a client whose connection is gone just drops. */
async function closeRedis(client: Redis): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

async function connectMany(server: StartedServer, count: number): Promise<StockRedis[]> {
  const clients: StockRedis[] = [];
  try {
    for (let index = 0; index < count; index++) clients.push(await connectRedis(server));
  } catch (error) {
    await closeAll(clients.map((client) => () => closeRedis(client)));
    throw error;
  }
  return clients;
}

/** Stock in every cell, then the DCs' locations and delivery radii. */
async function loadRedis(client: Redis, dataset: Dataset): Promise<void> {
  const radii: Record<string, number> = {};
  for (const dc of dataset.dcs) {
    if (dc.radiusKm === undefined) throw new Error(`${dc.id} has no delivery radius`);
    radii[dc.id] = dc.radiusKm;
  }
  const stock = dataset.options.stockPerCell;
  const pending: Promise<unknown>[] = [];
  let batch: (string | number)[] = [];
  for (const dc of dataset.dcs) {
    for (const sku of dataset.skus) {
      batch.push(redisStockKey(dc.id, sku.id), stock);
      if (batch.length >= LOAD_BATCH_KEYS * 2) {
        pending.push(client.mset(...batch));
        batch = [];
      }
    }
  }
  if (batch.length > 0) pending.push(client.mset(...batch));
  for (const dc of dataset.dcs) {
    pending.push(client.geoadd(REDIS_GEO_KEY, dc.location.lng, dc.location.lat, dc.id));
  }
  pending.push(client.hset(REDIS_RADIUS_KEY, radii));
  await Promise.all(pending);
}

/** A Redis availability reply as one answer per SKU (DCs with units only). */
export function redisAnswer(skuCount: number, reply: RedisAvailabilityReply): SkuAnswer[] {
  const [totals, dcs, counts] = reply;
  const answers: SkuAnswer[] = [];
  for (let sku = 0; sku < skuCount; sku++) {
    const perDc: Record<string, number> = {};
    for (let dc = 0; dc < dcs.length; dc++) {
      const units = Number(counts[dc * skuCount + sku]);
      if (units > 0) perDc[dcs[dc]] = units;
    }
    answers.push({ total: Number(totals[sku]), dcs: perDc });
  }
  return answers;
}

export async function startRedisSystem(
  dataset: Dataset,
  appendfsync: AppendFsync,
  say: Say,
): Promise<SystemUnderTest> {
  const server = await startRedis(appendfsync, say);
  try {
    const loader = await connectRedis(server);
    await loadRedis(loader, dataset).finally(() => closeRedis(loader));
  } catch (error) {
    await server.stop();
    throw error;
  }
  const searchKm = searchRadiusKm(dataset);
  const nearby = (client: StockRedis, args: AvailabilityArgs) =>
    client.availableNearby(
      REDIS_GEO_KEY,
      REDIS_RADIUS_KEY,
      args.lng,
      args.lat,
      searchKm,
      ...args.skus,
    );
  const durability =
    appendfsync === 'always'
      ? 'answered after the AOF write is fsynced (per event-loop batch): survives a power loss'
      : 'AOF written before answering, fsynced every second: survives a process crash, ' +
        'a power loss may lose about a second';
  return {
    key: `redis-${appendfsync}`,
    name: `redis + Lua (appendfsync ${appendfsync})`,
    durability,
    pid: server.pid,
    settings: {
      ...server.settings,
      client: 'ioredis, enableAutoPipelining, scripts by defineCommand (EVALSHA)',
    },
    async openOrders(_buyers, connections) {
      const clients = await connectMany(server, connections);
      const place = clients.map(
        (client): PlaceOrder =>
          (draw) => {
            const dc = dataset.dcs[draw.dcIndex].id;
            const lines = draw.skuIndexes.length;
            const args: (string | number)[] = new Array(lines * 2);
            for (let line = 0; line < lines; line++) {
              args[line] = redisStockKey(dc, dataset.skus[draw.skuIndexes[line]].id);
              args[lines + line] = draw.quantities[line];
            }
            return client.takeStock(lines, ...args).then((shortLine) => shortLine === 0);
          },
      );
      return { place, close: () => closeAll(clients.map((client) => () => closeRedis(client))) };
    },
    async openAvailability(connections): Promise<AvailabilityClients> {
      const clients = await connectMany(server, connections);
      return {
        query: clients.map((client) => (args: AvailabilityArgs) => nearby(client, args)),
        answer: async (args) => redisAnswer(args.skus.length, await nearby(clients[0], args)),
        close: () => closeAll(clients.map((client) => () => closeRedis(client))),
      };
    },
    async readAvailable(dc, sku) {
      const client = await connectRedis(server);
      try {
        return Number(await client.get(redisStockKey(dc, sku)));
      } finally {
        await closeRedis(client);
      }
    },
    stop: () => server.stop(),
  };
}
