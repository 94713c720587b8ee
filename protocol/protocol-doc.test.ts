/**
 * Keeps PROTOCOL.md in step with the code: every op and every error code is documented, the
 * limits it quotes match limits.ts, and the example frames are what the codec produces.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WireCodec } from './codec.js';
import { ERROR_CODE_LIST, ErrorCodes } from './codes.js';
import {
  FRAME_BYTES_MAX,
  IN_FLIGHT_MAX,
  LINES_PER_ORDER_MAX,
  REQUESTS_PER_FRAME_MAX,
  SKUS_PER_REQUEST_MAX,
  SUBSCRIPTIONS_PER_CONNECTION_MAX,
} from './limits.js';
import { OP_LIST } from './messages.js';

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
});
