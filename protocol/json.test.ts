/**
 * HTTP JSON mapping tests: bodies, query strings and path parameters reach validateArgs and
 * get the same codes as the WebSocket path.
 */

import { describe, expect, it } from 'vitest';
import {
  argsFromBody,
  argsFromQuery,
  availabilityFromQuery,
  decodePathSegment,
  httpStatus,
  parseJsonBody,
  queryParams,
} from './json.js';

describe('parseJsonBody', () => {
  it('parses JSON from bytes or text and treats an empty body as undefined', () => {
    expect(parseJsonBody(Buffer.from('{"a":1}'))).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonBody('  ')).toEqual({ ok: true, value: undefined });
    expect(parseJsonBody(new Uint8Array(0))).toEqual({ ok: true, value: undefined });
  });

  it('refuses bad JSON, bad UTF-8 and oversized bodies with codes', () => {
    expect(parseJsonBody('{"a":')).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(parseJsonBody(Uint8Array.from([0x7b, 0xff, 0x7d]))).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(parseJsonBody('[1,2,3]', 3)).toMatchObject({
      ok: false,
      error: { code: 'BODY_TOO_LARGE' },
    });
    // Deep nesting is a parse result, not a crash.
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(() => parseJsonBody(deep)).not.toThrow();
  });
});

