/**
 * The three systems of the comparison, each behind the same small interface: load the
 * dataset (same DCs, same SKUs, same stock), open connections, place one all-or-nothing
 * order. An order is the same draw everywhere: a DC, distinct SKUs sorted by index, and a
 * quantity per line.
 *
 * - engine: a node started by the script, orders over WebSocket through the SDK (`commit`,
 *   unique order ids, placed at the DC's own location so that DC is the one allocated).
 * - redis: the textbook design, one Lua script that checks every line's key and, only if all
 *   have enough, DECRBYs them all; called with EVALSHA, pipelined per connection.
 * - postgresql: one transaction per order: BEGIN, a conditional UPDATE per line
 *   (`qty = qty - $3 WHERE dc = $1 AND sku = $2 AND qty >= $3`), COMMIT if every line
 *   updated a row, else ROLLBACK. BEGIN and the UPDATEs go in one round trip, COMMIT or
 *   ROLLBACK in a second (a PostgreSQL connection runs one transaction at a time).
 *
 * Invariants: `place` resolves true for an accepted order and false for a refusal for stock,
 * and rejects for anything else; lines are locked in one global order (sorted SKUs of one DC),
 * so PostgreSQL never deadlocks on this workload.
 */

import { InventoryClient, InventoryError } from '../../protocol/client/index.js';
import { startNodeProcess } from '../node-process.js';
import { provisionDataset } from '../provision.js';
import { type Dataset, OrderIds, type OrderDraw, placeOrderArgs } from '../workload.js';
import { PgClient, type PgResult, type PgStep } from './pg-wire.js';
import { RespClient } from './resp.js';
import { type AppendFsync, type Say, startPostgres, startRedis } from './servers.js';

/** Rows per INSERT while loading PostgreSQL, and keys per MSET while loading Redis. */
const LOAD_BATCH_ROWS = 1_000;
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
const CALL_TIMEOUT_MS = 60_000;
/**
 * The engine's refusals for stock: OUT_OF_STOCK, and NOT_IN_ONE_DC (every line is in stock
 * nearby but no single DC has them all), which the textbook designs cannot meet because they
 * never look past the DC the client chose.
 */
const STOCK_REFUSALS: ReadonlySet<string> = new Set(['OUT_OF_STOCK', 'NOT_IN_ONE_DC']);

export interface OrderConnection {
  /** True: accepted, stock taken. False: refused for stock, nothing taken. */
  place(draw: OrderDraw): Promise<boolean>;
  close(): Promise<void>;
}

export interface SystemUnderTest {
  key: string;
  name: string;
  /** What an acknowledged order survives, in words. */
  durability: string;
  pid: number;
  settings: Record<string, string>;
  /** Opens `count` connections; the driver decides how many orders each carries at once. */
  connect(count: number): Promise<OrderConnection[]>;
  /** Units of a SKU still available at a DC (for the conservation check). */
  readAvailable(dc: string, sku: string): Promise<number>;
  stop(): Promise<void>;
}

export type EngineFsync = 'fsync' | 'commit';

