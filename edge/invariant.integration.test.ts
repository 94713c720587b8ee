/**
 * A broken invariant stops the node: every thread refuses requests from that moment, the node
 * closes itself and reports why, and a node restarted on the same data directory recovers
 * exactly what was acknowledged, with stock and orders agreeing.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { http, makeDataDir, startTestNode, type TestNode } from './testing/harness.js';

const HERE = { lat: 52.52, lng: 13.405 };
const nodes: TestNode[] = [];
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop();
});

function order(orderId: string, qty: number) {
  return { orderId, location: HERE, lines: [{ sku: 'pretzel', qty }], mode: 'commit' };
}

describe('a broken invariant', () => {
  it('stops the node, and a restart recovers exactly the acknowledged state', async () => {
    const dataDir = makeDataDir();
    const first = await startTestNode({
      dataDir,
      fsync: 'fsync',
      demo: null,
      faults: { invariantOnOrderId: 'boom' },
    });
    const { admin, orderer } = first.keys;
    const port = first.node.port;
    await http(port, '/v1/dcs/ber-1', {
      method: 'PUT',
      key: admin,
      json: { name: 'Berlin 1', location: HERE, radiusKm: 5 },
    });
    await http(port, '/v1/skus/pretzel', { method: 'PUT', key: admin, json: { name: 'Pretzel' } });
    await http(port, '/v1/stock/receive', {
      key: admin,
      json: { dc: 'ber-1', sku: 'pretzel', qty: 100 },
    });
    const acknowledged: string[] = [];
    for (let index = 0; index < 5; index++) {
      const placed = await http(port, '/v1/orders', {
        key: orderer,
        json: order(`ok-${index}`, 3),
      });
      expect(placed.status).toBe(201);
      acknowledged.push(`ok-${index}`);
    }
    const broken = await http(port, '/v1/orders', { key: orderer, json: order('boom', 2) });
    expect(broken.status).toBe(500);
    expect(broken.body.error.code).toBe('INTERNAL');
    const reason = await first.node.halted;
    expect(reason).toContain('injected broken invariant');
    // Stopped: nothing more is served.
    await expect(
      http(port, '/v1/orders', { key: orderer, json: order('after', 1) }),
    ).rejects.toThrow();
    await first.stop(true);

    const second = await startTestNode({ dataDir, fsync: 'fsync', demo: null });
    nodes.push(second);
    for (const orderId of acknowledged) {
      const looked = await http(second.node.port, `/v1/orders/${orderId}`, {
        key: second.keys.reader,
      });
      expect(looked.status, orderId).toBe(200);
      expect(looked.body.status).toBe('confirmed');
    }
    const stock = await http(second.node.port, '/v1/stock?dc=ber-1&sku=pretzel', {
      key: second.keys.reader,
    });
    // 'boom' was logged before the fault and never acknowledged: it may or may not have become
    // durable, and the counters agree with the orders either way.
    const boom = await http(second.node.port, '/v1/orders/boom', { key: second.keys.reader });
    const boomUnits = boom.status === 200 ? 2 : 0;
    expect(stock.status, JSON.stringify(stock.body)).toBe(200);
    expect(stock.body.reserved).toBe(15 + boomUnits);
    expect(stock.body.available).toBe(100 - 15 - boomUnits);
    expect(second.node.engine.checkInvariants()).toEqual([]);
  });
});