describe('argsFromBody', () => {
  const order = {
    orderId: 'o-1',
    location: { lat: 1, lng: 2 },
    lines: [{ sku: 'a', qty: 1 }],
    mode: 'commit',
  };

  it('validates bodies like the WebSocket path does', () => {
    expect(argsFromBody('placeOrder', order)).toMatchObject({ ok: true });
    expect(argsFromBody('placeOrder', { ...order, lines: [{ sku: 'a', qty: -1 }] })).toMatchObject({
      ok: false,
      error: { code: 'BAD_QUANTITY', field: 'lines[0].qty' },
    });
    expect(argsFromBody('placeOrder', [order])).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('takes ids from the path and refuses a body that disagrees', () => {
    expect(argsFromBody('cancel', undefined, { orderId: 'o-9' })).toEqual({
      ok: true,
      args: { orderId: 'o-9' },
    });
    expect(argsFromBody('extend', { ttlSeconds: 60 }, { orderId: 'o-9' })).toEqual({
      ok: true,
      args: { orderId: 'o-9', ttlSeconds: 60 },
    });
    expect(argsFromBody('cancel', { orderId: 'other' }, { orderId: 'o-9' })).toMatchObject({
      ok: false,
      error: { code: 'BAD_ORDER_ID' },
    });
    expect(argsFromBody('upsertSku', { name: 'Milk' }, { id: 'milk' })).toEqual({
      ok: true,
      args: { id: 'milk', name: 'Milk' },
    });
    expect(argsFromBody('upsertDc', { name: 'x' }, { id: 'd'.repeat(65) })).toMatchObject({
      ok: false,
      error: { code: 'BAD_ID' },
    });
  });
});

describe('argsFromQuery', () => {
  it('maps availability queries, numbers parsed strictly', () => {
    expect(argsFromQuery('availability', 'lat=12.9&lng=77.6&skus=a,b&maxMinutes=30')).toEqual({
      ok: true,
      args: { lat: 12.9, lng: 77.6, skus: ['a', 'b'], maxMinutes: 30 },
    });
    expect(argsFromQuery('availability', 'lat=1&lng=2&skus=a&breakdown=false')).toEqual({
      ok: true,
      args: { lat: 1, lng: 2, skus: ['a'], breakdown: false },
    });
    expect(argsFromQuery('availability', 'lat=1&lng=2&skus=a&breakdown=no')).toMatchObject({
      ok: false,
      error: { code: 'BAD_FIELD', field: 'breakdown' },
    });
    expect(argsFromQuery('availability', 'lat=0x10&lng=1&skus=a')).toMatchObject({
      ok: false,
      error: { code: 'BAD_LOCATION', field: 'lat' },
    });
    expect(argsFromQuery('availability', 'lat=&lng=1&skus=a')).toMatchObject({
      ok: false,
      error: { code: 'BAD_LOCATION' },
    });
    expect(argsFromQuery('availability', 'lat=1&lng=1')).toMatchObject({
      ok: false,
      error: { code: 'BAD_FIELD', field: 'skus' },
    });
    expect(argsFromQuery('availability', 'lat=1&lng=1&skus=')).toMatchObject({ ok: true });
    expect(argsFromQuery('availability', 'lat=1&lng=1&skus=a,,b')).toMatchObject({
      ok: false,
      error: { code: 'BAD_ID', field: 'skus[1]' },
    });
  });

  it('refuses too many SKUs without splitting the whole list', () => {
    const skus = Array.from({ length: 5000 }, (_, index) => `s${index}`).join(',');
    expect(argsFromQuery('availability', `lat=1&lng=1&skus=${skus}`)).toMatchObject({
      ok: false,
      error: { code: 'TOO_MANY_SKUS' },
    });
  });

  it('reads the availability answer form, objects by default, after the args', () => {
    expect(availabilityFromQuery('lat=1&lng=2&skus=a')).toMatchObject({
      ok: true,
      form: 'objects',
    });
    expect(availabilityFromQuery('lat=1&lng=2&skus=a&form=columns')).toEqual({
      ok: true,
      args: { lat: 1, lng: 2, skus: ['a'] },
      form: 'columns',
    });
    expect(availabilityFromQuery('form=objects&lat=1&lng=2&skus=a')).toMatchObject({
      form: 'objects',
    });
    expect(availabilityFromQuery('lat=1&lng=2&skus=a&form=rows')).toMatchObject({
      ok: false,
      error: { code: 'BAD_FIELD', field: 'form' },
    });
    expect(availabilityFromQuery('lat=1&lng=2&skus=a&form=')).toMatchObject({
      error: { field: 'form' },
    });
    expect(availabilityFromQuery('lat=91&lng=2&skus=a&form=rows')).toMatchObject({
      error: { code: 'BAD_LOCATION' },
    });
    // The same args whichever way the query is read (escapes go through URLSearchParams).
    expect(availabilityFromQuery('lat=1&lng=2&skus=a%2Cb&form=columns')).toMatchObject({
      args: { skus: ['a', 'b'] },
      form: 'columns',
    });
  });

  it('reads an unescaped query as URLSearchParams does', () => {
    const names = ['lat', 'lng', 'skus', 'form', 'a', 'ab', ''];
    const pieces = ['lat', 'lng', 'skus', 'form', 'a', 'ab', '=', '&', '&&', '1', 'x=y', ',', '?'];
    let state = 7;
    const next = (bound: number) => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return state % bound;
    };
    for (let round = 0; round < 5_000; round++) {
      let query = '';
      const length = next(12);
      for (let index = 0; index < length; index++) query += pieces[next(pieces.length)];
      const expected = new URLSearchParams(query);
      const read = queryParams(query);
      for (const name of names) expect(read.get(name), `${query} ${name}`).toBe(expected.get(name));
    }
  });

  it('maps browse and stock queries', () => {
    expect(argsFromQuery('browse', 'lat=1&lng=2&category=dairy&limit=10&cursor=abc')).toEqual({
      ok: true,
      args: { lat: 1, lng: 2, category: 'dairy', limit: 10, cursor: 'abc' },
    });
    expect(argsFromQuery('browse', 'lat=1&lng=2&limit=ten')).toMatchObject({
      ok: false,
      error: { code: 'BAD_FIELD', field: 'limit' },
    });
    expect(argsFromQuery('getStock', 'dc=d%201&sku=milk')).toEqual({
      ok: true,
      args: { dc: 'd 1', sku: 'milk' },
    });
    expect(argsFromQuery('getStock', 'dc=d')).toMatchObject({
      ok: false,
      error: { code: 'BAD_ID', field: 'sku' },
    });
  });
});

describe('helpers', () => {
  it('decodes path segments without throwing and maps codes to statuses', () => {
    expect(decodePathSegment('o%2F1')).toBe('o/1');
    expect(decodePathSegment('%E0%A4%A')).toBeUndefined();
    expect(httpStatus('OUT_OF_STOCK')).toBe(409);
    expect(httpStatus('TOO_MANY_LINES')).toBe(413);
    expect(httpStatus('NO_SUCH_CODE')).toBe(500);
  });
});
