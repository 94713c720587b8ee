import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_BODY_BYTES_MAX } from '../protocol/limits.js';
import { HTTP_LINGER_BYTES_MAX } from './http-limits.js';
import { http, startTestNode, type TestNode } from './testing/harness.js';

// A test network far from the demo city, so only the DCs made here serve its location.
const HERE = { lat: 48.8566, lng: 2.3522 };
const DC_A = { name: 'Paris Centre', location: HERE, radiusKm: 5, speedKmh: 20, prepMinutes: 5 };
const DC_B = {
  name: 'Paris Nord',
  location: { lat: 48.8966, lng: 2.3522 },
  radiusKm: 10,
  speedKmh: 20,
  prepMinutes: 5,
};

let test: TestNode;
let port: number;
let keys: TestNode['keys'];

async function admin(path: string, json: unknown, method = 'POST') {
  const answer = await http(port, path, { method, json, key: keys.admin });
  expect(answer.status, answer.text).toBeLessThan(300);
  return answer.body;
}

beforeAll(async () => {
  test = await startTestNode();
  port = test.node.port;
  keys = test.keys;
  await admin('/v1/dcs/paris-a', DC_A, 'PUT');
  await admin('/v1/dcs/paris-b', DC_B, 'PUT');
  await admin('/v1/skus/baguette', { name: 'Baguette', category: 'bakery' }, 'PUT');
  await admin('/v1/skus/cheese', { name: 'Comté 200 g', category: 'dairy', maxPerOrder: 5 }, 'PUT');
  await admin('/v1/stock/receive', { dc: 'paris-a', sku: 'baguette', qty: 10 });
  await admin('/v1/stock/receive', { dc: 'paris-b', sku: 'baguette', qty: 4 });
  await admin('/v1/stock/receive', { dc: 'paris-b', sku: 'cheese', qty: 3 });
});

afterAll(async () => {
  await test?.stop();
});

function order(orderId: string, lines: { sku: string; qty: number }[], extra: object = {}) {
  return { orderId, location: HERE, lines, mode: 'hold', ttlSeconds: 120, ...extra };
}

