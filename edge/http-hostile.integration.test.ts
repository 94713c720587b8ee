/**
 * HTTP clients that behave as load testers and broken peers do: autocannon with pipelining run
 * twice (its connections go away with answers in flight when each run ends), and hundreds of
 * raw connections that pipeline reads, holds, bad and unfinished bodies, then reset mid-answer.
 * The node must survive all of it and keep answering correctly: uWS aborts the whole process
 * when a route callback returns with its request neither answered nor given an abort handler.
 */

import { connect, type Socket } from 'node:net';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';
import {
  type HostileHttpConnection,
  type HttpStormTargets,
  hostileHttpConnection,
} from './testing/hostile.js';

const SEED = seedFromEnv();
const REPLAY = `replay with ${describeSeed(SEED)}`;

// A network of its own, far from the demo city: every DC covers HERE, so an availability answer
// for 20 SKUs lists 6 DCs per SKU (about 7 KiB, as the demo's do). Two such answers fill most of
// uWS's 16 KiB cork buffer and the third overflows it, the condition under which uWS 20.30 can
// fail to write an answer whole when the client is slow to read.
const HERE = { lat: 38.7223, lng: -9.1393 };
const DCS = 6;
const SKUS = 40;
const UNITS_PER_CELL = 1_000;
const QUERY_SKUS = 20;
const ORDER_SKU = 'storm-orders';
/** Enough for every hold the storm can place (each takes one unit). */
const ORDER_SKU_UNITS = 100_000;

/** autocannon, as a load tester runs it: 64 connections, 4 requests pipelined on each. */
const LOAD_CONNECTIONS = 64;
const LOAD_PIPELINING = 4;
const LOAD_SECONDS = 2;
const LOAD_REQUESTS_MAX = 200_000;
const LOAD_RUNS = 2;

/** The raw storm: connections in all, at once, and how long one may live. */
const STORM_CONNECTIONS = 300;
const STORM_PARALLELISM = 150;
const STORM_CONNECTION_MS_MAX = 1_500;

let test: TestNode;
let port: number;
let availabilityPath: string;
/** The answer to `availabilityPath` before any load, as text: every later one must equal it. */
let expectedAvailability: string;

function skuId(index: number): string {
  return `storm-${String(index).padStart(2, '0')}`;
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>) {
  for (let start = 0; start < items.length; start += size) {
    await Promise.all(items.slice(start, start + size).map(run));
  }
}

beforeAll(async () => {
  test = await startTestNode();
  port = test.node.port;
  const admin = async (path: string, json: unknown, method: string) => {
    const answer = await http(port, path, { method, json, key: test.keys.admin });
    expect(answer.status, `${method} ${path}: ${answer.text}`).toBeLessThan(300);
  };
  const dcs = Array.from({ length: DCS }, (_, index) => `lis-${index}`);
  const skus = Array.from({ length: SKUS }, (_, index) => skuId(index));
  await inBatches(dcs, 8, (dc) =>
    admin(`/v1/dcs/${dc}`, { name: dc, location: HERE, radiusKm: 8, speedKmh: 20 }, 'PUT'),
  );
  await inBatches([...skus, ORDER_SKU], 16, (sku) =>
    admin(`/v1/skus/${sku}`, { name: sku, category: 'storm' }, 'PUT'),
  );
  const receipts = dcs.flatMap((dc) => skus.map((sku) => ({ dc, sku, qty: UNITS_PER_CELL })));
  receipts.push({ dc: dcs[0], sku: ORDER_SKU, qty: ORDER_SKU_UNITS });
  await inBatches(receipts, 32, (receipt) => admin('/v1/stock/receive', receipt, 'POST'));
  const query = skus.slice(0, QUERY_SKUS).join(',');
  availabilityPath = `/v1/availability?lat=${HERE.lat}&lng=${HERE.lng}&skus=${query}`;
  const first = await http(port, availabilityPath, { key: test.keys.reader });
  expect(first.status).toBe(200);
  expect(first.text.length).toBeGreaterThan(6 * 1024);
  expect(first.body.skus[skuId(0)].dcs).toHaveLength(DCS);
  expectedAvailability = first.text;
});

afterAll(async () => {
  await test?.stop();
});

