/**
 * The check after listening: a process that joins the node's port with SO_REUSEPORT (as two
 * nodes starting at the same moment would, both past the check before listening) is seen in
 * the kernel's listener table, and one on another address of the port is not.
 */

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { exclusiveBindError, foreignListeners } from './port-guard.js';
import { loadUws } from './uws.js';

const require = createRequire(import.meta.url);
/** A child that listens with uWebSockets.js (SO_REUSEPORT) on argv's host and port. */
const CHILD_SOURCE = `
const uws = require(${JSON.stringify(require.resolve('uWebSockets.js'))});
uws.App().listen(process.argv[1], Number(process.argv[2]), (socket) => {
  process.stdout.write(socket ? 'listening\\n' : 'failed\\n');
});
`;
const CHILD_START_MS_MAX = 10_000;

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function listenInChild(host: string, port: number): Promise<void> {
  const child = spawn(process.execPath, ['-e', CHILD_SOURCE, host, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error('child did not listen')), CHILD_START_MS_MAX);
    child.stdout.on('data', (chunk: Buffer) => {
      clearTimeout(timer);
      if (chunk.toString().includes('listening')) done();
      else fail(new Error('child could not listen'));
    });
  });
}

describe('port guard', () => {
  it('sees another process sharing the port, and only on the same address', async () => {
    const { uws } = loadUws();
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    let socket: unknown = null;
    uws.App().listen('127.0.0.1', port, (listen) => {
      socket = listen;
    });
    expect(socket).not.toBe(false);
    try {
      expect(foreignListeners(port)).toEqual([]);
      // Anything listening refuses an exclusive bind: the check before listening.
      expect((await exclusiveBindError('127.0.0.1', port))?.code).toBe('EADDRINUSE');
      await listenInChild('127.0.0.2', port);
      expect(foreignListeners(port)).toEqual([]);
      await listenInChild('127.0.0.1', port);
      expect(foreignListeners(port)).toHaveLength(1);
    } finally {
      uws.us_listen_socket_close(socket as never);
    }
  });
});
