import { describe, expect, it } from 'vitest';
import { PushRouter } from './push-router.js';

describe('PushRouter', () => {
  it('holds the pushes that follow a subscribe answer until the handler is set, in order', () => {
    const router = new PushRouter();
    const seen: unknown[] = [];
    // A push before the answer belongs to an earlier subscription: not held.
    router.dispatch(7, 'stale', () => {});
    router.expect(7);
    router.dispatch(7, 'first', () => {});
    router.dispatch(7, 'second', () => {});
    expect(seen).toEqual([]);
    router.set(7, (body) => seen.push(body));
    router.dispatch(7, 'third', () => {});
    expect(seen).toEqual(['first', 'second', 'third']);
    expect(router.unrouted).toBe(1);
  });

  it('drops what it held for an answer nobody took up', () => {
    const router = new PushRouter();
    const seen: unknown[] = [];
    router.expect(3);
    router.dispatch(3, 'held', () => {});
    router.forget(3);
    router.dispatch(3, 'after', () => {});
    router.set(3, (body) => seen.push(body));
    expect(seen).toEqual([]);
    expect(router.unrouted).toBe(1);
  });

  it('does not hold for an id that already has a handler', () => {
    const router = new PushRouter();
    const seen: unknown[] = [];
    router.set(5, (body) => seen.push(body));
    router.expect(5);
    router.dispatch(5, 'now', () => {});
    expect(seen).toEqual(['now']);
  });
});
