/**
 * Test and load-test support for a real node: start one in-process on a free loopback port
 * with a temporary data directory and a small demo network, talk HTTP to it, and clean up.
 *
 * Invariants: every node started here listens on 127.0.0.1 only; `stop()` closes the node and
 * removes its directory, and is safe to call twice.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeOptions } from '../config.js';
import { createLogger } from '../logger.js';
import { type StartedNode, startNode } from '../node.js';

/** A tiny network: starts in about a second and still has several DCs and categories. */
export const TEST_DEMO = { dcs: 6, skus: 60, seed: 7 } as const;

export interface TestNode {
  node: StartedNode;
  dataDir: string;
  /** The demo keys (tests always run with generated keys). */
  keys: { reader: string; orderer: string; admin: string };
  /** Stops the node; `keepData` leaves the directory for a restart. */
  stop(keepData?: boolean): Promise<void>;
}

export function makeDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'inventory-edge-'));
}

export async function startTestNode(
  options: Partial<NodeOptions> & { dataDir?: string } = {},
): Promise<TestNode> {
  const dataDir = options.dataDir ?? makeDataDir();
  const node = await startNode({
    host: '127.0.0.1',
    port: 0,
    threads: 2,
    fsync: 'write',
    demo: { ...TEST_DEMO },
    logger: createLogger({ level: 'warn', clock: Date.now }),
    ...options,
    dataDir,
  });
  let stopped = false;
  return {
    node,
    dataDir,
    keys: node.keys!,
    async stop(keepData = false) {
      if (!stopped) {
        stopped = true;
        await node.close();
      }
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the raw text when the body is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field.
  body: any;
  text: string;
}

export interface HttpCall {
  method?: string;
  key?: string | null;
  /** A value to send as JSON, or raw bytes / text sent as they are. */
  json?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** HTTPS, trusting this CA (PEM): for a node started with TLS. */
  ca?: Buffer;
}

/**
 * One HTTP request with node:http (node:https with `call.ca`) on a new connection (no agent,
 * so the kernel may hand it to any worker), its answer parsed.
 */
export function http(port: number, path: string, call: HttpCall = {}): Promise<HttpAnswer> {
  const headers: Record<string, string> = { ...call.headers };
  if (call.key) headers.authorization = `Bearer ${call.key}`;
  let payload: Buffer | undefined;
  if (call.json !== undefined) {
    payload = Buffer.from(JSON.stringify(call.json));
    headers['content-type'] = 'application/json';
  } else if (call.raw !== undefined) {
    payload = Buffer.isBuffer(call.raw) ? call.raw : Buffer.from(call.raw);
  }
  if (payload !== undefined && headers['transfer-encoding'] === undefined) {
    headers['content-length'] = String(payload.length);
  }
  const request = call.ca === undefined ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: call.method ?? (payload === undefined ? 'GET' : 'POST'),
        headers,
        agent: false,
        ca: call.ca,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Not JSON: the raw text is the body.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
