import { describe, expect, it } from 'vitest';
import {
  httpBodyOf,
  httpStatusOfResult,
  pathMethodsOf,
  patternCovers,
  ROUTES,
} from './http-mapping.js';

describe('patternCovers', () => {
  it('covers a static segment with a parameter, never the reverse', () => {
    expect(patternCovers('/v1/orders/:orderId', '/v1/orders/check')).toBe(true);
    expect(patternCovers('/v1/orders/check', '/v1/orders/:orderId')).toBe(false);
    expect(patternCovers('/v1/orders/:orderId', '/v1/orders/:orderId')).toBe(true);
    expect(patternCovers('/v1/orders/:orderId', '/v1/orders')).toBe(false);
    expect(patternCovers('/v1/orders/:orderId', '/v1/orders/:orderId/confirm')).toBe(false);
    expect(patternCovers('/v1/stock', '/v1/stock/receive')).toBe(false);
  });
});

describe('pathMethodsOf', () => {
  const answered = [
    ...ROUTES.map(({ method, pattern }) => ({ method, pattern })),
    { method: 'get' as const, pattern: '/healthz' },
  ];
  const table = new Map(pathMethodsOf(answered).map((path) => [path.pattern, path]));

  it('lists one entry per distinct pattern with the methods its URLs answer', () => {
    expect(table.size).toBe(new Set(answered.map((entry) => entry.pattern)).size);
    expect(table.get('/v1/availability')?.allow).toBe('GET');
    expect(table.get('/v1/orders')?.allow).toBe('POST');
    expect(table.get('/v1/orders/:orderId')?.allow).toBe('GET');
    expect(table.get('/v1/orders/:orderId/lines')?.allow).toBe('PUT');
    expect(table.get('/healthz')?.allowed).toEqual(['GET']);
  });

  it('counts a parameter route that also matches a static path, and yields to it', () => {
    const check = table.get('/v1/orders/check');
    expect(check?.allow).toBe('GET, POST');
    expect([...(check?.answeredElsewhere ?? [])]).toEqual(['get']);
    expect(table.get('/v1/orders/:orderId')?.answeredElsewhere.size).toBe(0);
    expect(table.get('/v1/availability')?.answeredElsewhere.size).toBe(0);
  });
});

describe('results as HTTP answers', () => {
  it('answers 201 only for what a request created, and flattens orders and stock', () => {
    const order = { orderId: 'o-1' };
    expect(httpStatusOfResult('placeOrder', { created: true, order })).toBe(201);
    expect(httpStatusOfResult('placeOrder', { created: false, order })).toBe(200);
    expect(httpStatusOfResult('upsertSku', { created: true, sku: {} })).toBe(201);
    expect(httpStatusOfResult('availability', { created: true })).toBe(200);
    expect(httpBodyOf('placeOrder', { created: true, order })).toBe(order);
    const stock = { dc: 'a', sku: 'b' };
    expect(httpBodyOf('getStock', { stock })).toBe(stock);
    const skus = { skus: {} };
    expect(httpBodyOf('availability', skus)).toBe(skus);
  });
});
