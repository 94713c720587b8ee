import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  demoKeysToConfig,
  generateDemoKeys,
  type KeyConfig,
  KeyConfigError,
  KeyRing,
  KeySlots,
  keyTableOf,
  parseKeyConfig,
  readDemoKeys,
  resolveKeyConfig,
  writeDemoKeys,
} from './keys.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('KeyRing', () => {
  const ring = new KeyRing({
    reader: ['reader-key-aaaaaaaaaaaa'],
    orderer: ['orderer-key-bbbbbbbbbbb', 'orderer-key-ccccccccccc'],
    admin: ['admin-key-dddddddddddddd'],
  });

  it('identifies each key with its role and a log name that does not reveal it', () => {
    expect(ring.identify('Bearer reader-key-aaaaaaaaaaaa')).toEqual({
      role: 'reader',
      actor: 'reader-key-1',
      index: 0,
      connectionsMax: null,
    });
    expect(ring.identify('bearer  orderer-key-ccccccccccc ')).toEqual({
      role: 'orderer',
      actor: 'orderer-key-2',
      index: 2,
      connectionsMax: null,
    });
    expect(ring.identify('Bearer admin-key-dddddddddddddd')?.role).toBe('admin');
  });

  it('refuses missing, malformed, unknown and near-miss keys', () => {
    for (const header of [
      '',
      'Bearer',
      'Bearer ',
      'Basic reader-key-aaaaaaaaaaaa',
      'reader-key-aaaaaaaaaaaa',
      'Bearer reader-key-aaaaaaaaaaab',
      'Bearer reader-key-aaaaaaaaaaaa extra',
      `Bearer ${'x'.repeat(10_000)}`,
    ]) {
      expect(ring.identify(header), header.slice(0, 40)).toBeNull();
    }
  });
});

describe('key files', () => {
  it('parses one key or a list per role, and refuses typos, short keys and empty files', () => {
    const config = parseKeyConfig(
      JSON.stringify({ reader: 'r'.repeat(20), admin: ['a'.repeat(20), 'b'.repeat(20)] }),
      'test',
    );
    expect(config).toEqual({
      reader: ['r'.repeat(20)],
      orderer: [],
      admin: ['a'.repeat(20), 'b'.repeat(20)],
    });
    expect(() => parseKeyConfig('{"readers": "x"}', 't')).toThrow(KeyConfigError);
    expect(() => parseKeyConfig('{"reader": "short"}', 't')).toThrow(KeyConfigError);
    expect(() => parseKeyConfig('{"reader": "has space in the key"}', 't')).toThrow(KeyConfigError);
    expect(() => parseKeyConfig('{}', 't')).toThrow(KeyConfigError);
    expect(() => parseKeyConfig('[', 't')).toThrow(KeyConfigError);
  });

  it('forgets the keys it remembered when a reload removes them', () => {
    const keys = generateDemoKeys();
    const ring = new KeyRing(demoKeysToConfig(keys));
    const header = `Bearer ${keys.reader}`;
    expect(ring.identify(header)?.role).toBe('reader');
    // Asked again: the same answer (now from the remembered values).
    expect(ring.identify(header)?.role).toBe('reader');
    const others = generateDemoKeys();
    ring.load(keyTableOf(resolveKeyConfig(demoKeysToConfig(others)), 2));
    expect(ring.identify(header)).toBeNull();
    expect(ring.identify(`Bearer ${others.reader}`)?.role).toBe('reader');
    // Many distinct valid headers (whitespace variants) never grow the memory past its bound.
    for (let spaces = 1; spaces < 200; spaces++) {
      expect(ring.identify(`Bearer${' '.repeat(spaces)}${others.admin}`)?.role).toBe('admin');
    }
  });

  it('writes demo keys readable by the owner only and reads them back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    dirs.push(dir);
    const path = join(dir, 'keys.json');
    writeFileSync(path, '{}', { mode: 0o644 });
    const keys = generateDemoKeys();
    expect(keys.reader).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(Object.values(keys)).size).toBe(3);
    writeDemoKeys(path, keys);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readDemoKeys(path)).toEqual(keys);
    const ring = new KeyRing(demoKeysToConfig(keys));
    expect(ring.identify(`Bearer ${keys.orderer}`)?.role).toBe('orderer');
  });
});

