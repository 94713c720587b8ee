/**
 * SubscriptionHub over a real engine with fake connections: what gets pushed and when
 * (only changed SKUs, only DCs that serve, coalesced per tick), backpressure (skip ahead, then
 * the latest values; cut off after the drain timeout; event streams cut at once), the order
 * low-stock filters, roles, limits and clean removal.
 */

import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { WireCodec } from '../protocol/codec.js';
import { ORDERS_SUBSCRIPTION_ID, SUBSCRIPTIONS_PER_CONNECTION_MAX } from '../protocol/limits.js';
import { MessageKinds, type SubscribeArgs, type WireMessage } from '../protocol/messages.js';
import { CatalogueView } from './catalogue-view.js';
import { ChangeCollector } from './change-feed.js';
import { WS_DRAIN_TIMEOUT_MS } from './constants.js';
import { createOrderEventRing, OrderEventReader } from './order-event-ring.js';
import { type PushTarget, SubscriptionHub } from './subscriptions.js';

const HERE = { lat: 10, lng: 10 };
const FAR = { lat: 10.5, lng: 10.5 };
const BY = { actor: 'test' };
const BUFFER_MAX = 1_000;
const codec = new WireCodec();

class FakeTarget implements PushTarget {
  static nextId = 1;
  readonly id = FakeTarget.nextId++;
  readonly messages: WireMessage[] = [];
  buffered = 0;
  open = true;
  cut: string | null = null;
  readonly topics = new Set<string>();
  isOpen() {
    return this.open;
  }
  bufferedAmount() {
    return this.buffered;
  }
  send(frame: Uint8Array) {
    const decoded = codec.decodeMessageFrame(frame);
    if (!decoded.ok) throw new Error('undecodable push');
    this.messages.push(...decoded.messages);
  }
  cutOff(message: string) {
    this.cut = message;
    this.open = false;
  }
  joinTopic(topic: string) {
    this.topics.add(topic);
  }
  leaveTopic(topic: string) {
    this.topics.delete(topic);
  }
  pushesHeld() {
    return false;
  }
  /** The push bodies received for subscription `sub`, taken (cleared). */
  take(sub: number): Record<string, unknown>[] {
    const bodies = this.messages
      .filter(([id, kind]) => id === sub && kind === MessageKinds.PUSH)
      .map(([, , body]) => body as Record<string, unknown>);
    this.messages.length = 0;
    return bodies;
  }
}

let engine: Engine;
let hub: SubscriptionHub;
let collector: ChangeCollector;
let now: number;

function ok(outcome: ReturnType<SubscriptionHub['subscribe']>) {
  if (!outcome.ok) throw new Error(`refused: ${outcome.error.code}`);
  return outcome.value as { sub: number; snapshot: Record<string, unknown> };
}

/** Publishes what the engine changed since the last tick and runs one tick. */
function tick(ms = 20): void {
  now += ms;
  hub.cellsChanged(collector.cells.copy());
  collector.cells.clear();
  hub.tick(now);
}

beforeEach(() => {
  let ticket = 0;
  const ring = createOrderEventRing(64);
  engine = Engine.create(
    { dcCapacity: 8, skuCapacity: 16, orderCapacity: 1 << 12, dcsPerShard: 4 },
    { log: { writable: () => true, append: () => ++ticket } },
  );
  const view = new CatalogueView(8, 16);
  engine.upsertDc({ id: 'near', name: 'Near', location: HERE, radiusKm: 5 }, BY);
  engine.upsertDc({ id: 'far', name: 'Far', location: FAR, radiusKm: 5 }, BY);
  engine.upsertSku({ id: 'milk', name: 'Milk', lowStockThreshold: 5 }, BY);
  engine.upsertSku({ id: 'eggs', name: 'Eggs' }, BY);
  engine.receive('near', 'milk', 10, BY);
  engine.receive('near', 'eggs', 6, BY);
  engine.receive('far', 'milk', 100, BY);
  for (const record of engine.catalogueRecords()) view.apply(record);
  collector = new ChangeCollector(16, 1_024, () => {});
  engine.setObserver(collector);
  now = 1_000;
  hub = new SubscriptionHub({
    engine,
    view,
    events: new OrderEventReader(ring),
    // The order stream reads the log: see order-stream.integration.test.ts.
    openLog: () => {
      throw new Error('these tests have no log');
    },
    codec,
    publish: null,
    clock: () => now,
    maxMinutesDefault: 60,
    bufferBytesMax: BUFFER_MAX,
  });
  // The view learns of later catalogue changes the way a worker does.
  const upsert = engine.upsertDc.bind(engine);
  engine.upsertDc = (input, by) => {
    const result = upsert(input, by);
    if (result.ok) view.apply({ type: 'dc', at: 0, actor: 'test', dc: result.dc });
    hub.catalogueUpdated();
    return result;
  };
});

const availability: SubscribeArgs = { kind: 'availability', ...HERE, skus: ['milk', 'eggs'] };

