/**
 * protocol/openapi.yaml against a real node: the document lists exactly the routes the node
 * serves (edge/http-mapping.ts ROUTES, /healthz, /readyz, /metrics) with the op each runs;
 * then a scripted session calls every operation, with successes and the usual errors, and
 * every answer must have a status the document gives that operation, its content type, and a
 * body the response schema accepts (JSON Schema 2020-12, with ajv). Answers to paths no
 * operation covers (404, 405) must match the error schema. The session must have checked a
 * success of every operation.
 */

import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from './http-mapping.js';
import {
  type HttpAnswer,
  type HttpCall,
  http,
  startTestNode,
  type TestNode,
} from './testing/harness.js';

const DOCUMENT = fileURLToPath(new URL('../protocol/openapi.yaml', import.meta.url));
const HERE = { lat: 60.1699, lng: 24.9384 };
const FAR = { lat: -33.86, lng: 151.2 };

// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field.
type Json = any;

interface Operation {
  id: string;
  method: string;
  path: string;
  /** The uWS pattern form of the path (`:orderId`), to match requests to operations. */
  matcher: RegExp;
  responses: Record<string, Json>;
}

let spec: Json;
let ajv: Ajv2020;
const validators = new Map<object, ValidateFunction>();
const operations: Operation[] = [];
/** Operations that answered a success whose body the schema accepted. */
const succeeded = new Set<string>();
/** Statuses checked against a schema, by operation. */
const checked = new Map<string, Set<number>>();

function matcherOf(path: string): RegExp {
  const pattern = path.replace(/\{[^}]+\}/g, '[^/]+');
  return new RegExp(`^${pattern}$`);
}

beforeAll(async () => {
  const validator = new Validator();
  const result = await validator.validate(DOCUMENT);
  expect(result.valid).toBe(true);
  spec = validator.specification;
  // Every $ref inlined, so each response schema compiles on its own.
  const resolved = validator.resolveRefs() as Json;
  for (const [path, item] of Object.entries<Json>(resolved.paths)) {
    for (const method of ['get', 'post', 'put']) {
      const operation = item[method];
      if (operation === undefined) continue;
      operations.push({
        id: operation.operationId,
        method,
        path,
        matcher: matcherOf(path),
        responses: operation.responses,
      });
    }
  }
  // Strict: a keyword ajv does not know in a schema is an error, not ignored.
  ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
});

function operationFor(method: string, path: string): Operation | undefined {
  const bare = path.split('?')[0];
  const candidates = operations.filter((entry) => entry.method === method);
  // A static path first, as the node routes: GET /v1/orders/check is getOrder, POST checkBasket.
  return (
    candidates.find((entry) => entry.path === bare) ??
    candidates.find((entry) => entry.matcher.test(bare))
  );
}

function compiled(schema: object): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

function expectMatches(where: string, schema: object, body: unknown): void {
  const validate = compiled(schema);
  const valid = validate(body);
  expect(valid, `${where}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`).toBe(true);
}

/** Calls the node and checks the answer against the operation's documented response. */
async function call(
  test: TestNode,
  method: string,
  path: string,
  options: HttpCall = {},
): Promise<HttpAnswer> {
  const answer = await http(test.node.port, path, { ...options, method: method.toUpperCase() });
  const where = `${method.toUpperCase()} ${path} → ${answer.status}`;
  const operation = operationFor(method, path);
  expect(operation, `${where}: an operation of the document`).toBeDefined();
  const response = operation!.responses[String(answer.status)] ?? operation!.responses.default;
  expect(response, `${where}: a documented status`).toBeDefined();
  const contentType = String(answer.headers['content-type'] ?? '');
  const media = Object.keys(response.content).find((type) => contentType.startsWith(type));
  expect(media, `${where}: content type ${contentType}`).toBeDefined();
  const body = media === 'application/json' ? JSON.parse(answer.text) : answer.text;
  expectMatches(where, response.content[media!].schema, body);
  const statuses = checked.get(operation!.id) ?? new Set<number>();
  checked.set(operation!.id, statuses.add(answer.status));
  if (answer.status < 300) succeeded.add(operation!.id);
  return answer;
}

