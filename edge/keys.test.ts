import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  demoKeysToConfig,
  generateDemoKeys,
  KeyConfigError,
  KeyRing,
  parseKeyConfig,
  readDemoKeys,
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
    });
    expect(ring.identify('bearer  orderer-key-ccccccccccc ')).toEqual({
      role: 'orderer',
      actor: 'orderer-key-2',
      index: 2,
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