describe('availability', () => {
  it('answers a snapshot, then pushes only the SKUs that changed at DCs that serve', () => {
    const target = new FakeTarget();
    const { sub, snapshot } = ok(hub.subscribe(target, availability, 'reader'));
    expect(sub).toBeGreaterThan(ORDERS_SUBSCRIPTION_ID);
    expect(snapshot.skus).toEqual({
      milk: { available: 10, etaMinutes: expect.any(Number) },
      eggs: { available: 6, etaMinutes: expect.any(Number) },
    });
    engine.receive('far', 'milk', 1, BY);
    tick();
    expect(target.take(sub)).toEqual([]);
    engine.receive('near', 'milk', 2, BY);
    engine.receive('near', 'milk', 3, BY);
    tick();
    expect(target.take(sub)).toEqual([
      { sub, skus: { milk: { available: 15, etaMinutes: expect.any(Number) } } },
    ]);
    // Down and back up within one tick: nothing to tell.
    engine.adjust('near', 'eggs', 1, BY);
    engine.adjust('near', 'eggs', 6, BY);
    tick();
    expect(target.take(sub)).toEqual([]);
  });

  it('skips a congested subscriber, then sends the latest; cuts it off after the timeout', () => {
    const target = new FakeTarget();
    const { sub } = ok(hub.subscribe(target, availability, 'reader'));
    target.buffered = BUFFER_MAX + 1;
    engine.receive('near', 'milk', 1, BY);
    tick();
    engine.receive('near', 'milk', 1, BY);
    tick();
    expect(target.take(sub)).toEqual([]);
    expect(hub.stats.pushesSkipped).toBe(2);
    target.buffered = 0;
    tick();
    expect(target.take(sub)).toEqual([
      { sub, skus: { milk: { available: 12, etaMinutes: expect.any(Number) } } },
    ]);
    target.buffered = BUFFER_MAX + 1;
    engine.receive('near', 'milk', 1, BY);
    tick();
    tick(WS_DRAIN_TIMEOUT_MS);
    expect(target.cut).not.toBeNull();
    expect(hub.stats).toMatchObject({ availability: 0, subscribersCutOff: 1 });
  });

  it('sums a DC set without ETAs, and follows a DC added near a location', () => {
    const target = new FakeTarget();
    const set = ok(
      hub.subscribe(
        target,
        { kind: 'availability', dcs: ['near', 'far'], skus: ['milk'] },
        'reader',
      ),
    );
    expect(set.snapshot.skus).toEqual({ milk: { available: 110, etaMinutes: null } });
    const near = ok(
      hub.subscribe(target, { kind: 'availability', ...HERE, skus: ['milk'] }, 'reader'),
    );
    engine.upsertDc({ id: 'new', name: 'New', location: HERE, radiusKm: 5 }, BY);
    engine.receive('new', 'milk', 7, BY);
    tick();
    const pushed = target.messages.map(([id, , body]) => [id, (body as { skus: object }).skus]);
    expect(pushed).toEqual([
      [near.sub, { milk: { available: 17, etaMinutes: expect.any(Number) } }],
    ]);
  });

  it('refuses unknown ids, and more than the per-connection limit', () => {
    const target = new FakeTarget();
    const unknown = hub.subscribe(target, { ...availability, skus: ['nope'] }, 'reader');
    expect(unknown).toMatchObject({ ok: false, error: { code: 'UNKNOWN_SKU', sku: 'nope' } });
    const dc = hub.subscribe(
      target,
      { kind: 'availability', dcs: ['x'], skus: ['milk'] },
      'reader',
    );
    expect(dc).toMatchObject({ ok: false, error: { code: 'UNKNOWN_DC' } });
    const ids = new Set<number>();
    for (let index = 0; index < SUBSCRIPTIONS_PER_CONNECTION_MAX; index++) {
      ids.add(ok(hub.subscribe(target, availability, 'reader')).sub);
    }
    expect(ids.size).toBe(SUBSCRIPTIONS_PER_CONNECTION_MAX);
    expect(hub.subscribe(target, availability, 'reader')).toMatchObject({
      ok: false,
      error: { code: 'TOO_MANY_SUBSCRIPTIONS' },
    });
    expect(hub.unsubscribe(target, [...ids][0])).toEqual({ ok: true, value: { removed: true } });
    expect(hub.unsubscribe(target, [...ids][0])).toEqual({ ok: true, value: { removed: false } });
    expect(hub.subscribe(target, availability, 'reader').ok).toBe(true);
    hub.removeTarget(target);
    expect(hub.stats.availability).toBe(0);
    engine.receive('near', 'milk', 1, BY);
    tick();
    expect(target.messages).toEqual([]);
  });
});

describe('low stock', () => {
  it('delivers matching alerts, and lists what is low in the snapshot', () => {
    const target = new FakeTarget();
    engine.adjust('near', 'milk', 2, BY);
    const { sub, snapshot } = ok(
      hub.subscribe(target, { kind: 'lowStock', dcs: ['near'] }, 'reader'),
    );
    expect(snapshot).toEqual({
      alerts: [{ dc: 'near', sku: 'milk', state: 'low', available: 2, threshold: 5, at: now }],
      truncated: false,
    });
    const alert = (dc: string, sku: string) => ({
      dc,
      sku,
      state: 'low' as const,
      available: 1,
      threshold: 5,
      at: 1,
    });
    hub.alertsReceived([alert('far', 'milk'), alert('near', 'milk')]);
    tick();
    expect(target.take(sub)).toEqual([{ sub, alerts: [alert('near', 'milk')] }]);
    target.buffered = BUFFER_MAX + 1;
    hub.alertsReceived([alert('near', 'eggs')]);
    tick();
    expect(target.cut).not.toBeNull();
    expect(hub.stats.lowStock).toBe(0);
  });
});