describe('the document and the node', () => {
  it('lists exactly the routes the node serves, with their ops', () => {
    const documented = operations.map((entry) => `${entry.method} ${entry.path} ${entry.id}`);
    const served = ROUTES.map(
      (route) => `${route.method} ${route.pattern.replace(/:(\w+)/g, '{$1}')} ${route.op}`,
    );
    served.push('get /healthz healthz', 'get /readyz readyz', 'get /metrics metrics');
    expect(documented.sort()).toEqual(served.sort());
  });
});

describe('live answers match the response schemas', () => {
  let test: TestNode;

  beforeAll(async () => {
    test = await startTestNode();
  });

  afterAll(async () => {
    await test?.stop();
  });

  it('for operations, health and metrics', async () => {
    const { reader } = test.keys;
    await call(test, 'get', '/healthz');
    await call(test, 'get', '/readyz');
    expect((await call(test, 'get', '/metrics', { key: reader })).text).toContain(
      'inventory_request_duration_seconds',
    );
    expect((await call(test, 'get', '/metrics')).status).toBe(401);
  });

  it('for the catalogue and stock', async () => {
    const { admin, reader } = test.keys;
    const dc = { name: 'Helsinki 1', location: HERE, radiusKm: 5 };
    expect((await call(test, 'put', '/v1/dcs/hel-1', { key: admin, json: dc })).status).toBe(201);
    expect((await call(test, 'put', '/v1/dcs/hel-1', { key: admin, json: dc })).status).toBe(200);
    const area = {
      type: 'Polygon',
      coordinates: [
        [
          [24.9, 60.1],
          [25.0, 60.1],
          [25.0, 60.2],
          [24.9, 60.1],
        ],
      ],
    };
    const polygon = { name: 'Helsinki 2', location: HERE, area, prepMinutes: 0, active: true };
    expect((await call(test, 'put', '/v1/dcs/hel-2', { key: admin, json: polygon })).status).toBe(
      201,
    );
    const sku = { name: 'Salmiakki', category: 'sweets', lowStockThreshold: 5, maxPerOrder: 10 };
    expect((await call(test, 'put', '/v1/skus/salmiakki', { key: admin, json: sku })).status).toBe(
      201,
    );
    const bare = { name: 'Rye bread' };
    expect((await call(test, 'put', '/v1/skus/rye', { key: admin, json: bare })).status).toBe(201);
    const receive = { dc: 'hel-1', sku: 'salmiakki', qty: 50, reason: 'delivery 1' };
    await call(test, 'post', '/v1/stock/receive', { key: admin, json: receive });
    await call(test, 'post', '/v1/stock/receive', {
      key: admin,
      json: { dc: 'hel-1', sku: 'rye', qty: 3 },
    });
    const adjust = { dc: 'hel-1', sku: 'salmiakki', onHand: 40, reason: 'count' };
    await call(test, 'post', '/v1/stock/adjust', { key: admin, json: adjust });
    await call(test, 'get', '/v1/stock?dc=hel-1&sku=salmiakki', { key: reader });
    // Errors: unknown DC, bad quantity, wrong role, no key, wrong body, oversized body.
    expect((await call(test, 'get', '/v1/stock?dc=nope&sku=rye', { key: reader })).status).toBe(
      404,
    );
    const bad = { dc: 'hel-1', sku: 'rye', qty: 0 };
    const refused = await call(test, 'post', '/v1/stock/receive', { key: admin, json: bad });
    expect(refused.body.error).toMatchObject({ code: 'BAD_QUANTITY', field: 'qty' });
    expect(
      (await call(test, 'post', '/v1/stock/receive', { key: reader, json: receive })).status,
    ).toBe(403);
    expect((await call(test, 'put', '/v1/skus/x', { json: bare })).status).toBe(401);
    expect((await call(test, 'put', '/v1/dcs/hel-3', { key: admin, json: [] })).status).toBe(400);
    const huge = { key: admin, raw: 'x'.repeat(1024 * 1024 + 1) };
    expect((await call(test, 'post', '/v1/stock/adjust', huge)).status).toBe(413);
  });

  it('for availability and browse', async () => {
    const { reader } = test.keys;
    const at = `lat=${HERE.lat}&lng=${HERE.lng}`;
    const answer = await call(test, 'get', `/v1/availability?${at}&skus=salmiakki,rye,nope`, {
      key: reader,
    });
    expect(answer.body.skus.nope.unknown).toBe(true);
    await call(test, 'get', `/v1/availability?${at}&skus=salmiakki&breakdown=false&maxMinutes=30`, {
      key: reader,
    });
    await call(test, 'get', `/v1/availability?lat=${FAR.lat}&lng=${FAR.lng}&skus=rye`, {
      key: reader,
    });
    const columns = await call(test, 'get', `/v1/availability?${at}&skus=rye,nope&form=columns`, {
      key: reader,
    });
    expect(columns.body.available[1]).toBe(-1);
    await call(test, 'get', `/v1/availability?${at}&skus=rye&form=columns&breakdown=false`, {
      key: reader,
    });
    expect(
      (await call(test, 'get', `/v1/availability?${at}&skus=rye&form=rows`, { key: reader }))
        .status,
    ).toBe(400);
    const first = await call(test, 'get', `/v1/browse?${at}&limit=1`, { key: reader });
    expect(first.body.nextCursor).not.toBeNull();
    const cursor = encodeURIComponent(first.body.nextCursor);
    await call(test, 'get', `/v1/browse?${at}&limit=1&cursor=${cursor}`, { key: reader });
    await call(test, 'get', `/v1/browse?${at}&category=sweets`, { key: reader });
    expect(
      (await call(test, 'get', '/v1/availability?lat=91&lng=0&skus=a', { key: reader })).status,
    ).toBe(400);
    const many = Array.from({ length: 501 }, (_, index) => `s${index}`).join(',');
    expect(
      (await call(test, 'get', `/v1/availability?${at}&skus=${many}`, { key: reader })).status,
    ).toBe(413);
    expect((await call(test, 'get', `/v1/browse?${at}&limit=0`, { key: reader })).status).toBe(400);
  });

  it('for orders through their lifecycle, and their refusals', async () => {
    const { orderer, reader } = test.keys;
    const lines = [{ sku: 'salmiakki', qty: 2 }];
    const hold = { orderId: 'o-1', location: HERE, lines, mode: 'hold', ttlSeconds: 60 };
    await call(test, 'post', '/v1/orders/check', { key: orderer, json: hold });
    expect((await call(test, 'post', '/v1/orders', { key: orderer, json: hold })).status).toBe(201);
    expect((await call(test, 'post', '/v1/orders', { key: orderer, json: hold })).status).toBe(200);
    await call(test, 'get', '/v1/orders/o-1', { key: reader });
    await call(test, 'post', '/v1/orders/o-1/extend', { key: orderer, json: { ttlSeconds: 120 } });
    const change = { lines: [{ sku: 'salmiakki', qty: 3 }] };
    await call(test, 'put', '/v1/orders/o-1/lines', { key: orderer, json: change });
    const partial = { lines: [{ sku: 'salmiakki', qty: 1 }] };
    await call(test, 'post', '/v1/orders/o-1/confirm', { key: orderer, json: partial });
    await call(test, 'post', '/v1/orders/o-1/fulfil', { key: orderer });
    const late = await call(test, 'post', '/v1/orders/o-1/cancel', { key: orderer });
    expect(late.body.error).toMatchObject({ code: 'INVALID_STATE', status: 'fulfilled' });
    const commit = { orderId: 'o-2', location: HERE, lines, mode: 'commit', policy: 'split' };
    expect((await call(test, 'post', '/v1/orders', { key: orderer, json: commit })).status).toBe(
      201,
    );
    await call(test, 'post', '/v1/orders/o-2/cancel', { key: orderer, json: { orderId: 'o-2' } });
    const held = { orderId: 'o-3', location: HERE, lines, mode: 'hold' };
    await call(test, 'post', '/v1/orders', { key: orderer, json: held });
    await call(test, 'post', '/v1/orders/o-3/confirm', { key: orderer });
    await expectRefusals(test);
  });

  it('for paths and methods no operation serves', async () => {
    const key = test.keys.reader;
    const error = spec.components.schemas.Error;
    // Those answers are not operations: checked against the error schema itself.
    const errorSchema = { ...resolveSchema(error) };
    const unknown = await http(test.node.port, '/v1/nothing', { key });
    expect(unknown.status).toBe(404);
    expectMatches('GET /v1/nothing', errorSchema, unknown.body);
    const wrong = await http(test.node.port, '/v1/orders', { key, method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expectMatches('DELETE /v1/orders', errorSchema, wrong.body);
    expect(wrong.headers.allow).toBe(wrong.body.error.allow.join(', '));
  });

  it('checked a success of every operation, and the usual error statuses', () => {
    expect([...succeeded].sort()).toEqual(operations.map((entry) => entry.id).sort());
    const statuses = new Set([...checked.values()].flatMap((set) => [...set]));
    for (const status of [200, 201, 400, 401, 403, 404, 409, 413]) {
      expect(statuses.has(status), `status ${status} was checked`).toBe(true);
    }
  });
});

async function expectRefusals(test: TestNode): Promise<void> {
  const { orderer, reader } = test.keys;
  const lines = [{ sku: 'salmiakki', qty: 2 }];
  const tooMany = { orderId: 'o-4', location: HERE, lines: [{ sku: 'rye', qty: 5_000 }] };
  const out = await call(test, 'post', '/v1/orders', {
    key: orderer,
    json: { ...tooMany, mode: 'commit' },
  });
  expect(out.status).toBe(409);
  expect(out.body.error.lines[0]).toMatchObject({ sku: 'rye', code: 'OUT_OF_STOCK' });
  const overLimit = { orderId: 'o-5', location: HERE, lines: [{ sku: 'salmiakki', qty: 11 }] };
  const limited = await call(test, 'post', '/v1/orders/check', {
    key: orderer,
    json: { ...overLimit, mode: 'commit' },
  });
  expect(limited.body.error.code).toBe('OVER_LIMIT');
  const far = { orderId: 'o-6', location: FAR, lines, mode: 'commit' };
  expect((await call(test, 'post', '/v1/orders', { key: orderer, json: far })).status).toBe(409);
  const reused = { orderId: 'o-1', location: HERE, lines, mode: 'commit' };
  const again = await call(test, 'post', '/v1/orders', { key: orderer, json: reused });
  expect(again.body.error.code).toBe('ORDER_ID_REUSED');
  const twice = [...lines, ...lines];
  const duplicate = { orderId: 'o-7', location: HERE, lines: twice, mode: 'commit' };
  const dup = await call(test, 'post', '/v1/orders', { key: orderer, json: duplicate });
  expect(dup.body.error.code).toBe('DUPLICATE_LINE');
  expect((await call(test, 'get', '/v1/orders/nope', { key: reader })).status).toBe(404);
  expect((await call(test, 'post', '/v1/orders/nope/fulfil', { key: orderer })).status).toBe(404);
  expect((await call(test, 'post', '/v1/orders/o-2/extend', { key: orderer })).status).toBe(400);
  const thirtyThree = Array.from({ length: 33 }, (_, index) => ({ sku: `s${index}`, qty: 1 }));
  const long = { orderId: 'o-8', location: HERE, lines: thirtyThree, mode: 'hold' };
  expect((await call(test, 'post', '/v1/orders', { key: orderer, json: long })).status).toBe(413);
  expect((await call(test, 'post', '/v1/orders', { key: reader, json: far })).status).toBe(403);
  const otherId = { orderId: 'o-9', lines };
  const mismatch = await call(test, 'put', '/v1/orders/o-3/lines', { key: orderer, json: otherId });
  expect(mismatch.body.error.code).toBe('BAD_ORDER_ID');
}

/** A component schema with its `$ref`s inlined from the resolved document. */
function resolveSchema(schema: Json): Json {
  const walk = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    if (typeof node.$ref === 'string') {
      const name = node.$ref.split('/').at(-1);
      return walk(spec.components.schemas[name]);
    }
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
  };
  return walk(schema);
}
