/**
 * protocol/openapi.yaml is a valid OpenAPI 3.1 document (checked with a maintained validator
 * against the specification's own schema, which refuses a broken copy), every `$ref` in it
 * resolves, and what it says agrees with protocol/: the error and line codes, each code's
 * HTTP status, each operation's roles, and the limits in the request schemas.
 */

import { fileURLToPath } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODE_LIST, ErrorCodes, isErrorCode, LineCodes } from './codes.js';
import {
  BROWSE_LIMIT_MAX,
  CURSOR_LENGTH_MAX,
  HTTP_BODY_BYTES_MAX,
  ID_BYTES_MAX,
  LINES_PER_ORDER_MAX,
  MAX_MINUTES_CEILING,
  NAME_LENGTH_MAX,
  PREP_MINUTES_DEFAULT,
  PREP_MINUTES_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MAX,
  RADIUS_KM_MIN,
  REASON_LENGTH_MAX,
  SKUS_PER_REQUEST_MAX,
  SPEED_KMH_DEFAULT,
  SPEED_KMH_MAX,
  SPEED_KMH_MIN,
  TTL_SECONDS_MAX,
} from './limits.js';
import { isOp, OP_ROLES, type Role } from './messages.js';

const DOCUMENT = fileURLToPath(new URL('./openapi.yaml', import.meta.url));

