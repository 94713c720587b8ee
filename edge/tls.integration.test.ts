/**
 * A node serving TLS: https:// and wss:// on its one port from every worker, the SDK and
 * Node's fetch against it with the test's own CA, plain http:// and ws:// refused without harm,
 * only TLS 1.2 and 1.3, and a clear refusal at start for files that cannot serve.
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryClient, InventoryError } from '../protocol/client/index.js';
import { http, makeDataDir, startTestNode, type TestNode } from './testing/harness.js';
import { makeSelfSignedCertificate, type TestCertificate } from './testing/tls.js';

const HERE = { lat: 48.137, lng: 11.575 };
const ROOT = new URL('..', import.meta.url).pathname;

let dir: string;
let cert: TestCertificate;
let test: TestNode;
const clients: InventoryClient[] = [];

/** An SDK client over wss:// trusting the test's CA, or with `trust` null the system's CAs. */
async function connect(key: string, trust: 'ca' | null = 'ca'): Promise<InventoryClient> {
  const client = await InventoryClient.connect(test.node.wsUrl, {
    apiKey: key,
    timeoutMs: 10_000,
    reconnect: false,
    ca: trust === 'ca' ? cert.ca : undefined,
  });
  clients.push(client);
  return client;
}

async function refusal(promise: Promise<unknown>): Promise<InventoryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InventoryError);
    return error as InventoryError;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inventory-tls-'));
  cert = makeSelfSignedCertificate(dir);
  test = await startTestNode({
    tls: { certFile: cert.certFile, keyFile: cert.keyFile, passphrase: null },
  });
  const admin = await connect(test.keys.admin);
  await admin.upsertDc({ id: 'muc-1', name: 'Munich 1', location: HERE, radiusKm: 4 });
  await admin.upsertSku({ id: 'pretzel', name: 'Pretzel', category: 'bakery' });
  await admin.receive({ dc: 'muc-1', sku: 'pretzel', qty: 100 });
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await test?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function order(orderId: string) {
  return { orderId, location: HERE, lines: [{ sku: 'pretzel', qty: 2 }], mode: 'hold' as const };
}

/** Runs a script in a child Node with `env`; resolves with its stdout, rejects on failure. */
function runNode(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`)),
    );
  });
}

describe('a node with TLS', () => {
  it('says https:// and wss://, and answers HTTPS from every worker', async () => {
    expect(test.node.url).toBe(`https://127.0.0.1:${test.node.port}`);
    expect(test.node.wsUrl).toBe(`wss://127.0.0.1:${test.node.port}/v1/ws`);
    const ready = await http(test.node.port, '/readyz', { ca: cert.ca });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, workersListening: 2 });
  });

  it('serves the SDK over wss:// with the CA: orders placed, confirmed and read back', async () => {
    const orderer = await connect(test.keys.orderer);
    const { order: placed } = await orderer.placeOrder(order('tls-o-1'));
    expect(placed).toMatchObject({ orderId: 'tls-o-1', status: 'held' });
    await orderer.confirm({ orderId: 'tls-o-1' });
    const reader = await connect(test.keys.reader);
    const { order: read } = await reader.getOrder({ orderId: 'tls-o-1' });
    expect(read.status).toBe('confirmed');
    const { skus } = await reader.availability({ ...HERE, skus: ['pretzel'] });
    expect(skus.pretzel.available).toBe(98);
  });

  it('refuses an SDK client that does not trust the certificate', async () => {
    const error = await refusal(connect(test.keys.reader, null));
    expect(error.code).toBe('CONNECT_FAILED');
    expect(error.message).toMatch(/certificate/);
  });

  it("answers Node's fetch trusting the CA through NODE_EXTRA_CA_CERTS", async () => {
    const script = `
      const url = ${JSON.stringify(test.node.url)};
      const auth = { authorization: 'Bearer ${test.keys.orderer}' };
      const ready = await fetch(url + '/readyz');
      const placed = await fetch(url + '/v1/orders', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(${JSON.stringify(order('tls-fetch-1'))}),
      });
      const read = await fetch(url + '/v1/orders/tls-fetch-1', { headers: auth });
      console.log(JSON.stringify({
        ready: ready.status, placed: placed.status, read: await read.json(),
      }));`;
    const out = JSON.parse(await runNode(script, { NODE_EXTRA_CA_CERTS: cert.caFile }));
    expect(out).toMatchObject({ ready: 200, placed: 201, read: { orderId: 'tls-fetch-1' } });
    await expect(runNode(script.replace('tls-fetch-1', 'tls-fetch-2'), {})).rejects.toThrow(
      /fetch failed/,
    );
  });

  it('fails plain http:// and ws:// cleanly, and keeps serving', async () => {
    await expect(http(test.node.port, '/readyz')).rejects.toThrow();
    const error = await refusal(
      InventoryClient.connect(`ws://127.0.0.1:${test.node.port}/v1/ws`, {
        apiKey: test.keys.reader,
        timeoutMs: 5_000,
        reconnect: false,
      }),
    );
    expect(error.code).toBe('CONNECT_FAILED');
    // A broken handshake record: the node neither crashes nor stops serving others (uWS
    // keeps such a socket until the client goes; see loadtest/RESULTS.md, TLS).
    const garbage = netConnect(test.node.port, '127.0.0.1');
    garbage.on('error', () => {});
    await new Promise<void>((resolve) => garbage.once('connect', () => resolve()));
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff]));
    const ready = await http(test.node.port, '/readyz', { ca: cert.ca });
    expect(ready.status).toBe(200);
    const reader = await connect(test.keys.reader);
    expect((await reader.ping()).now).toBeGreaterThan(0);
    garbage.destroy();
  });

  it('speaks TLS 1.2 and 1.3 only', async () => {
    const handshake = (version: SecureVersion) =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: test.node.port,
          ca: cert.ca,
          minVersion: version,
          maxVersion: version,
          // Lets the client offer the old versions at all; the server must refuse them.
          ciphers: 'DEFAULT:@SECLEVEL=0',
        });
        socket.once('secureConnect', () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.destroy();
        });
        socket.once('error', () => resolve('refused'));
      });
    expect(await handshake('TLSv1.3')).toBe('TLSv1.3');
    expect(await handshake('TLSv1.2')).toBe('TLSv1.2');
    expect(await handshake('TLSv1.1')).toBe('refused');
    expect(await handshake('TLSv1')).toBe('refused');
  });
});