const sha256 = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

describe('key files with ids and digests', () => {
  const SERVICE_KEY = 'service-a-key-0123456789';
  const text = JSON.stringify({
    orderer: [
      { id: 'svc-a', sha256: sha256(SERVICE_KEY).toUpperCase(), requestsPerSecond: 50 },
      { id: 'svc-b', key: 'service-b-key-0123456789', burst: 10, connectionsMax: 2 },
      'orderer-plain-key-0123',
    ],
    admin: 'admin-plain-key-012345',
  });

  it('takes digests, ids and limits beside plain keys, and serves a digest like a key', () => {
    const config = parseKeyConfig(text, 'test');
    const keys = resolveKeyConfig(config);
    expect(keys.map((key) => key.id)).toEqual(['svc-a', 'svc-b', 'orderer-key-3', 'admin-key-1']);
    expect(keys[0]).toMatchObject({ role: 'orderer', sha256: sha256(SERVICE_KEY) });
    expect(keys[0]).toMatchObject({ requestsPerSecond: 50, burst: null, connectionsMax: null });
    expect(keys[1]).toMatchObject({ requestsPerSecond: null, burst: 10, connectionsMax: 2 });
    // Nothing of a key is kept but its digest.
    expect(JSON.stringify(keys)).not.toContain('service-b-key');
    const ring = new KeyRing(config);
    expect(ring.identify(`Bearer ${SERVICE_KEY}`)).toEqual({
      role: 'orderer',
      actor: 'svc-a',
      index: 0,
      connectionsMax: null,
    });
    expect(ring.identify('Bearer service-b-key-0123456789')?.connectionsMax).toBe(2);
    expect(ring.identify(`Bearer ${sha256(SERVICE_KEY)}`)).toBeNull();
    expect(ring.identify('Bearer orderer-plain-key-0123')?.actor).toBe('orderer-key-3');
  });

  it('refuses bad ids, digests, limits, fields, duplicates and ambiguous entries', () => {
    const bad: unknown[] = [
      { orderer: [{ id: 'has space', sha256: sha256('x') }] },
      { orderer: [{ id: '', key: SERVICE_KEY }] },
      { orderer: [{ id: 'a', sha256: 'abc' }] },
      { orderer: [{ id: 'a', sha256: `${sha256('x').slice(1)}g` }] },
      { orderer: [{ id: 'a' }] },
      { orderer: [{ id: 'a', key: SERVICE_KEY, sha256: sha256(SERVICE_KEY) }] },
      { orderer: [{ id: 'a', key: 'short' }] },
      { orderer: [{ id: 'a', key: SERVICE_KEY, rate: 5 }] },
      { orderer: [{ id: 'a', key: SERVICE_KEY, burst: 0 }] },
      { orderer: [{ id: 'a', key: SERVICE_KEY, burst: 3_000_000 }] },
      { orderer: [{ id: 'a', key: SERVICE_KEY, requestsPerSecond: 1.5 }] },
      { orderer: [42] },
      { orderer: [{ id: 'a', key: SERVICE_KEY }], admin: [{ id: 'a', key: `${SERVICE_KEY}x` }] },
      {
        orderer: [{ id: 'a', key: SERVICE_KEY }],
        admin: [{ id: 'b', sha256: sha256(SERVICE_KEY) }],
      },
      { reader: SERVICE_KEY, orderer: SERVICE_KEY },
      { orderer: [{ id: 'reader-key-1', key: SERVICE_KEY }], reader: 'reader-plain-key-0123' },
    ];
    for (const value of bad) {
      expect(() => parseKeyConfig(JSON.stringify(value), 't'), JSON.stringify(value)).toThrow(
        KeyConfigError,
      );
    }
  });

  it("keeps today's plain files working", () => {
    const plain = { reader: ['r'.repeat(20)], orderer: 'o'.repeat(20), admin: ['a'.repeat(20)] };
    const config = parseKeyConfig(JSON.stringify(plain), 'plain');
    expect(config.orderer).toEqual(['o'.repeat(20)]);
    const ring = new KeyRing(config);
    expect(ring.identify(`Bearer ${'o'.repeat(20)}`)?.actor).toBe('orderer-key-1');
  });
});

