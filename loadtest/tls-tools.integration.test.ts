/**
 * The tools against a node that serves TLS, each run as a user runs it (a child process of
 * `dist/`): `npm run stats` over https://, `npm run load` and `npm run loadtest` over wss://,
 * `npm run loadtest:http` over https://, trusting the test's CA by flag or environment; and
 * `npm run loadtest -- --start --tls`, which makes its own certificate and node.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSignedCertificate, type TestCertificate } from '../edge/testing/tls.js';
import { type NodeProcess, repoRoot, startNodeProcess } from './node-process.js';

const ROOT = repoRoot();
/** A tool that runs longer than this has hung. */
const TOOL_MS_MAX = 120_000;

let dir: string;
let cert: TestCertificate;
let node: NodeProcess;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/<script> ...args` with extra environment; resolves when it exits. */
function tool(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', script), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: TOOL_MS_MAX,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inventory-tls-tools-'));
  cert = makeSelfSignedCertificate(dir);
  node = await startNodeProcess({
    threads: 2,
    fsync: 'none',
    cpus: null,
    orderCapacity: null,
    extraArgs: ['--no-demo'],
    tls: cert,
  });
});

afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the tools over TLS', () => {
  it('start a node that says https:// and wss://', () => {
    expect(node.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(node.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/ws$/);
  });

  it('npm run load: wss:// with --ca; refused without it', async () => {
    const env = { INVENTORY_ADMIN_KEY: node.keys.admin };
    const file = join(ROOT, 'examples', 'network.ndjson');
    const loaded = await tool(
      'tools/bulk-load.js',
      ['--url', node.wsUrl, '--ca', cert.caFile, file],
      env,
    );
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(JSON.parse(loaded.stdout)).toMatchObject({ failed: 0 });
    const untrusted = await tool('tools/bulk-load.js', ['--url', node.wsUrl, file], env);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate/);
  });

  it('npm run stats: https:// with INVENTORY_CA_FILE; no answer without it', async () => {
    const env = { INVENTORY_KEY: node.keys.reader };
    const args = ['--url', node.url, '--seconds', '1', '--interval-ms', '400'];
    const trusted = await tool('tools/stats.js', args, { ...env, INVENTORY_CA_FILE: cert.caFile });
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stdout).toContain('ready yes');
    const untrusted = await tool('tools/stats.js', args, env);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toMatch(/certificate/);
  });

  it('npm run loadtest: wss:// with --ca, the generators forked to trust it', async () => {
    const out = join(dir, 'ws-load.json');
    const run = await tool('loadtest/ws-load.js', [
      ...['--url', node.wsUrl, '--keys-file', join(node.dataDir, 'keys.json')],
      ...['--ca', cert.caFile, '--duration', '0.5', '--warmup', '0', '--dcs', '2'],
      ...['--skus', '50', '--connections', '1', '--window', '16', '--out', out],
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('(forked, TLS)');
    expect(run.stdout).toMatch(/order\s+[\d.]+/);
  });

  it('npm run loadtest:http: https:// with --ca for provisioning', async () => {
    const run = await tool('loadtest/http-load.js', [
      ...['--url', node.url, '--keys-file', join(node.dataDir, 'keys.json'), '--ca', cert.caFile],
      ...['--scenario', 'availability', '--duration', '1', '--connections', '2'],
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/availability: \d+ requests\/s/);
    expect(run.stdout).toContain('non-2xx 0, errors 0');
    // Measured against the wire's own limit (GET /healthz, same settings) in the same run.
    expect(run.stdout).toMatch(/healthz \(for availability\): \d+ requests\/s/);
    expect(run.stdout).toMatch(/availability ÷ \/healthz: \d+\.\d\d× .*pipelining 4/);
  });

  it('npm run loadtest -- --start --tls: its own certificate and TLS node', async () => {
    const run = await tool('loadtest/ws-load.js', [
      ...['--start', '--tls', '--fsync', 'none', '--threads', '1', '--scenario', 'orders'],
      ...['--duration', '0.5', '--warmup', '0', '--dcs', '2', '--skus', '50'],
      ...['--connections', '1', '--window', '16', '--out', join(dir, 'ws-load-start.json')],
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('fsync=none, TLS');
    expect(run.stdout).toContain('(forked, TLS)');
  });
});