/** The node answers health, readiness, the same availability as before, and a new hold. */
async function expectServing(orderId: string): Promise<void> {
  expect((await http(port, '/healthz')).status).toBe(200);
  const ready = await http(port, '/readyz');
  expect(ready.status).toBe(200);
  expect(ready.body.workersListening).toBe(2);
  // Several connections, so that both workers are asked.
  for (let attempt = 0; attempt < 8; attempt++) {
    const answer = await http(port, availabilityPath, { key: test.keys.reader });
    expect(answer.status).toBe(200);
    expect(answer.text).toBe(expectedAvailability);
  }
  const placed = await http(port, '/v1/orders', {
    key: test.keys.orderer,
    json: { orderId, location: HERE, lines: [{ sku: ORDER_SKU, qty: 1 }], mode: 'hold' },
  });
  expect(placed.status, placed.text).toBe(201);
  expect(placed.body.allocation).toEqual([{ sku: ORDER_SKU, dc: 'lis-0', qty: 1 }]);
}

/**
 * The load tester stops reading now and then (its own thread stalls, as one does on a busy
 * machine): the node's answers pile up in the socket while pipelined requests keep coming.
 */
const CLIENT_STALL_MS = 60;
const CLIENT_STALL_EVERY_MS = 250;

function stallNow(): void {
  const until = Date.now() + CLIENT_STALL_MS;
  while (Date.now() < until) {
    // Busy on purpose: nothing on this thread reads its sockets meanwhile.
  }
}

function loadRun(): Promise<autocannon.Result> {
  const stalls = setInterval(stallNow, CLIENT_STALL_EVERY_MS);
  return new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}${availabilityPath}`,
        connections: LOAD_CONNECTIONS,
        pipelining: LOAD_PIPELINING,
        duration: LOAD_SECONDS,
        maxOverallRequests: LOAD_REQUESTS_MAX,
        timeout: 10,
        headers: { authorization: `Bearer ${test.keys.reader}` },
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  }).finally(() => clearInterval(stalls));
}

/**
 * Runs one storm connection to its end: writes its requests, reads, and resets or closes it as
 * scripted. Resolves with the bytes it read; never rejects (errors are the point).
 */
function stormConnection(script: HostileHttpConnection): Promise<number> {
  return new Promise((done) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let received = 0;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (script.hard) socket.resetAndDestroy();
      else socket.destroy();
    };
    const deadline = setTimeout(end, STORM_CONNECTION_MS_MAX);
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      done(received);
    });
    socket.on('connect', () => {
      for (const bytes of script.writes) socket.write(bytes);
      if (script.resetAfterBytes === null) {
        // Never reads: the node's answers pile up until the socket cannot take more.
        socket.pause();
        setTimeout(end, script.resetAfterMs);
      }
    });
    if (script.resetAfterBytes !== null) {
      const after = script.resetAfterBytes;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > after) end();
      });
    }
  });
}

describe(`HTTP under hostile clients (${describeSeed(SEED)})`, () => {
  it('survives autocannon with pipelining, run twice, and still answers', async () => {
    for (let run = 0; run < LOAD_RUNS; run++) {
      const result = await loadRun();
      expect(result['2xx'], `run ${run}`).toBeGreaterThan(0);
      expect(result['5xx'], `run ${run}`).toBe(0);
      expect(result.non2xx, `run ${run}`).toBe(0);
    }
    await expectServing('after-autocannon');
  });

  it('survives hundreds of pipelining connections reset mid-answer', async () => {
    const prng = new Prng(SEED, 1);
    const targets: HttpStormTargets = {
      readerKey: test.keys.reader,
      ordererKey: test.keys.orderer,
      availabilityPath,
      location: HERE,
      orderSku: ORDER_SKU,
    };
    const scripts = Array.from({ length: STORM_CONNECTIONS }, () =>
      hostileHttpConnection(prng, targets),
    );
    let bytesRead = 0;
    await inBatches(scripts, STORM_PARALLELISM, async (script) => {
      bytesRead += await stormConnection(script);
    });
    // Answers did flow before the resets (the storm was not refused wholesale).
    expect(bytesRead, REPLAY).toBeGreaterThan(0);
    await expectServing('after-storm');
    // Every hold the storm placed took exactly one unit: none lost, none doubled.
    const stock = await http(port, `/v1/stock?dc=lis-0&sku=${ORDER_SKU}`, {
      key: test.keys.reader,
    });
    expect(stock.body.onHand, REPLAY).toBe(ORDER_SKU_UNITS);
    expect(stock.body.available + stock.body.reserved, REPLAY).toBe(ORDER_SKU_UNITS);
  });
});