describe('HTTP health', () => {
  it('answers /healthz and /readyz without a key', async () => {
    expect((await http(port, '/healthz')).status).toBe(200);
    const ready = await http(port, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(ready.body.workersListening).toBe(2);
  });
});

describe('HTTP reads', () => {
  it('answers availability with totals, the best ETA and the per-DC breakdown', async () => {
    const answer = await http(
      port,
      `/v1/availability?lat=${HERE.lat}&lng=${HERE.lng}&skus=baguette,cheese,nope`,
      { key: keys.reader },
    );
    expect(answer.status).toBe(200);
    const { baguette, cheese, nope } = answer.body.skus;
    expect(baguette.available).toBe(14);
    expect(baguette.etaMinutes).toBe(5);
    expect(baguette.dcs.map((dc: { dc: string }) => dc.dc).sort()).toEqual(['paris-a', 'paris-b']);
    expect(cheese).toMatchObject({ available: 3, dcs: [{ dc: 'paris-b', available: 3 }] });
    expect(nope.available).toBe(0);
  });

  it('answers totals without the per-DC breakdown when asked', async () => {
    const answer = await http(
      port,
      `/v1/availability?lat=${HERE.lat}&lng=${HERE.lng}&skus=baguette&breakdown=false`,
      { key: keys.reader },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.skus.baguette).toEqual({ available: 14, etaMinutes: 5, dcs: [] });
  });

  it('answers the same availability as columns with form=columns', async () => {
    const query = `lat=${HERE.lat}&lng=${HERE.lng}&skus=baguette,cheese,nope`;
    const objects = await http(port, `/v1/availability?${query}`, { key: keys.reader });
    const answer = await http(port, `/v1/availability?${query}&form=columns`, {
      key: keys.reader,
    });
    expect(answer.status).toBe(200);
    const { dcs, dcEtaMinutes, available, etaMinutes, perDc } = answer.body;
    const skus = ['baguette', 'cheese', 'nope'];
    expect(Object.keys(answer.body)).toEqual([
      'dcs',
      'dcEtaMinutes',
      'available',
      'etaMinutes',
      'perDc',
    ]);
    expect(dcs.length).toBe(objects.body.dcsInRange);
    expect([...dcs].sort()).toEqual(['paris-a', 'paris-b']);
    expect(available).toEqual([14, 3, -1]);
    expect(etaMinutes).toEqual([5, objects.body.skus.cheese.etaMinutes, null]);
    skus.forEach((sku: string, row: number) => {
      for (const hit of objects.body.skus[sku].dcs) {
        const column = dcs.indexOf(hit.dc);
        expect(perDc[row * dcs.length + column]).toBe(hit.available);
        expect(dcEtaMinutes[column]).toBe(hit.etaMinutes);
      }
    });
    expect(perDc.reduce((sum: number, units: number) => sum + units, 0)).toBe(17);
    const totals = await http(port, `/v1/availability?${query}&form=columns&breakdown=false`, {
      key: keys.reader,
    });
    expect(totals.body).toMatchObject({ available: [14, 3, -1], perDc: null });
    const refused = await http(port, `/v1/availability?${query}&form=rows`, { key: keys.reader });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'BAD_FIELD', field: 'form' });
  });

  it('browses SKUs near a location, by category', async () => {
    const answer = await http(port, `/v1/browse?lat=${HERE.lat}&lng=${HERE.lng}&category=dairy`, {
      key: keys.reader,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.items).toEqual([
      expect.objectContaining({ sku: 'cheese', available: 3, category: 'dairy' }),
    ]);
  });

  it('reads one stock cell', async () => {
    const answer = await http(port, '/v1/stock?dc=paris-b&sku=cheese', { key: keys.reader });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ dc: 'paris-b', sku: 'cheese', onHand: 3, available: 3 });
  });

  it('refuses bad query values with the field at fault', async () => {
    const answer = await http(port, '/v1/availability?lat=abc&lng=2&skus=baguette', {
      key: keys.reader,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('BAD_LOCATION');
  });
});

