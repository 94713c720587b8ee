/**
 * One owner per log directory, for the life of the owning process.
 *
 * Two writers on one LMDB log lose acknowledged records (each process assigns the same LSNs, and
 * the loser's appends are refused by LMDB) and oversell (each process has its own counters). So
 * a process that opens a log for writing first takes the directory's lock, and a second
 * claimant, in this process or another, is refused with DATA_DIR_LOCKED before it reads a byte.
 *
 * The lock is a listening Unix socket whose name is derived from the directory's device and
 * inode (so every path to the directory, through symlinks or bind mounts, names the same lock).
 * On Linux it lives in the abstract namespace: the kernel releases it when the process dies,
 * however it dies (kill -9, OOM), so there is never a stale lock to clean up and no PID file to
 * trust. Elsewhere it is a socket file beside the directory; a file left by a dead process
 * refuses connections, and is replaced.
 *
 * The holder answers every connection with one JSON line saying who it is (process, host, since
 * when, and what it serves), so the refused claimant can tell the operator which process holds
 * the directory.
 *
 * Limits: the abstract namespace is per network namespace, so two containers that share a
 * volume but not a network namespace do not see each other's lock; LMDB itself does not support
 * network filesystems. Both are stated in wal/README.md.
 */

import { existsSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type WalResult, walError } from './errors.js';

/** The lock's name prefix in the abstract namespace. */
const LOCK_NAME_PREFIX = 'qcommerce-inventory-log-lock';
/** How long a refused claimant waits for the holder to say who it is. */
const HOLDER_QUERY_MS_MAX = 1_000;
/** Bytes of the holder's self-description a claimant reads at most. */
const HOLDER_REPLY_BYTES_MAX = 4_096;

export interface DirLockHolder {
  pid: number;
  host: string;
  startedAt: string;
  /** What the holder serves, e.g. "node on 127.0.0.1:8080"; empty until it says. */
  serves: string;
}

export interface DirLock {
  readonly dir: string;
  /** Sets what the holder tells a refused claimant it serves. */
  describe(serves: string): void;
  /** Releases the lock. Idempotent. */
  release(): Promise<void>;
}

/** Where the lock lives: an abstract socket name on Linux, a socket file elsewhere. */
function lockAddress(dir: string): string {
  const stats = statSync(dir);
  if (process.platform === 'linux') return `\0${LOCK_NAME_PREFIX}:${stats.dev}:${stats.ino}`;
  return join(dirname(dir), `.${basename(dir)}.lock`);
}

function listen(server: Server, address: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((done) => {
    const onError = (error: NodeJS.ErrnoException) => done(error);
    server.once('error', onError);
    server.listen({ path: address, exclusive: true }, () => {
      server.off('error', onError);
      done(null);
    });
  });
}

/** Asks the holder who it is; null when nobody answers (a socket file left by a dead process). */
function queryHolder(address: string): Promise<DirLockHolder | null | 'unknown'> {
  return new Promise((done) => {
    let text = '';
    let settled = false;
    const settle = (value: DirLockHolder | null | 'unknown') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(value);
    };
    const timer = setTimeout(() => settle('unknown'), HOLDER_QUERY_MS_MAX);
    const socket = connect({ path: address });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > HOLDER_REPLY_BYTES_MAX) settle('unknown');
    });
    socket.on('end', () => {
      try {
        settle(JSON.parse(text) as DirLockHolder);
      } catch {
        settle('unknown');
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      settle(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? null : 'unknown'),
    );
  });
}

function describeHolder(holder: DirLockHolder | 'unknown' | null): string {
  if (holder === null || holder === 'unknown') return 'another process';
  const serves = holder.serves === '' ? '' : `, ${holder.serves}`;
  return `process ${holder.pid} on ${holder.host} (since ${holder.startedAt}${serves})`;
}

/**
 * Takes the lock of `dir` (created when missing), or refuses with DATA_DIR_LOCKED naming the
 * holder. The lock does not keep the event loop alive.
 */
export async function lockDirectory(dir: string): Promise<WalResult<DirLock>> {
  mkdirSync(dir, { recursive: true });
  const address = lockAddress(dir);
  const holder: DirLockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    serves: '',
  };
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(JSON.stringify(holder));
  });
  let failed = await listen(server, address);
  if (failed?.code === 'EADDRINUSE' && !address.startsWith('\0')) {
    // A socket file: live if someone answers on it, else left by a dead process.
    if ((await queryHolder(address)) === null && existsSync(address)) {
      unlinkSync(address);
      failed = await listen(server, address);
    }
  }
  if (failed !== null) {
    server.close();
    if (failed.code !== 'EADDRINUSE') {
      return walError('STORE_OPEN_FAILED', `cannot lock ${dir}: ${failed.message}`);
    }
    const current = await queryHolder(address);
    return walError('DATA_DIR_LOCKED', `${dir} is in use by ${describeHolder(current)}`);
  }
  server.unref();
  let released: Promise<void> | null = null;
  return {
    ok: true,
    value: {
      dir,
      describe(serves: string) {
        holder.serves = serves;
      },
      release() {
        released ??= new Promise<void>((done) => server.close(() => done()));
        return released;
      },
    },
  };
}
