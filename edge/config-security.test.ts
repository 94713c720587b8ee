/**
 * The security flags of the node: TLS files and passphrase, per-key rate limits, and the key
 * file a reload reads.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkNodeOptions, defaultNodeOptions, OptionsError, parseCli, USAGE } from './config.js';
import { KeyConfigError } from './keys.js';
import {
  KEY_BURST_DEFAULT,
  KEY_BURST_MAX,
  KEY_REQUESTS_PER_SECOND_DEFAULT,
} from './rate-limiter.js';

function options(argv: string[], env: Record<string, string> = {}) {
  const parsed = parseCli(argv, env);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.options;
}

describe('TLS flags', () => {
  it('are off by default, and take both files and a passphrase from flag or environment', () => {
    expect(options([]).tls).toBeNull();
    expect(options(['--tls-cert', 'c.pem', '--tls-key', 'k.pem']).tls).toEqual({
      certFile: 'c.pem',
      keyFile: 'k.pem',
      passphrase: null,
    });
    const fromEnv = options(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {
      INVENTORY_TLS_PASSPHRASE: 'from env',
    });
    expect(fromEnv.tls?.passphrase).toBe('from env');
    const fromFlag = options(
      ['--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-passphrase', 'flag'],
      { INVENTORY_TLS_PASSPHRASE: 'from env' },
    );
    expect(fromFlag.tls?.passphrase).toBe('flag');
  });

  it('refuse one file without the other, and a passphrase without files', () => {
    for (const argv of [
      ['--tls-cert', 'c.pem'],
      ['--tls-key', 'k.pem'],
      ['--tls-cert', '', '--tls-key', 'k.pem'],
      ['--tls-passphrase', 'p'],
    ]) {
      expect(() => parseCli(argv, {}), argv.join(' ')).toThrow(OptionsError);
    }
  });
});

describe('per-key rate flags', () => {
  it('default high, and are range-checked', () => {
    expect(options([]).keyRateLimit).toEqual({
      requestsPerSecond: KEY_REQUESTS_PER_SECOND_DEFAULT,
      burst: KEY_BURST_DEFAULT,
    });
    // The project's own load (about a million pings a second with one key) is under them.
    expect(KEY_REQUESTS_PER_SECOND_DEFAULT).toBeGreaterThanOrEqual(2_000_000);
    expect(options(['--key-rate', '100', '--key-burst', '20']).keyRateLimit).toEqual({
      requestsPerSecond: 100,
      burst: 20,
    });
    for (const argv of [
      ['--key-rate', '0'],
      ['--key-rate', '1.5'],
      ['--key-burst', '0'],
      ['--key-burst', String(KEY_BURST_MAX + 1)],
    ]) {
      expect(() => parseCli(argv, {}), argv.join(' ')).toThrow(OptionsError);
    }
    const tooBig = { ...defaultNodeOptions(), keyRateLimit: { requestsPerSecond: 1, burst: 0 } };
    expect(() => checkNodeOptions(tooBig)).toThrow(OptionsError);
  });

  it('are in the usage text, with the TLS flags and SIGHUP', () => {
    for (const flag of [
      '--key-rate',
      '--key-burst',
      '--tls-cert',
      '--tls-key',
      '--tls-passphrase',
    ]) {
      expect(USAGE).toContain(flag);
    }
    expect(USAGE).toContain('SIGHUP');
  });
});

describe('INVENTORY_KEYS_FILE', () => {
  it('is read at start, checked, and remembered for reloads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inventory-config-'));
    try {
      const file = join(dir, 'keys.json');
      writeFileSync(file, JSON.stringify({ reader: [{ id: 'dash', sha256: 'ab'.repeat(32) }] }));
      const parsed = options([], { INVENTORY_KEYS_FILE: file });
      expect(parsed.keysFile).toBe(file);
      expect(parsed.keys?.reader).toEqual([{ id: 'dash', sha256: 'ab'.repeat(32) }]);
      expect(
        options([], { INVENTORY_KEYS: JSON.stringify({ admin: 'a'.repeat(20) }) }).keysFile,
      ).toBeNull();
      writeFileSync(file, JSON.stringify({ reader: [{ id: 'dash', sha256: 'not hex' }] }));
      expect(() => parseCli([], { INVENTORY_KEYS_FILE: file })).toThrow(KeyConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
