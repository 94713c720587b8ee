/** StringTable: a Map's answers for string keys, including keys an object would inherit. */

import { describe, expect, it } from 'vitest';
import { StringTable } from './string-table.js';

describe('StringTable', () => {
  it('gets, counts and clears like a Map', () => {
    const table = new StringTable<number>();
    expect(table.size).toBe(0);
    expect(table.get('milk')).toBeUndefined();
    expect(table.has('milk')).toBe(false);
    table.set('milk', 0);
    table.set('bread', 1);
    table.set('milk', 7);
    expect(table.size).toBe(2);
    expect(table.get('milk')).toBe(7);
    expect(table.has('bread')).toBe(true);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.has('milk')).toBe(false);
  });

  it('keeps keys an object would inherit or treat as indexes as plain keys', () => {
    const table = new StringTable<number>();
    const keys = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '123', ''];
    for (const key of keys) expect(table.has(key)).toBe(false);
    for (const [at, key] of keys.entries()) table.set(key, at);
    expect(table.size).toBe(keys.length);
    for (const [at, key] of keys.entries()) expect(table.get(key)).toBe(at);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });

  it('finds a key by its value, whatever string object carries it', () => {
    const table = new StringTable<string>();
    table.set(`sku-${'0'.repeat(3)}1`, 'first');
    expect(table.get(['sku', '0001'].join('-'))).toBe('first');
    expect(table.get(JSON.parse('"sku-0001"'))).toBe('first');
  });
});
