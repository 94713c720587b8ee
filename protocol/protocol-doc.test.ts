/**
 * Keeps PROTOCOL.md in step with the code: every op and every error code is documented, the
 * limits it quotes match limits.ts, and the example frames are what the codec produces.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatchEncoder } from './client/batch-encoder.js';
import { OrderBatchResult, placeOrdersArgs, readOrderColumns } from './client/order-batch.js';
import { WireCodec } from './codec.js';
import { ERROR_CODE_LIST, ErrorCodes } from './codes.js';
import { f64Column, i32Column, readF64Column, readI32Column } from './columns.js';
import {
  FRAME_BYTES_MAX,
  HOLD_TTL_SECONDS_DEFAULT,
  IN_FLIGHT_MAX,
  LINES_PER_ORDER_MAX,
  MAX_MINUTES_DEFAULT,
  ORDERS_PER_BATCH_MAX,
  PREP_MINUTES_DEFAULT,
  PREP_MINUTES_MAX,
  QUERIES_PER_BATCH_MAX,
  RADIUS_KM_MAX,
  RADIUS_KM_MIN,
  REQUESTS_PER_FRAME_MAX,
  SKU_REFS_MAX,
  SKUS_PER_BATCH_MAX,
  SKUS_PER_REQUEST_MAX,
  SPEED_KMH_DEFAULT,
  SPEED_KMH_MAX,
  SPEED_KMH_MIN,
  SUBSCRIPTIONS_PER_CONNECTION_MAX,
} from './limits.js';
import { OP_LIST, type PlaceOrderArgs } from './messages.js';

const doc = readFileSync(new URL('./PROTOCOL.md', import.meta.url), 'utf8');

function exampleHex(marker: string): string {
  const match = doc.match(new RegExp(`<!-- ${marker} -->\\n\`([0-9a-f ]+)\``));
  if (match === null) throw new Error(`no ${marker} block in PROTOCOL.md`);
  return match[1].replaceAll(' ', '');
}

describe('PROTOCOL.md', () => {
  it('documents every op', () => {
    for (const op of OP_LIST) expect(doc, op).toContain(`\`${op}\``);
  });

  it('lists every error code with its status and retryability', () => {
    for (const code of ERROR_CODE_LIST) {
      const { status, retryable } = ErrorCodes[code];
      expect(doc, code).toContain(`| \`${code}\` | ${status} | ${retryable ? 'yes' : 'no'} |`);
    }
  });

  it('quotes the limits of limits.ts', () => {
    expect(doc).toContain(`"frameBytesMax": ${FRAME_BYTES_MAX}`);
    expect(doc).toContain(`"requestsPerFrameMax": ${REQUESTS_PER_FRAME_MAX}`);
    expect(doc).toContain(`"inFlightMax": ${IN_FLIGHT_MAX}`);
    expect(doc).toContain(`"linesPerOrderMax": ${LINES_PER_ORDER_MAX}`);
    expect(doc).toContain(`"skusPerRequestMax": ${SKUS_PER_REQUEST_MAX}`);
    expect(doc).toContain(`"subscriptionsMax": ${SUBSCRIPTIONS_PER_CONNECTION_MAX}`);
    expect(doc).toContain(`"ordersPerBatchMax": ${ORDERS_PER_BATCH_MAX}`);
    expect(doc).toContain(`"queriesPerBatchMax": ${QUERIES_PER_BATCH_MAX}`);
    expect(doc).toContain(`"skusPerBatchMax": ${SKUS_PER_BATCH_MAX}`);
    expect(doc).toContain(`"skuRefsMax": ${SKU_REFS_MAX}`);
    expect(doc).toContain(`refs 0..${SKU_REFS_MAX - 1} (\`skuRefsMax\`)`);
  });

  it('quotes the defaults and the DC ranges of limits.ts', () => {
    expect(doc).toContain(`\`maxMinutes?: number\` (0, 1440], default ${MAX_MINUTES_DEFAULT}`);
    expect(doc).toContain(`(1..86400, default ${HOLD_TTL_SECONDS_DEFAULT}; holds only)`);
    expect(doc).toContain(
      `\`speedKmh?: number\` [${SPEED_KMH_MIN}, ${SPEED_KMH_MAX}] (default ${SPEED_KMH_DEFAULT})`,
    );
    expect(doc).toContain(
      `\`prepMinutes?: number\` [0, ${PREP_MINUTES_MAX}] (default ${PREP_MINUTES_DEFAULT})`,
    );
    expect(doc).toContain(`\`radiusKm?: number\` [${RADIUS_KM_MIN}, ${RADIUS_KM_MAX}]`);
    expect(doc).toContain(`| DC radius | [${RADIUS_KM_MIN}, ${RADIUS_KM_MAX}] km |`);
  });

  it('shows example frames the codec produces and decodes', () => {
    const codec = new WireCodec();
    const request = codec.encodeRequests([
      [1, 'hello', { versions: [1] }],
      [
        2,
        'placeOrder',
        {
          orderId: 'o-1',
          location: { lat: 12.97, lng: 77.59 },
          lines: [{ sku: 'milk', qty: 2 }],
          mode: 'hold',
        },
      ],
    ]);
    expect(Buffer.from(request).toString('hex')).toBe(exampleHex('example-request-hex'));
    const lines = [{ sku: 'milk', code: 'OUT_OF_STOCK', requested: 2, available: 1 }];
    const response = codec.encodeMessages([
      [2, 1, { code: 'OUT_OF_STOCK', message: 'not enough stock', lines }],
    ]);
    expect(Buffer.from(response).toString('hex')).toBe(exampleHex('example-response-hex'));
    const decoded = codec.decodeRequestFrame(Buffer.from(exampleHex('example-request-hex'), 'hex'));
    expect(decoded.ok).toBe(true);
  });

  it('shows a version-2 placeOrders request as the SDK sends it, and its answer', () => {
    const codec = new WireCodec();
    const location = { lat: 12.97, lng: 77.59 };
    const orders: PlaceOrderArgs[] = [
      {
        orderId: 'o-2',
        location,
        lines: [
          { sku: 'milk', qty: 2 },
          { sku: 'bread', qty: 1 },
        ],
        mode: 'hold',
      },
      { orderId: 'o-3', location, lines: [{ sku: 'eggs', qty: 6 }], mode: 'hold' },
    ];
    const options = {
      mode: 'hold',
      policy: undefined,
      ttlSeconds: undefined,
      maxMinutes: undefined,
    };
    const args = placeOrdersArgs(2, 3, options as never, (entry) => orders[entry]);
    const request = codec.encodeRequests([[4, 'placeOrders', args]]);
    expect(Buffer.from(request).toString('hex')).toBe(exampleHex('example-batch-request-hex'));
    // The SDK writes the same bytes itself (BatchEncoder), without building the args.
    const encoder = new BatchEncoder();
    const written = Buffer.concat([
      encoder.frameHeader(1),
      encoder.envelope(4, 'placeOrders'),
      encoder.placeOrders(2, 3, options as never, (entry) => orders[entry]),
    ]);
    expect(written.toString('hex')).toBe(exampleHex('example-batch-request-hex'));
    const decoded = codec.decodeRequestFrame(
      Buffer.from(exampleHex('example-batch-request-hex'), 'hex'),
    );
    if (!decoded.ok) throw new Error(decoded.message);
    const [, op, sent] = decoded.requests[0];
    expect(op).toBe('placeOrders');
    expect([...readF64Column(sent.lng, 2)!]).toEqual([77.59, 77.59]);
    expect([...readI32Column(sent.qty, 3)!]).toEqual([2, 1, 6]);

    const lines = [{ sku: 'eggs', code: 'OUT_OF_STOCK', requested: 6, available: 4 }];
    const answer = {
      results: i32Column(Int32Array.of(0, 2), 2),
      errors: [[1, { code: 'OUT_OF_STOCK', message: 'not enough stock', lines }]],
      status: i32Column(Int32Array.of(0, -1), 2),
      etaTenths: i32Column(Int32Array.of(124, 0), 2),
      expiresAt: f64Column(Float64Array.of(1_700_000_600_000, 0), 2),
      createdAt: f64Column(Float64Array.of(1_700_000_000_000, 0), 2),
      updatedAt: f64Column(Float64Array.of(1_700_000_000_000, 0), 2),
      allocations: i32Column(Int32Array.of(2, 0), 2),
      allocLine: i32Column(Int32Array.of(0, 1), 2),
      allocDc: i32Column(Int32Array.of(0, 0), 2),
      allocQty: i32Column(Int32Array.of(2, 1), 2),
      dcs: ['dc-7'],
    };
    const response = codec.encodeMessages([[4, 0, answer]]);
    expect(Buffer.from(response).toString('hex')).toBe(exampleHex('example-batch-response-hex'));
    const messages = codec.decodeMessageFrame(
      Buffer.from(exampleHex('example-batch-response-hex'), 'hex'),
    );
    if (!messages.ok) throw new Error(messages.message);
    const columns = readOrderColumns(messages.messages[0][2], 2);
    expect(columns).toBeDefined();
    const view = new OrderBatchResult(columns!, orders);
    expect([view.result(0), view.result(1)]).toEqual(['created', 'refused']);
    expect(view.order(0)).toMatchObject({
      orderId: 'o-2',
      status: 'held',
      etaMinutes: 12.4,
      expiresAt: 1_700_000_600_000,
      allocation: [
        { sku: 'milk', dc: 'dc-7', qty: 2 },
        { sku: 'bread', dc: 'dc-7', qty: 1 },
      ],
    });
    expect(view.error(1)).toMatchObject({ code: 'OUT_OF_STOCK', lines });
  });
});
