import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../engine/log.js';
import { RECORD_FLAG_BATCH_END, RECORD_HEADER_BYTES } from './constants.js';
import { checkStoredRecord, RecordDecoder, RecordEncoder, storedValue } from './record.js';

const RECORDS: LogRecord[] = [
  {
    type: 'dc',
    at: 1,
    actor: 'ops',
    dc: {
      index: 0,
      id: 'dc-1',
      name: 'Koramangala',
      location: { lat: 12.9352, lng: 77.6245 },
      radiusKm: null,
      area: {
        type: 'Polygon',
        coordinates: [
          [
            [77.6, 12.9],
            [77.7, 12.9],
            [77.6, 13],
            [77.6, 12.9],
          ],
        ],
      },
      speedKmh: 20,
      prepMinutes: 8,
      active: true,
    },
  },
  {
    type: 'sku',
    at: 2,
    actor: 'ops',
    sku: {
      index: 3,
      id: 'sku-3',
      name: 'Milk',
      category: null,
      lowStockThreshold: 5,
      maxPerOrder: 0,
    },
  },
  { type: 'receive', at: 3, actor: 'wms', reason: 'inbound', dc: 0, sku: 3, qty: 2_147_483_647 },
  { type: 'adjust', at: 4, actor: 'wms', reason: 'count', dc: 0, sku: 3, onHand: 7, delta: -9 },
  {
    type: 'place',
    at: 1_700_000_000_123,
    orderId: 'order-é-1',
    mode: 0,
    policy: 1,
    lat: -33.8688,
    lng: 151.2093,
    etaMinutes: 17.25,
    expiresAt: 1_700_000_600_123,
    fingerprint: -123456789,
    allocation: [0, 3, 2, 1, 3, 1],
  },
  { type: 'confirm', at: 6, orderId: 'o', released: [1, 3, 1] },
  { type: 'cancel', at: 7, orderId: 'o' },
  { type: 'expire', at: 8, orderId: 'o' },
  { type: 'extend', at: 9, orderId: 'o', expiresAt: 10 },
  {
    type: 'change',
    at: 11,
    orderId: 'o',
    fingerprint: 5,
    etaMinutes: 9,
    expiresAt: 12,
    allocation: [0, 3, 1],
  },
  { type: 'fulfil', at: 13, orderId: 'o' },
];

describe('record codec', () => {
  it('round-trips every record type exactly through a stored value', () => {
    const encoder = new RecordEncoder();
    const decoder = new RecordDecoder();
    RECORDS.forEach((record, i) => {
      const lsn = 2 ** 40 + i;
      const value = storedValue(encoder.encode(record), i % 2 ? RECORD_FLAG_BATCH_END : 0, lsn);
      expect(checkStoredRecord(value, lsn)).toBe('ok');
      expect(decoder.decode(value)).toEqual(record);
    });
  });

  it('detects flipped bits, a wrong key, truncation and a foreign format', () => {
    const encoder = new RecordEncoder();
    const value = storedValue(encoder.encode(RECORDS[4]), RECORD_FLAG_BATCH_END, 42);
    expect(checkStoredRecord(value, 43)).toBe('crc');
    for (const index of [1, 4, RECORD_HEADER_BYTES, value.length - 1]) {
      const copy = Buffer.from(value);
      copy[index] ^= 0x10;
      expect(checkStoredRecord(copy, 42)).toBe('crc');
    }
    expect(checkStoredRecord(value.subarray(0, value.length - 1), 42)).toBe('crc');
    expect(checkStoredRecord(value.subarray(0, RECORD_HEADER_BYTES), 42)).toBe('short');
    const foreign = Buffer.from(value);
    foreign[0] = 9;
    expect(checkStoredRecord(foreign, 42)).toBe('format');
  });

  it('refuses payloads that are not records', () => {
    const decoder = new RecordDecoder();
    const encoder = new RecordEncoder();
    expect(decoder.decode(storedValue(Buffer.from([0xc1]), 0, 1))).toBeNull();
    const notRecord = { type: 'launch', at: 1 } as unknown as LogRecord;
    expect(decoder.decode(storedValue(encoder.encode(notRecord), 0, 1))).toBeNull();
  });
});
