/**
 * A node owns its port. Its worker threads share it (uWebSockets.js listens with SO_REUSEPORT
 * so the kernel spreads connections over them), but SO_REUSEPORT would just as well let a second
 * process join the port and take a share of the first node's connections. So:
 *
 * - before listening, the port is bound once without SO_REUSEPORT (`exclusive`): if anything
 *   listens there, the bind fails and the node refuses to start with PORT_IN_USE;
 * - after every worker listens, the kernel's table of listening sockets (/proc/net/tcp and
 *   tcp6 on Linux) is read: a listener on the port that is not one of this process's sockets
 *   means another process joined between the check and the listen (two nodes starting at the
 *   same moment), and the node refuses to start rather than share.
 *
 * Invariant: nothing here keeps a socket open; both checks are done at start only.
 */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { ExitCodes } from '../protocol/index.js';

/** sysexits.h EX_TEMPFAIL: the resource is held by someone else; retry later. */
export const EXIT_PORT_IN_USE = ExitCodes.TEMP_FAILURE;
/** The kernel's socket state for a listening TCP socket in /proc/net/tcp. */
const TCP_STATE_LISTEN = '0A';
const PROC_TCP_TABLES = ['/proc/net/tcp', '/proc/net/tcp6'] as const;

export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
  readonly exitCode = EXIT_PORT_IN_USE;
}

/** Null when `host:port` can be bound exclusively right now; else the bind error. */
export function exclusiveBindError(
  host: string,
  port: number,
): Promise<NodeJS.ErrnoException | null> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => done(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(null)));
  });
}

/** Inodes of the sockets this process has open (Linux). */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while listing
    }
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match !== null) inodes.add(match[1]);
  }
  return inodes;
}

/**
 * Listening TCP sockets of another process on the very address and port this process listens
 * on (the kernel would share connections between them); empty where the kernel's tables
 * cannot be read (other systems), where the check before listening is the only guard. A
 * listener on another address of the same port takes no connection of ours and is ignored.
 */
export function foreignListeners(port: number): string[] {
  if (process.platform !== 'linux') return [];
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const listening: { address: string; inode: string }[] = [];
  for (const table of PROC_TCP_TABLES) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6 on this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_STATE_LISTEN) continue;
      if (fields[1].endsWith(`:${portHex}`))
        listening.push({ address: fields[1], inode: fields[9] });
    }
  }
  if (listening.length === 0) return [];
  const own = ownSocketInodes();
  const ownAddresses = new Set(
    listening.filter((entry) => own.has(entry.inode)).map((entry) => entry.address),
  );
  return listening
    .filter((entry) => !own.has(entry.inode) && ownAddresses.has(entry.address))
    .map((entry) => entry.inode);
}

/** Refuses a port that something already listens on (the check before listening). */
export async function claimPort(host: string, port: number): Promise<void> {
  const error = await exclusiveBindError(host, port);
  if (error === null) return;
  if (error.code === 'EADDRINUSE') {
    throw new PortInUseError(`${host}:${port} is in use by another process`);
  }
  throw new PortInUseError(`cannot bind ${host}:${port}: ${error.message}`);
}

/** Refuses to go on when another process listens on the port too (the check after). */
export function checkPortOwned(host: string, port: number): void {
  const foreign = foreignListeners(port);
  if (foreign.length > 0) {
    throw new PortInUseError(
      `another process also listens on ${host}:${port} (socket inodes ${foreign.join(', ')})`,
    );
  }
}