describe('KeyRing reloads', () => {
  const config = (entries: Partial<KeyConfig>): KeyConfig => ({
    reader: [],
    orderer: [],
    admin: [],
    ...entries,
  });
  const KEY_A = 'key-a-0123456789abcdef';
  const KEY_B = 'key-b-0123456789abcdef';

  it('serves a new table at once and tells which identities it no longer holds', () => {
    const first = keyTableOf(resolveKeyConfig(config({ reader: [{ id: 'a', key: KEY_A }] })), 1);
    const ring = new KeyRing(first);
    const a = ring.identifyKey(KEY_A)!;
    expect(ring.holds(a)).toBe(true);
    const second = keyTableOf(resolveKeyConfig(config({ reader: [{ id: 'b', key: KEY_B }] })), 2);
    ring.load(second);
    expect(ring.generation).toBe(2);
    expect(ring.identifyKey(KEY_A)).toBeNull();
    expect(ring.identifyKey(KEY_B)?.actor).toBe('b');
    // Slot 0 now belongs to another key: a's connections are not b's.
    expect(ring.holds(a)).toBe(false);
  });
});

describe('KeySlots', () => {
  const entries = (...ids: string[]) =>
    resolveKeyConfig({
      reader: ids.map((id) => ({ id, key: `${id}-key-0123456789abcdef` })),
      orderer: [],
      admin: [],
    });
  const slotsOf = (records: { id: string; slot: number }[]) =>
    records.map((record) => [record.id, record.slot]);

  it('keeps a surviving key on its slot and reuses a slot only when it is settled and idle', () => {
    const busy = new Set<number>();
    const slots = new KeySlots((slot) => busy.has(slot));
    const first = slots.next(entries('a', 'b'), 0);
    expect(first.table.generation).toBe(1);
    expect(slotsOf(first.table.keys)).toEqual([
      ['a', 0],
      ['b', 1],
    ]);
    // a is removed while a connection of it is still open; c is added.
    busy.add(0);
    const second = slots.next(entries('b', 'c'), 1);
    expect(slotsOf(second.removed)).toEqual([['a', 0]]);
    expect(slotsOf(second.kept)).toEqual([['b', 1]]);
    expect(slotsOf(second.added)).toEqual([['c', 2]]);
    // Slot 0 was retired by generation 2: not reused before every worker applied it...
    busy.delete(0);
    expect(slotsOf(slots.next(entries('b', 'c', 'd'), 1).added)).toEqual([['d', 3]]);
    // ...nor while a connection of the old key is open...
    busy.add(0);
    expect(slotsOf(slots.next(entries('b', 'c', 'd', 'e'), 3).added)).toEqual([['e', 4]]);
    // ...and then it is.
    busy.delete(0);
    const last = slots.next(entries('b', 'c', 'd', 'e', 'f'), 4);
    expect(last.table.generation).toBe(5);
    expect(slotsOf(last.added)).toEqual([['f', 0]]);
    expect(slotsOf(last.kept)).toEqual([
      ['b', 1],
      ['c', 2],
      ['d', 3],
      ['e', 4],
    ]);
  });

  it('gives a key whose digest or role changed under the same id a new slot', () => {
    const slots = new KeySlots(() => false);
    slots.next(entries('a'), 0);
    const rotated = slots.next(
      resolveKeyConfig({
        reader: [{ id: 'a', key: 'another-key-0123456789' }],
        orderer: [],
        admin: [],
      }),
      1,
    );
    expect(slotsOf(rotated.removed)).toEqual([['a', 0]]);
    expect(slotsOf(rotated.added)).toEqual([['a', 1]]);
    const promoted = slots.next(
      resolveKeyConfig({
        reader: [],
        orderer: [{ id: 'a', key: 'another-key-0123456789' }],
        admin: [],
      }),
      2,
    );
    expect(slotsOf(promoted.added)).toEqual([['a', 0]]);
  });
});
