import { describe, expect, it } from 'vitest';
import { checkNodeOptions, defaultNodeOptions, OptionsError, parseCli } from './config.js';

const KEYS = JSON.stringify({ admin: 'a'.repeat(32) });

describe('parseCli', () => {
  it('has named defaults and reads every flag', () => {
    const defaults = parseCli([], {});
    expect(defaults.help).toBe(false);
    if (defaults.help) return;
    expect(defaults.options).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dataDir: './data',
      fsync: 'fsync',
      allowJsFallback: false,
      commitOrderTable: false,
      keys: null,
    });
    const parsed = parseCli(
      [
        '--port=9000',
        '--host',
        '0.0.0.0',
        '--threads',
        '3',
        '--data',
        '/tmp/x',
        '--fsync',
        'none',
        '--log-level',
        'warn',
        '--rate-limit',
        '100',
        '--rate-burst',
        '10',
        '--no-demo',
        '--allow-js-fallback',
        '--commit-order-table',
      ],
      { INVENTORY_KEYS: KEYS },
    );
    if (parsed.help) throw new Error('unexpected help');
    expect(parsed.options).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      threads: 3,
      dataDir: '/tmp/x',
      fsync: 'none',
      logLevel: 'warn',
      rateLimit: { requestsPerSecond: 100, burst: 10 },
      demo: null,
      allowJsFallback: true,
      commitOrderTable: true,
      keys: { reader: [], orderer: [], admin: ['a'.repeat(32)] },
    });
  });

  it('reads --fsync write, and commit as its deprecated name', () => {
    for (const [flag, policy] of [
      ['write', 'write'],
      ['commit', 'write'],
      ['fsync', 'fsync'],
    ]) {
      const parsed = parseCli(['--fsync', flag], {});
      if (parsed.help) throw new Error('unexpected help');
      expect(parsed.options.fsync, flag).toBe(policy);
    }
    expect(() => parseCli(['--fsync', 'sync'], {})).toThrow(/fsync, write, none/);
  });

  it('refuses bad values and unknown flags', () => {
    for (const argv of [
      ['--port', '70000'],
      ['--port', '-1'],
      ['--threads', '0'],
      ['--fsync', 'always'],
      ['--log-level', 'loud'],
      ['--rate-limit', '1.5'],
      ['--frobnicate'],
    ]) {
      expect(() => parseCli(argv, {}), argv.join(' ')).toThrow(OptionsError);
    }
    expect(() => parseCli([], { INVENTORY_KEYS: KEYS, INVENTORY_KEYS_FILE: '/x' })).toThrow();
  });

  it('reads the metrics switches and checks the subscriber buffer limit', () => {
    const defaults = parseCli([], {});
    if (defaults.help) throw new Error('unexpected help');
    expect(defaults.options).toMatchObject({ metrics: true, metricsOpen: false });
    const open = parseCli(['--metrics-open'], {});
    if (open.help) throw new Error('unexpected help');
    expect(open.options).toMatchObject({ metrics: true, metricsOpen: true });
    const off = parseCli(['--no-metrics'], {});
    if (off.help) throw new Error('unexpected help');
    expect(off.options.metrics).toBe(false);
    expect(() => parseCli(['--no-metrics', '--metrics-open'], {})).toThrow(OptionsError);
    expect(() => checkNodeOptions(defaultNodeOptions())).not.toThrow();
    for (const bytes of [0, 1.5, 64 * 1024 * 1024]) {
      const options = { ...defaultNodeOptions(), subscriberBufferBytesMax: bytes };
      expect(() => checkNodeOptions(options), String(bytes)).toThrow(OptionsError);
    }
  });

  it('answers --help', () => {
    expect(parseCli(['--help'], {}).help).toBe(true);
  });
});
