import { describe, expect, it } from 'vitest';
import {
  decodeMarker,
  decodeRecords,
  encodeMarker,
  encodeRecords,
  logMessageId,
  readHead,
  writeHead,
} from './log-message.js';

function headerMap(): { get(name: string): string; set(name: string, value: string): void } {
  const map = new Map<string, string>();
  return { get: (name) => map.get(name) ?? '', set: (name, value) => map.set(name, value) };
}

describe('log messages', () => {
  it('carries stored values byte for byte', () => {
    const values = [new Uint8Array([2, 1, 5, 0, 9, 9, 9, 9, 0x81]), new Uint8Array(300).fill(7)];
    const decoded = decodeRecords(encodeRecords(values), 2);
    expect(decoded?.map((value) => [...value])).toEqual(values.map((value) => [...value]));
  });

  it('refuses a payload that does not hold exactly the records announced', () => {
    const payload = encodeRecords([new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
    expect(decodeRecords(payload, 1)).toBeNull();
    expect(decodeRecords(payload, 3)).toBeNull();
    expect(decodeRecords(payload.subarray(0, payload.length - 1), 2)).toBeNull();
    expect(decodeRecords(new Uint8Array([0, 0, 0, 0]), 1)).toBeNull();
    expect(decodeRecords(new Uint8Array([255, 255, 255, 255, 1]), 1)).toBeNull();
    expect(decodeRecords(new Uint8Array([1, 0]), 1)).toBeNull();
  });

  it('writes and reads the headers, and refuses bad ones', () => {
    const headers = headerMap();
    const head = {
      region: 'bengaluru',
      epoch: 3,
      kind: 'batch',
      firstLsn: 41,
      records: 7,
    } as const;
    writeHead(headers, head);
    expect(readHead(headers)).toEqual(head);
    expect(logMessageId(head)).toBe('bengaluru:3:41');
    expect(logMessageId({ ...head, kind: 'epoch' })).toBe('bengaluru:3:epoch');
    for (const [name, value] of [
      ['Inventory-Kind', 'other'],
      ['Inventory-Epoch', '-1'],
      ['Inventory-First-Lsn', 'x'],
      ['Inventory-Records', '0'],
      ['Inventory-Region', ''],
    ]) {
      const bad = headerMap();
      writeHead(bad, head);
      bad.set(name, value);
      expect(readHead(bad), `${name}=${value}`).toBeNull();
    }
    expect(readHead(undefined)).toBeNull();
  });

  it('round-trips an epoch marker and refuses a malformed one', () => {
    const marker = { nodeId: 'n', url: 'ws://x/v1/ws', epoch: 2, lastLsn: 9, lastSession: 4 };
    expect(decodeMarker(encodeMarker(marker))).toEqual(marker);
    expect(decodeMarker(new TextEncoder().encode('{"epoch":"2"}'))).toBeNull();
    expect(decodeMarker(new Uint8Array([0xff]))).toBeNull();
  });
});
