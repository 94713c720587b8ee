/**
 * PostgreSQL in the comparison, driven the way its Node users drive it: `pg` with a Pool sized
 * to the number of concurrent buyers (a connection runs one transaction at a time, so that is
 * the concurrency PostgreSQL gets), and one transaction per order as node-postgres documents
 * it: check a client out of the pool, BEGIN, one conditional UPDATE per line
 * (`qty = qty - $3 WHERE dc = $1 AND sku = $2 AND qty >= $3`, a named statement, so each
 * connection prepares it once), COMMIT if every line updated its row, else ROLLBACK at the
 * first line that did not; release the client.
 *
 * Invariants: all or nothing (a refused order's earlier lines are rolled back); a row never
 * goes below zero (the UPDATE's condition is checked on the row it locks, and a CHECK
 * constraint backs it); lines come sorted by SKU, so row locks are always taken in one order
 * and transactions never deadlock; a client whose ROLLBACK failed is destroyed, not reused.
 */

import pg from 'pg';
import type { Dataset } from '../workload.js';
import {
  POSTGRES_DATABASE,
  POSTGRES_USER,
  type Say,
  type StartedServer,
  startPostgres,
} from './servers.js';
import { CALL_TIMEOUT_MS, type PlaceOrder, type SystemUnderTest } from './systems.js';

const CONNECT_MS_MAX = 10_000;
/** Connections beyond the comparison's, for the loader and the checks. */
const CONNECTIONS_SPARE = 10;

const PG_SCHEMA = `
CREATE TABLE stock (
  dc text NOT NULL,
  sku text NOT NULL,
  qty integer NOT NULL CHECK (qty >= 0),
  PRIMARY KEY (dc, sku)
)`;
/** One DC's row for every SKU in one statement: the SKU ids as an array parameter. */
const PG_LOAD_DC =
  'INSERT INTO stock (dc, sku, qty) SELECT $1, sku, $3 FROM unnest($2::text[]) AS sku';
const PG_TAKE = 'UPDATE stock SET qty = qty - $3 WHERE dc = $1 AND sku = $2 AND qty >= $3';
/** The prepared statement's name: pg parses it once per connection, then only binds it. */
const PG_TAKE_NAME = 'take-stock';

function poolConfig(server: StartedServer, size: number): pg.PoolConfig {
  return {
    host: server.host,
    port: server.port,
    user: POSTGRES_USER,
    database: POSTGRES_DATABASE,
    max: size,
    // Keep every connection for the run: none is closed for being idle, none recycled.
    min: size,
    idleTimeoutMillis: 0,
    maxUses: Number.POSITIVE_INFINITY,
    connectionTimeoutMillis: CONNECT_MS_MAX,
    // The server's own bound on a statement (a lock wait included), so no call waits forever.
    statement_timeout: CALL_TIMEOUT_MS,
    allowExitOnIdle: false,
  };
}

/** A pool with all `size` connections open, so connecting is not part of any measurement. */
async function openPool(server: StartedServer, size: number): Promise<pg.Pool> {
  const pool = new pg.Pool(poolConfig(server, size));
  // An idle client's error (the server going away) reaches the next call; do not crash here.
  pool.on('error', () => {});
  const clients: pg.PoolClient[] = [];
  try {
    for (let index = 0; index < size; index++) clients.push(await pool.connect());
  } catch (error) {
    for (const client of clients) client.release();
    await pool.end();
    throw error;
  }
  for (const client of clients) client.release();
  return pool;
}

async function loadPostgres(pool: pg.Pool, dataset: Dataset): Promise<void> {
  await pool.query(PG_SCHEMA);
  const skus = dataset.skus.map((sku) => sku.id);
  for (const dc of dataset.dcs) {
    await pool.query(PG_LOAD_DC, [dc.id, skus, dataset.options.stockPerCell]);
  }
  await pool.query('VACUUM ANALYZE stock');
}

/** One order, one transaction: takes every line or none. */
async function placeOrder(
  pool: pg.Pool,
  dc: string,
  skus: readonly string[],
  quantities: readonly number[],
): Promise<boolean> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    for (let line = 0; line < skus.length; line++) {
      const result = await client.query({
        name: PG_TAKE_NAME,
        text: PG_TAKE,
        values: [dc, skus[line], quantities[line]],
      });
      if (result.rowCount !== 1) {
        await client.query('ROLLBACK');
        return false;
      }
    }
    await client.query('COMMIT');
    return true;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

export async function startPostgresSystem(
  dataset: Dataset,
  connectionsMax: number,
  say: Say,
): Promise<SystemUnderTest> {
  const server = await startPostgres({ maxConnections: connectionsMax + CONNECTIONS_SPARE }, say);
  try {
    const loader = await openPool(server, 1);
    await loadPostgres(loader, dataset).finally(() => loader.end());
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
    settings: { ...server.settings, client: 'pg, a Pool of one connection per buyer' },
    async openOrders(buyers) {
      const pool = await openPool(server, buyers);
      const place: PlaceOrder = (draw) => {
        // Read the draw now: it is reused by its source while this order waits for a client.
        const dc = dataset.dcs[draw.dcIndex].id;
        const skus = draw.skuIndexes.map((sku) => dataset.skus[sku].id);
        return placeOrder(pool, dc, skus, [...draw.quantities]);
      };
      return { place: [place], close: () => pool.end() };
    },
    async readAvailable(dc, sku) {
      const pool = await openPool(server, 1);
      try {
        const result = await pool.query<{ qty: number }>(
          'SELECT qty FROM stock WHERE dc = $1 AND sku = $2',
          [dc, sku],
        );
        return result.rows[0]?.qty ?? Number.NaN;
      } finally {
        await pool.end();
      }
    },
    stop: () => server.stop(),
  };
}
