/**
 * The edge's one mapping from codes to what HTTP and WebSocket clients see, checked against
 * what it does not derive from: the statuses the wire contract (protocol/PROTOCOL.md) documents
 * and the reason phrases of HTTP itself (Node's STATUS_CODES).
 */

import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CloseCodes, ERROR_CODE_LIST, ErrorCodes, isErrorCode } from '../protocol/index.js';
import {
  errorFromUnknown,
  httpStatusOf,
  statusLine,
  type ViolationKind,
  violation,
} from './errors.js';

/** Raised by the SDK on its own side of the wire; no node answers them over HTTP. */
const CLIENT_SIDE = new Set(['ABORTED', 'CONNECT_FAILED', 'CONNECTION_LOST', 'CLOSED']);

/** `code → status` from the table of codes in protocol/PROTOCOL.md. */
function documentedStatuses(): Map<string, number> {
  const doc = readFileSync(resolve(import.meta.dirname, '../protocol/PROTOCOL.md'), 'utf8');
  const rows = doc.matchAll(/^\| `([A-Z][A-Z_]+)` \| (\d{3}) \|/gm);
  return new Map([...rows].map(([, code, status]) => [code, Number(status)]));
}

describe('error mapping', () => {
  it('answers every code with the status the protocol documents', () => {
    const documented = documentedStatuses();
    for (const code of ERROR_CODE_LIST) {
      expect(documented.has(code), code).toBe(true);
      expect(httpStatusOf(code), code).toBe(documented.get(code));
    }
    expect(httpStatusOf('NOT_A_CODE')).toBe(500);
    expect(httpStatusOf('BAD_LOG_OPTIONS'), 'a code no node answers').toBe(500);
  });

  it("gives every status a node answers with HTTP's own reason phrase", () => {
    const statuses = new Set([200, 201]);
    for (const code of ERROR_CODE_LIST) {
      if (!CLIENT_SIDE.has(code)) statuses.add(httpStatusOf(code));
    }
    for (const status of statuses) {
      expect(statusLine(status), String(status)).toBe(`${status} ${STATUS_CODES[status]}`);
    }
  });

  it('closes a connection that breaks the protocol with a wire code and a close code', () => {
    const kinds: ViolationKind[] = ['text-frame', 'not-reading', 'protocol-version'];
    const closeCodes = new Set<number>(Object.values(CloseCodes));
    for (const kind of kinds) {
      const { close, code } = violation(kind);
      expect(isErrorCode(code), kind).toBe(true);
      expect(closeCodes.has(close), kind).toBe(true);
      expect(close, kind).not.toBe(CloseCodes.NORMAL);
    }
    expect(violation('text-frame')).toEqual({ close: 1003, code: 'BAD_FRAME' });
  });

  it('passes known codes through and hides anything else as INTERNAL', () => {
    expect(errorFromUnknown({ code: 'READ_ONLY', message: 'log failed' })).toEqual({
      code: 'READ_ONLY',
      message: 'log failed',
    });
    const logRefusal = { code: 'BAD_LOG_OPTIONS', message: 'ring capacity' };
    expect(errorFromUnknown(logRefusal).code, 'not a wire code').toBe('INTERNAL');
    expect(errorFromUnknown(new Error('secret path /etc'))).toEqual({
      code: 'INTERNAL',
      message: ErrorCodes.INTERNAL.text,
    });
  });
});