const ENGINE_DURABILITY: Record<EngineFsync, string> = {
  fsync: 'answered after the log record is fsynced (group commit): survives a power loss',
  commit: 'answered after the LMDB commit, fsync left to the OS: survives a process crash',
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
    const admin = await InventoryClient.connect(node.wsUrl, {
      apiKey: node.keys.admin,
      timeoutMs: CALL_TIMEOUT_MS,
      reconnect: false,
    });
    await provisionDataset(admin, dataset).finally(() => admin.close());
  } catch (error) {
    await node.stop();
    throw error;
  }
  let streams = 0;
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
    async connect(count) {
      const connections: OrderConnection[] = [];
      for (let index = 0; index < count; index++) {
        const client = await InventoryClient.connect(node.wsUrl, {
          apiKey: node.keys.orderer,
          timeoutMs: CALL_TIMEOUT_MS,
          reconnect: false,
        });
        const ids = new OrderIds(runId, streams++);
        connections.push({
          place: async (draw) => {
            try {
              await client.placeOrder(placeOrderArgs(dataset, draw, ids.next(), 'commit'));
              return true;
            } catch (error) {
              if (error instanceof InventoryError && STOCK_REFUSALS.has(error.code)) return false;
              throw error;
            }
          },
          close: () => client.close(),
        });
      }
      return connections;
    },
    async readAvailable(dc, sku) {
      const client = await InventoryClient.connect(node.wsUrl, {
        apiKey: node.keys.reader,
        timeoutMs: CALL_TIMEOUT_MS,
        reconnect: false,
      });
      try {
        return (await client.getStock({ dc, sku })).stock.available;
      } finally {
        await client.close();
      }
    },
    stop: () => node.stop(),
  };
}

/**
 * The textbook all-or-nothing reservation in Redis: check every key, then DECRBY them all.
 * Returns 0 when taken, else the 1-based index of the first short line.
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

export function redisStockKey(dc: string, sku: string): string {
  return `stock:${dc}:${sku}`;
}

async function loadRedis(client: RespClient, dataset: Dataset): Promise<string> {
  const stock = String(dataset.options.stockPerCell);
  let batch: string[] = ['MSET'];
  const pending: Promise<unknown>[] = [];
  for (const dc of dataset.dcs) {
    for (const sku of dataset.skus) {
      batch.push(redisStockKey(dc.id, sku.id), stock);
      if (batch.length > LOAD_BATCH_ROWS * 2) {
        pending.push(client.call(batch));
        batch = ['MSET'];
      }
    }
  }
  if (batch.length > 1) pending.push(client.call(batch));
  await Promise.all(pending);
  const sha = await client.call(['SCRIPT', 'LOAD', REDIS_ORDER_SCRIPT]);
  if (typeof sha !== 'string') throw new Error('SCRIPT LOAD did not answer a SHA');
  return sha;
}

export async function startRedisSystem(
  dataset: Dataset,
  appendfsync: AppendFsync,
  say: Say,
): Promise<SystemUnderTest> {
  const server = await startRedis(appendfsync, say);
  let sha: string;
  try {
    const loader = await RespClient.connect(server.host, server.port);
    sha = await loadRedis(loader, dataset).finally(() => loader.close());
  } catch (error) {
    await server.stop();
    throw error;
  }
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
    settings: server.settings,
    async connect(count) {
      const connections: OrderConnection[] = [];
      for (let index = 0; index < count; index++) {
        const client = await RespClient.connect(server.host, server.port);
        connections.push({
          place: async (draw) => {
            const lines = draw.skuIndexes.length;
            const args: (string | number)[] = ['EVALSHA', sha, lines];
            const dc = dataset.dcs[draw.dcIndex].id;
            for (const sku of draw.skuIndexes) args.push(redisStockKey(dc, dataset.skus[sku].id));
            for (const qty of draw.quantities) args.push(qty);
            return (await client.call(args)) === 0;
          },
          close: () => client.close(),
        });
      }
      return connections;
    },
    async readAvailable(dc, sku) {
      const client = await RespClient.connect(server.host, server.port);
      try {
        return Number(await client.call(['GET', redisStockKey(dc, sku)]));
      } finally {
        await client.close();
      }
    },
    stop: () => server.stop(),
  };
}

const PG_SCHEMA = `
CREATE TABLE stock (
  dc text NOT NULL,
  sku text NOT NULL,
  qty integer NOT NULL CHECK (qty >= 0),
  PRIMARY KEY (dc, sku)
)`;
const PG_TAKE = 'UPDATE stock SET qty = qty - $3 WHERE dc = $1 AND sku = $2 AND qty >= $3';

function sqlText(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

async function loadPostgres(client: PgClient, dataset: Dataset): Promise<void> {
  await client.query(PG_SCHEMA);
  const stock = dataset.options.stockPerCell;
  let rows: string[] = [];
  const flush = async () => {
    if (rows.length === 0) return;
    await client.query(`INSERT INTO stock (dc, sku, qty) VALUES ${rows.join(',')}`);
    rows = [];
  };
  for (const dc of dataset.dcs) {
    for (const sku of dataset.skus) {
      rows.push(`(${sqlText(dc.id)},${sqlText(sku.id)},${stock})`);
      if (rows.length >= LOAD_BATCH_ROWS) await flush();
    }
  }
  await flush();
  await client.query('VACUUM ANALYZE stock');
}

/**
 * One PostgreSQL connection as an OrderConnection. A connection runs one transaction at a
 * time, so orders on it queue here (as they would in a pool) and never interleave.
 */