describe('HTTP orders', () => {
  it('places a hold (201), answers a retry with 200 and the order unchanged', async () => {
    const body = order('http-hold-1', [{ sku: 'baguette', qty: 2 }]);
    const first = await http(port, '/v1/orders', { json: body, key: keys.orderer });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      orderId: 'http-hold-1',
      status: 'held',
      allocation: [{ sku: 'baguette', dc: 'paris-a', qty: 2 }],
      etaMinutes: 5,
    });
    expect(first.body.expiresAt).toBeGreaterThan(Date.now());
    const retry = await http(port, '/v1/orders', { json: body, key: keys.orderer });
    expect(retry.status).toBe(200);
    expect(retry.text).toBe(first.text);
    const reused = await http(port, '/v1/orders', {
      json: { ...body, lines: [{ sku: 'baguette', qty: 1 }] },
      key: keys.orderer,
    });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('ORDER_ID_REUSED');
  });

  it('refuses an order it cannot fill with 409 OUT_OF_STOCK and per-line detail', async () => {
    const answer = await http(port, '/v1/orders', {
      json: order('http-oos', [{ sku: 'baguette', qty: 500 }], { policy: 'split' }),
      key: keys.orderer,
    });
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('OUT_OF_STOCK');
    expect(answer.body.error.lines).toEqual([
      expect.objectContaining({ sku: 'baguette', requested: 500, available: 12 }),
    ]);
  });

  it('checks a basket without taking anything', async () => {
    const answer = await http(port, '/v1/orders/check', {
      json: order('http-check', [{ sku: 'cheese', qty: 2 }]),
      key: keys.orderer,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.allocation).toEqual([{ sku: 'cheese', dc: 'paris-b', qty: 2 }]);
    const stock = await http(port, '/v1/stock?dc=paris-b&sku=cheese', { key: keys.reader });
    expect(stock.body.available).toBe(3);
  });

  it('runs the lifecycle: extend, change, confirm in part, fulfil, get', async () => {
    const key = keys.orderer;
    const placed = await http(port, '/v1/orders', {
      json: order('http-life', [{ sku: 'baguette', qty: 3 }]),
      key,
    });
    expect(placed.status).toBe(201);
    const extended = await http(port, '/v1/orders/http-life/extend', {
      json: { ttlSeconds: 900 },
      key,
    });
    expect(extended.status).toBe(200);
    expect(extended.body.expiresAt).toBeGreaterThan(placed.body.expiresAt);
    const changed = await http(port, '/v1/orders/http-life/lines', {
      method: 'PUT',
      json: { lines: [{ sku: 'baguette', qty: 4 }] },
      key,
    });
    expect(changed.status).toBe(200);
    expect(changed.body.allocation).toEqual([{ sku: 'baguette', dc: 'paris-a', qty: 4 }]);
    const confirmed = await http(port, '/v1/orders/http-life/confirm', {
      json: { lines: [{ sku: 'baguette', qty: 1 }] },
      key,
    });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.status).toBe('confirmed');
    expect(confirmed.body.allocation).toEqual([{ sku: 'baguette', dc: 'paris-a', qty: 1 }]);
    const fulfilled = await http(port, '/v1/orders/http-life/fulfil', { method: 'POST', key });
    expect(fulfilled.status).toBe(200);
    expect(fulfilled.body.status).toBe('fulfilled');
    const got = await http(port, '/v1/orders/http-life', { key: keys.reader });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(fulfilled.body);
  });

  it('cancels a hold and releases its stock', async () => {
    const before = await http(port, '/v1/stock?dc=paris-b&sku=cheese', { key: keys.reader });
    const placed = await http(port, '/v1/orders', {
      json: order('http-cancel', [{ sku: 'cheese', qty: 2 }]),
      key: keys.orderer,
    });
    expect(placed.status).toBe(201);
    const held = await http(port, '/v1/stock?dc=paris-b&sku=cheese', { key: keys.reader });
    expect(held.body.available).toBe(before.body.available - 2);
    const cancelled = await http(port, '/v1/orders/http-cancel/cancel', {
      method: 'POST',
      key: keys.orderer,
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const after = await http(port, '/v1/stock?dc=paris-b&sku=cheese', { key: keys.reader });
    expect(after.body.available).toBe(before.body.available);
    const again = await http(port, '/v1/orders/http-cancel/confirm', {
      method: 'POST',
      key: keys.orderer,
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('INVALID_STATE');
  });

  it('answers 404 for an unknown order', async () => {
    const answer = await http(port, '/v1/orders/no-such-order', { key: keys.reader });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('ORDER_NOT_FOUND');
  });
});

describe('HTTP stock and catalogue', () => {
  it('receives and adjusts stock, reporting a count below what is promised', async () => {
    await admin('/v1/skus/jam', { name: 'Jam' }, 'PUT');
    const received = await http(port, '/v1/stock/receive', {
      json: { dc: 'paris-a', sku: 'jam', qty: 5, reason: 'delivery' },
      key: keys.admin,
    });
    expect(received.status).toBe(200);
    expect(received.body).toMatchObject({ dc: 'paris-a', sku: 'jam', onHand: 5, available: 5 });
    const held = await http(port, '/v1/orders', {
      json: order('http-jam', [{ sku: 'jam', qty: 4 }]),
      key: keys.orderer,
    });
    expect(held.status).toBe(201);
    const adjusted = await http(port, '/v1/stock/adjust', {
      json: { dc: 'paris-a', sku: 'jam', onHand: 2 },
      key: keys.admin,
    });
    expect(adjusted.status).toBe(200);
    expect(adjusted.body).toMatchObject({ onHand: 2, available: 0, reserved: 4, shortfall: 2 });
  });

  it('creates (201) and updates (200) DCs and SKUs; refuses a bad area', async () => {
    const created = await http(port, '/v1/skus/new-sku', {
      method: 'PUT',
      json: { name: 'New' },
      key: keys.admin,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'new-sku', name: 'New' });
    const updated = await http(port, '/v1/skus/new-sku', {
      method: 'PUT',
      json: { name: 'Renamed', lowStockThreshold: 3 },
      key: keys.admin,
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'Renamed', lowStockThreshold: 3 });
    const badArea = await http(port, '/v1/dcs/bad-area', {
      method: 'PUT',
      json: { name: 'x', location: HERE, area: { type: 'Polygon', coordinates: [[[0, 0]]] } },
      key: keys.admin,
    });
    expect(badArea.status).toBe(400);
    expect(badArea.body.error.code).toBe('BAD_AREA');
  });

  it('shows a new DC and SKU on every worker as soon as the upsert is answered', async () => {
    const far = { lat: -33.8688, lng: 151.2093 };
    await admin('/v1/dcs/sydney', { name: 'Sydney', location: far, radiusKm: 3 }, 'PUT');
    await admin('/v1/skus/lamington', { name: 'Lamington' }, 'PUT');
    await admin('/v1/stock/receive', { dc: 'sydney', sku: 'lamington', qty: 7 });
    // Each request opens its own connection; the kernel spreads them over both workers.
    const answers = await Promise.all(
      Array.from({ length: 24 }, () =>
        http(port, `/v1/availability?lat=${far.lat}&lng=${far.lng}&skus=lamington`, {
          key: keys.reader,
        }),
      ),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body.skus.lamington.available).toBe(7);
    }
  });
});

describe('HTTP auth', () => {
  const routes: { path: string; method: string; json?: unknown; role: string }[] = [
    { path: `/v1/availability?lat=1&lng=1&skus=a`, method: 'GET', role: 'reader' },
    { path: '/v1/browse?lat=1&lng=1', method: 'GET', role: 'reader' },
    { path: '/v1/stock?dc=paris-a&sku=baguette', method: 'GET', role: 'reader' },
    { path: '/v1/orders/x', method: 'GET', role: 'reader' },
    { path: '/v1/orders', method: 'POST', json: order('auth-1', []), role: 'orderer' },
    { path: '/v1/orders/check', method: 'POST', json: order('auth-2', []), role: 'orderer' },
    { path: '/v1/orders/x/confirm', method: 'POST', role: 'orderer' },
    { path: '/v1/orders/x/cancel', method: 'POST', role: 'orderer' },
    { path: '/v1/orders/x/extend', method: 'POST', json: { ttlSeconds: 5 }, role: 'orderer' },
    { path: '/v1/orders/x/fulfil', method: 'POST', role: 'orderer' },
    { path: '/v1/orders/x/lines', method: 'PUT', json: { lines: [] }, role: 'orderer' },
    {
      path: '/v1/stock/receive',
      method: 'POST',
      json: { dc: 'a', sku: 'b', qty: 1 },
      role: 'admin',
    },
    {
      path: '/v1/stock/adjust',
      method: 'POST',
      json: { dc: 'a', sku: 'b', onHand: 1 },
      role: 'admin',
    },
    { path: '/v1/dcs/x', method: 'PUT', json: { name: 'x' }, role: 'admin' },
    { path: '/v1/skus/x', method: 'PUT', json: { name: 'x' }, role: 'admin' },
  ];
  const rank: Record<string, number> = { reader: 0, orderer: 1, admin: 2 };

  it('refuses a missing or unknown key with 401 on every route', async () => {
    for (const route of routes) {
      for (const key of [null, 'not-a-key-0123456789', `${keys.admin}x`]) {
        const answer = await http(port, route.path, {
          method: route.method,
          json: route.json,
          key,
        });
        expect(answer.status, `${route.method} ${route.path}`).toBe(401);
        expect(answer.body.error.code).toBe('UNAUTHORIZED');
      }
    }
  });

  it("refuses a role below the route's with 403, before looking at the arguments", async () => {
    for (const route of routes) {
      for (const role of ['reader', 'orderer', 'admin'] as const) {
        const answer = await http(port, route.path, {
          method: route.method,
          json: route.json,
          key: keys[role],
        });
        if (rank[role] < rank[route.role]) {
          expect(answer.status, `${role} ${route.method} ${route.path}`).toBe(403);
          expect(answer.body.error.code).toBe('FORBIDDEN');
        } else {
          expect([401, 403]).not.toContain(answer.status);
        }
      }
    }
  });
});

describe('HTTP bad input', () => {
  it('refuses invalid JSON, non-object bodies and missing bodies with 400', async () => {
    for (const raw of ['{', 'null', '[1,2]', '"text"', '{"orderId": }']) {
      const answer = await http(port, '/v1/orders', {
        raw,
        key: keys.orderer,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.status, raw).toBe(400);
      expect(answer.body.error.code).toBe('BAD_REQUEST');
    }
    const empty = await http(port, '/v1/orders', { method: 'POST', key: keys.orderer });
    expect(empty.status).toBe(400);
  });

  /**
   * Writes `bytes` over a raw socket, without ending it, and returns what the server writes
   * back, once `enough` says so or the connection closes (the socket is then destroyed).
   */
  function rawRequest(bytes: Buffer, enough: (text: string) => boolean): Promise<string> {
    return new Promise((done) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const text = () => Buffer.concat(chunks).toString('utf8');
      const timer = setTimeout(() => socket.destroy(), 5_000);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (enough(text())) socket.destroy();
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        done(text());
      });
      socket.write(bytes);
    });
  }

  const refusedBody = (text: string) => text.includes('"code":"BODY_TOO_LARGE"');

  it('refuses a body over the limit with 413, by header and while streaming', async () => {
    const auth = `authorization: Bearer ${keys.orderer}\r\n`;
    // Declared too large: refused on the headers alone, before any body is sent.
    const declared = await rawRequest(
      Buffer.from(
        `POST /v1/orders HTTP/1.1\r\nhost: x\r\n${auth}content-length: ${HTTP_BODY_BYTES_MAX + 1}\r\n\r\n`,
      ),
      refusedBody,
    );
    expect(declared).toMatch(/^HTTP\/1\.1 413/);
    expect(declared).toMatch(/\r\nconnection: close\r\n/i);
    expect(declared).toContain('BODY_TOO_LARGE');
    // Chunked: the size is only known once the body passes the limit while it streams in.
    const head = `POST /v1/orders HTTP/1.1\r\nhost: x\r\n${auth}transfer-encoding: chunked\r\n\r\n`;
    const chunked = await rawRequest(
      Buffer.concat([
        Buffer.from(`${head}${(HTTP_BODY_BYTES_MAX + 1).toString(16)}\r\n`),
        Buffer.alloc(HTTP_BODY_BYTES_MAX + 1, 0x20),
      ]),
      refusedBody,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 413/);
    // The node still answers afterwards.
    expect((await http(port, '/healthz')).status).toBe(200);
  });

  /** A 20 MiB body, as a client that does not look at the limit would send it. */
  const HUGE_BODY_BYTES = 20 * 1024 * 1024;

  type FetchInit = NonNullable<Parameters<typeof fetch>[1]>;

  async function postHuge(body: FetchInit['body'], extra: FetchInit = {}) {
    const answer = await fetch(`http://127.0.0.1:${port}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.orderer}`, 'content-type': 'application/json' },
      body,
      ...extra,
    });
    const json = (await answer.json()) as { error: { code: string; message: string } };
    return { status: answer.status, headers: answer.headers, body: json };
  }

  it('lets a client still sending a refused body read the 413, not a reset', async () => {
    // fetch sends a Buffer with its Content-Length: refused before the body is read, which the
    // node then reads and discards while fetch is still sending it.
    const declared = await postHuge(Buffer.alloc(HUGE_BODY_BYTES, 0x20));
    expect(declared.status).toBe(413);
    expect(declared.headers.get('connection')).toBe('close');
    expect(declared.body.error).toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect(declared.body.error.message).toContain(String(HTTP_BODY_BYTES_MAX));
    // A stream goes out chunked, with no length: refused when it passes the limit.
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= HUGE_BODY_BYTES) {
          controller.close();
          return;
        }
        sent += piece.length;
        controller.enqueue(piece);
      },
    });
    const streamed = await postHuge(stream, { duplex: 'half' } as FetchInit);
    expect(streamed.status).toBe(413);
    expect(streamed.body.error.code).toBe('BODY_TOO_LARGE');
    expect(sent).toBe(HUGE_BODY_BYTES);
    expect((await http(port, '/healthz')).status).toBe(200);
  });

  it('stops discarding a refused body after HTTP_LINGER_BYTES_MAX and closes', async () => {
    const declaredBytes = 4 * HTTP_LINGER_BYTES_MAX;
    const socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let closed = false;
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => {});
    const whenClosed = new Promise<void>((done) =>
      socket.on('close', () => {
        closed = true;
        done();
      }),
    );
    socket.write(
      `POST /v1/orders HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${keys.orderer}\r\n` +
        `content-length: ${declaredBytes}\r\n\r\n`,
    );
    // Sends until the node closes, at most twice what it promises to discard.
    const piece = Buffer.alloc(1024 * 1024, 0x20);
    let written = 0;
    while (!closed && written < 2 * HTTP_LINGER_BYTES_MAX) {
      written += piece.length;
      if (!socket.write(piece)) {
        await Promise.race([new Promise((done) => socket.once('drain', done)), whenClosed]);
      }
    }
    await Promise.race([whenClosed, new Promise((done) => setTimeout(done, 5_000))]);
    socket.destroy();
    expect(closed).toBe(true);
    expect(written).toBeLessThan(2 * HTTP_LINGER_BYTES_MAX);
    expect(written).toBeGreaterThan(HTTP_LINGER_BYTES_MAX / 2);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 413/);
    expect((await http(port, '/healthz')).status).toBe(200);
  });

  it('answers 404 NOT_FOUND for an unknown path, whatever the method', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      for (const path of ['/v2/nothing', '/v1/orders/x/confirm/more', '/v1/availability/']) {
        const answer = await http(port, path, { method, key: keys.admin });
        expect(answer.status, `${method} ${path}`).toBe(404);
        expect(answer.body.error.code).toBe('NOT_FOUND');
        expect(answer.headers.allow).toBeUndefined();
      }
    }
  });

  it('answers 405 with Allow for a known path asked with a wrong method', async () => {
    const cases: [method: string, path: string, allow: string][] = [
      ['POST', `/v1/availability?lat=${HERE.lat}&lng=${HERE.lng}&skus=baguette`, 'GET'],
      ['DELETE', '/v1/browse', 'GET'],
      ['GET', '/v1/orders', 'POST'],
      ['PUT', '/v1/orders/http-hold-1', 'GET'],
      ['GET', '/v1/orders/http-hold-1/confirm', 'POST'],
      ['POST', '/v1/orders/http-hold-1/lines', 'PUT'],
      ['GET', '/v1/dcs/paris-a', 'PUT'],
      ['DELETE', '/v1/stock/receive', 'POST'],
      // `check` is also an order id to GET /v1/orders/{orderId}.
      ['DELETE', '/v1/orders/check', 'GET, POST'],
      ['POST', '/healthz', 'GET'],
      ['PUT', '/readyz', 'GET'],
      ['POST', '/metrics', 'GET'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await http(port, path, { method, key: keys.admin });
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(answer.headers.allow, `${method} ${path}`).toBe(allow);
      expect(answer.body.error).toMatchObject({
        code: 'METHOD_NOT_ALLOWED',
        allow: allow.split(', '),
      });
      expect(answer.body.error.message).toContain(method);
    }
    // The method a path does answer is still served, including an order named like a route.
    const check = await http(port, '/v1/orders/check', { key: keys.reader });
    expect(check.status).toBe(404);
    expect(check.body.error.code).toBe('ORDER_NOT_FOUND');
  });
});