/** Codes only the client SDK raises (codes.ts says no node sends them). */
const CLIENT_SIDE_CODES = ['ABORTED', 'CONNECT_FAILED', 'CONNECTION_LOST', 'CLOSED'];
const ROLE_ORDER: readonly Role[] = ['reader', 'orderer', 'admin'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field.
type Json = any;

let spec: Json;

beforeAll(async () => {
  const validator = new Validator();
  const result = await validator.validate(DOCUMENT);
  expect(result.errors).toBeUndefined();
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
  spec = validator.specification;
});

function operations(): { path: string; method: string; operation: Json }[] {
  const found: { path: string; method: string; operation: Json }[] = [];
  for (const [path, item] of Object.entries<Json>(spec.paths)) {
    for (const method of METHODS) {
      if (item[method] !== undefined) found.push({ path, method, operation: item[method] });
    }
  }
  return found;
}

function at(pointer: string): Json {
  let node: Json = spec;
  for (const part of pointer.replace(/^#\//, '').split('/')) {
    node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

function schema(name: string): Json {
  return spec.components.schemas[name];
}

describe('openapi.yaml', () => {
  it('is refused by the validator when broken, so its acceptance means something', async () => {
    const broken = structuredClone(spec);
    delete broken.info;
    broken.paths['/healthz'].get.responses = 'none';
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  it('has no $ref that leads nowhere', () => {
    const refs: string[] = [];
    const walk = (node: Json) => {
      if (node === null || typeof node !== 'object') return;
      if (typeof node.$ref === 'string') refs.push(node.$ref);
      for (const value of Object.values(node)) walk(value);
    };
    walk(spec);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\//);
      expect(at(ref), ref).toBeDefined();
    }
  });

  it('lists every code a node answers with, and the line codes', () => {
    const nodeCodes = ERROR_CODE_LIST.filter((code) => !CLIENT_SIDE_CODES.includes(code));
    expect(CLIENT_SIDE_CODES.every(isErrorCode)).toBe(true);
    expect([...schema('ErrorCode').enum].sort()).toEqual([...nodeCodes].sort());
    expect([...schema('LineCode').enum].sort()).toEqual(Object.values(LineCodes).sort());
  });

  it('names under each status only codes of that status (codes.ts)', () => {
    const statuses = new Map<string, Set<string>>();
    for (const { operation } of operations()) {
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        if (status === 'default' || typeof response.$ref !== 'string') continue;
        const name = response.$ref.split('/').at(-1);
        statuses.set(name, (statuses.get(name) ?? new Set()).add(status));
      }
    }
    let named = 0;
    for (const [name, used] of statuses) {
      const codes = [...spec.components.responses[name].description.matchAll(/`([A-Z_]+)`/g)];
      for (const [, code] of codes) {
        expect(isErrorCode(code), `${name} names ${code}`).toBe(true);
        const status = String(ErrorCodes[code as keyof typeof ErrorCodes].status);
        expect([...used], `${code} (${status}) in ${name}`).toEqual([status]);
        named++;
      }
    }
    expect(named).toBeGreaterThanOrEqual(25);
  });

  it('gives every protocol operation its roles, and every route an answer schema', () => {
    let routes = 0;
    for (const { path, method, operation } of operations()) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(operation.operationId, where).toBeTypeOf('string');
      expect(operation.responses.default ?? operation.responses['200'], where).toBeDefined();
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        const resolved = response.$ref === undefined ? response : at(response.$ref);
        const content = resolved.content ?? {};
        expect(Object.keys(content).length, `${where} ${status}`).toBeGreaterThan(0);
        for (const media of Object.values<Json>(content)) expect(media.schema).toBeDefined();
      }
      if (!path.startsWith('/v1/')) continue;
      routes++;
      const op = operation.operationId;
      expect(isOp(op), `${where} is the op ${op}`).toBe(true);
      const roles: Role[] = OP_ROLES[op as keyof typeof OP_ROLES].slice();
      roles.sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b));
      expect(operation['x-roles'], where).toEqual(roles);
      expect(operation.security, where).toEqual([{ bearerAuth: [roles[0]] }]);
      expect(operation.responses['401'], where).toBeDefined();
      expect(operation.responses['403'], where).toBeDefined();
    }
    expect(routes).toBe(15);
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
  });

  it('states the protocol limits', () => {
    const place = schema('PlaceOrderRequest').properties;
    expect(place.lines.maxItems).toBe(LINES_PER_ORDER_MAX);
    expect(place.ttlSeconds.maximum).toBe(TTL_SECONDS_MAX);
    expect(schema('ExtendRequest').properties.ttlSeconds.maximum).toBe(TTL_SECONDS_MAX);
    expect(schema('ChangeOrderRequest').properties.lines.maxItems).toBe(LINES_PER_ORDER_MAX);
    expect(schema('ConfirmRequest').properties.lines.maxItems).toBe(LINES_PER_ORDER_MAX);
    expect(schema('Id').maxLength).toBe(ID_BYTES_MAX);
    expect(schema('Quantity').maximum).toBe(QUANTITY_MAX);
    expect(schema('Count').maximum).toBe(QUANTITY_MAX);
    expect(schema('MaxMinutes').maximum).toBe(MAX_MINUTES_CEILING);
    const availability = spec.paths['/v1/availability'].get.parameters;
    const skus = availability.find((parameter: Json) => parameter.name === 'skus');
    expect(skus.schema.maxItems).toBe(SKUS_PER_REQUEST_MAX);
    const browse = spec.paths['/v1/browse'].get.parameters;
    const parameter = (name: string) => browse.find((entry: Json) => entry.name === name);
    expect(parameter('limit').schema.maximum).toBe(BROWSE_LIMIT_MAX);
    expect(parameter('cursor').schema.maxLength).toBe(CURSOR_LENGTH_MAX);
    expect(parameter('category').schema.maxLength).toBe(NAME_LENGTH_MAX);
    const dc = schema('UpsertDcRequest').properties;
    expect(dc.name.maxLength).toBe(NAME_LENGTH_MAX);
    expect(dc.radiusKm.maximum).toBe(RADIUS_KM_MAX);
    expect(dc.radiusKm.minimum).toBe(RADIUS_KM_MIN);
    expect(dc.speedKmh.maximum).toBe(SPEED_KMH_MAX);
    expect(dc.speedKmh.minimum).toBe(SPEED_KMH_MIN);
    expect(dc.speedKmh.description).toContain(`${SPEED_KMH_DEFAULT} when not given`);
    expect(dc.prepMinutes.description).toContain(`${PREP_MINUTES_DEFAULT} when not given`);
    expect(dc.prepMinutes.maximum).toBe(PREP_MINUTES_MAX);
    expect(schema('UpsertSkuRequest').properties.name.maxLength).toBe(NAME_LENGTH_MAX);
    expect(schema('ReceiveRequest').properties.reason.maxLength).toBe(REASON_LENGTH_MAX);
    expect(schema('AdjustRequest').properties.reason.maxLength).toBe(REASON_LENGTH_MAX);
    expect(spec.components.responses.TooLarge.description).toContain(
      `(${HTTP_BODY_BYTES_MAX / (1024 * 1024)} MiB)`,
    );
  });
});