describe('TLS files that cannot serve', () => {
  it('are refused before anything is opened, with the exit code of the fault', async () => {
    const other = makeSelfSignedCertificate(mkdtempSync(join(dir, 'other-')));
    const encrypted = makeSelfSignedCertificate(mkdtempSync(join(dir, 'enc-')), 'open sesame');
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const cases = [
      {
        tls: { certFile: join(dir, 'missing.pem'), keyFile: cert.keyFile },
        code: 'TLS_FILE_UNREADABLE',
        exitCode: 66,
      },
      {
        tls: { certFile: cert.certFile, keyFile: join(dir, 'missing.pem') },
        code: 'TLS_FILE_UNREADABLE',
        exitCode: 66,
      },
      { tls: { certFile: garbage, keyFile: cert.keyFile }, code: 'BAD_TLS', exitCode: 78 },
      { tls: { certFile: cert.certFile, keyFile: garbage }, code: 'BAD_TLS', exitCode: 78 },
      { tls: { certFile: cert.certFile, keyFile: other.keyFile }, code: 'BAD_TLS', exitCode: 78 },
      {
        tls: { certFile: encrypted.certFile, keyFile: encrypted.keyFile },
        code: 'BAD_TLS',
        exitCode: 78,
      },
      {
        tls: { certFile: encrypted.certFile, keyFile: encrypted.keyFile, passphrase: 'wrong' },
        code: 'BAD_TLS',
        exitCode: 78,
      },
    ];
    for (const { tls, code, exitCode } of cases) {
      const dataDir = makeDataDir();
      try {
        await expect(
          startTestNode({ dataDir, tls: { passphrase: null, ...tls } }),
          JSON.stringify(tls),
        ).rejects.toMatchObject({ code, exitCode });
        expect(existsSync(join(dataDir, 'log')), 'nothing opened').toBe(false);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
    // With its passphrase, the encrypted key serves.
    const node = await startTestNode({
      tls: { certFile: encrypted.certFile, keyFile: encrypted.keyFile, passphrase: 'open sesame' },
    });
    try {
      const ready = await http(node.node.port, '/readyz', { ca: encrypted.ca });
      expect(ready.status).toBe(200);
    } finally {
      await node.stop();
    }
  });

  it('make `npm start` exit with a message: 66 unreadable, 78 invalid, 64 half given', () => {
    const dataDir = makeDataDir();
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const start = (...flags: string[]) =>
      spawnSync(
        process.execPath,
        [
          join(ROOT, 'dist/edge/main.js'),
          '--host',
          '127.0.0.1',
          '--port',
          '0',
          '--data',
          dataDir,
          '--no-demo',
          ...flags,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
    try {
      const unreadable = start('--tls-cert', join(dir, 'missing.pem'), '--tls-key', cert.keyFile);
      expect(unreadable.status).toBe(66);
      expect(unreadable.stderr).toContain('cannot read the TLS certificate file');
      const invalid = start('--tls-cert', garbage, '--tls-key', cert.keyFile);
      expect(invalid.status).toBe(78);
      expect(invalid.stderr).toContain('is not a PEM certificate');
      const half = start('--tls-cert', cert.certFile);
      expect(half.status).toBe(64);
      expect(half.stderr).toContain('--tls-cert and --tls-key go together');
      expect(existsSync(join(dataDir, 'log'))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