async function postgresConnection(client: PgClient, dataset: Dataset): Promise<OrderConnection> {
  await client.prepare('begin', 'BEGIN');
  await client.prepare('commit', 'COMMIT');
  await client.prepare('rollback', 'ROLLBACK');
  await client.prepare('take', PG_TAKE, [25, 25, 23]);
  const begin: PgStep = { statement: 'begin', params: [] };
  const rollback: PgStep = { statement: 'rollback', params: [] };
  const transaction = async (draw: OrderDraw): Promise<boolean> => {
    const dc = dataset.dcs[draw.dcIndex].id;
    const steps: PgStep[] = [begin];
    for (let line = 0; line < draw.skuIndexes.length; line++) {
      const sku = dataset.skus[draw.skuIndexes[line]].id;
      steps.push({ statement: 'take', params: [dc, sku, String(draw.quantities[line])] });
    }
    let results: PgResult[];
    try {
      results = await client.execute(steps);
    } catch (error) {
      if (client.transactionStatus !== 'I') await client.execute([rollback]);
      throw error;
    }
    const taken = results.slice(1).every((result) => result.rowCount === 1);
    await client.execute([taken ? { statement: 'commit', params: [] } : rollback]);
    return taken;
  };
  let queue: Promise<unknown> = Promise.resolve();
  return {
    place: (draw) => {
      // The draw object is reused by its source: copy it before waiting for the connection.
      const own = {
        dcIndex: draw.dcIndex,
        skuIndexes: [...draw.skuIndexes],
        quantities: [...draw.quantities],
      };
      const turn = queue.then(() => transaction(own));
      queue = turn.catch(() => {});
      return turn;
    },
    close: () => client.close(),
  };
}

export async function startPostgresSystem(
  dataset: Dataset,
  connectionsMax: number,
  say: Say,
): Promise<SystemUnderTest> {
  const server = await startPostgres({ maxConnections: connectionsMax + 10 }, say);
  const options = { host: server.host, port: server.port, user: 'postgres', database: 'postgres' };
  try {
    const loader = await PgClient.connect(options);
    await loadPostgres(loader, dataset).finally(() => loader.close());
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    key: 'postgres',
    name: `${server.name} (one transaction per order)`,
    durability:
      'answered after COMMIT with synchronous_commit on: WAL fsynced, survives a power loss',
    pid: server.pid,
    settings: server.settings,
    async connect(count) {
      const connections: OrderConnection[] = [];
      for (let index = 0; index < count; index++) {
        connections.push(await postgresConnection(await PgClient.connect(options), dataset));
      }
      return connections;
    },
    async readAvailable(dc, sku) {
      const client = await PgClient.connect(options);
      try {
        const [result] = await client.query(
          `SELECT qty FROM stock WHERE dc = ${sqlText(dc)} AND sku = ${sqlText(sku)}`,
        );
        return Number(result.rows[0]?.[0] ?? Number.NaN);
      } finally {
        await client.close();
      }
    },
    stop: () => server.stop(),
  };
}
