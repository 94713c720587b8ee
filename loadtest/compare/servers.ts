/**
 * Redis and PostgreSQL servers for the comparison, each started by this script on 127.0.0.1,
 * on a free port, with an explicit configuration and a temporary data directory, and stopped
 * again by the PID this script started. Missing servers are installed from Debian's packages
 * with apt-get, and the script says so.
 *
 * A server is ready when the client the comparison drives it with (ioredis, pg) gets an answer.
 *
 * Invariants: only processes started here are signalled, by their own PIDs; every wait is
 * bounded; temporary directories are removed after their server exited. PostgreSQL refuses to
 * run as root, so when this script runs as root the cluster is created and run as the
 * `postgres` user (spawned with that uid and gid directly, so the PID is the postmaster's).
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

const HOST = '127.0.0.1';
const SERVER_READY_MS_MAX = 60_000;
const SERVER_STOP_MS_MAX = 30_000;
const READY_POLL_MS = 100;
const APT_MS_MAX = 15 * 60_000;
/** One readiness probe's connection attempt. */
const PROBE_MS_MAX = 2_000;
/** The role and database of a fresh cluster (initdb -U postgres). */
export const POSTGRES_USER = 'postgres';
export const POSTGRES_DATABASE = 'postgres';

export interface StartedServer {
  name: string;
  pid: number;
  host: string;
  port: number;
  dataDir: string;
  /** The configuration that matters for the comparison, for the report. */
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export type Say = (line: string) => void;

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function which(command: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

/** Installs Debian packages with apt-get (updating the package lists once if needed). */
function aptInstall(packages: string[], say: Say): void {
  say(`installing ${packages.join(' ')} with apt-get (not installed on this machine)`);
  const options = {
    stdio: 'inherit' as const,
    timeout: APT_MS_MAX,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  };
  const attempt = spawnSync(
    'apt-get',
    ['install', '-y', '--no-install-recommends', ...packages],
    options,
  );
  if (attempt.status === 0) return;
  execFileSync('apt-get', ['update'], options);
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], options);
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

/** Stops a child by its PID: `signal`, then SIGKILL after the grace time; then cleans up. */
function stopper(child: ChildProcess, signal: NodeJS.Signals, cleanup: () => void) {
  let stopping: Promise<void> | undefined;
  return (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        if (!(await waitExit(child, SERVER_STOP_MS_MAX))) {
          child.kill('SIGKILL');
          await waitExit(child, SERVER_STOP_MS_MAX);
        }
      }
      cleanup();
    })();
    return stopping;
  };
}

/** Polls `probe` until it succeeds, the child exits, or the time runs out. */
async function waitReady(
  name: string,
  child: ChildProcess,
  probe: () => Promise<void>,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + SERVER_READY_MS_MAX;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during start:\n${log()}`);
    }
    try {
      await probe();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((done) => setTimeout(done, READY_POLL_MS));
    }
  }
  throw new Error(`${name} was not ready in time (${String(lastError)}):\n${log()}`);
}

function readTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

export type AppendFsync = 'always' | 'everysec';

/** The redis-server binary, installed with apt-get first when it is missing. */
export function ensureRedisInstalled(say: Say): string {
  let binary = which('redis-server');
  if (binary === null) {
    aptInstall(['redis-server'], say);
    binary = which('redis-server');
    if (binary === null) throw new Error('redis-server is still missing after apt-get install');
  }
  return binary;
}

/** Answers when a Redis server on 127.0.0.1:port takes connections and answers PING. */
async function pingRedis(port: number): Promise<void> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    connectTimeout: PROBE_MS_MAX,
    // A probe tries once: waitReady does the retrying.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    if ((await client.ping()) !== 'PONG') throw new Error('PING not answered PONG');
  } finally {
    client.disconnect();
  }
}

/** redis-server with the append-only file on and `appendfsync` as given; RDB snapshots off. */
export async function startRedis(appendfsync: AppendFsync, say: Say): Promise<StartedServer> {
  const binary = ensureRedisInstalled(say);
  const dataDir = mkdtempSync(join(tmpdir(), 'compare-redis-'));
  const port = await freePort();
  const settings: Record<string, string> = {
    bind: HOST,
    port: String(port),
    'protected-mode': 'yes',
    daemonize: 'no',
    dir: dataDir,
    save: '""',
    appendonly: 'yes',
    appendfsync,
    appendfilename: 'appendonly.aof',
    'no-appendfsync-on-rewrite': 'no',
    'auto-aof-rewrite-percentage': '100',
    'auto-aof-rewrite-min-size': '64mb',
    'aof-use-rdb-preamble': 'yes',
    'io-threads': '1',
    maxclients: '10000',
    loglevel: 'notice',
    logfile: join(dataDir, 'redis.log'),
  };
  const config = Object.entries(settings)
    .map(([key, value]) => `${key} ${value}`)
    .join('\n');
  writeFileSync(join(dataDir, 'redis.conf'), `${config}\n`);
  const child = spawn(binary, [join(dataDir, 'redis.conf')], { stdio: 'ignore' });
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  const stop = stopper(child, 'SIGTERM', cleanup);
  try {
    await waitReady(
      'redis-server',
      child,
      () => pingRedis(port),
      () => readTail(settings.logfile),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  return {
    name: `redis (appendfsync ${appendfsync})`,
    pid: child.pid!,
    host: HOST,
    port,
    dataDir,
    settings: { version, appendonly: 'yes', appendfsync, save: 'off' },
    stop,
  };
}

export interface PostgresInstall {
  bin: string;
  version: string;
}

function findPostgres(): PostgresInstall | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length === 0
    ? null
    : { bin: join(root, versions[0], 'bin'), version: versions[0] };
}

/** The uid and gid of a user from /etc/passwd, or null. */
function userIds(name: string): { uid: number; gid: number } | null {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return null;
}

/** The newest installed PostgreSQL, installed with apt-get first when none is. */
export function ensurePostgresInstalled(say: Say): PostgresInstall {
  let install = findPostgres();
  if (install === null) {
    aptInstall(['postgresql'], say);
    install = findPostgres();
    if (install === null) throw new Error('PostgreSQL is still missing after apt-get install');
  }
  return install;
}

/** Answers when PostgreSQL on 127.0.0.1:port accepts a session (not while it starts up). */
async function connectPostgres(port: number): Promise<void> {
  const client = new pg.Client({
    host: HOST,
    port,
    user: POSTGRES_USER,
    database: POSTGRES_DATABASE,
    connectionTimeoutMillis: PROBE_MS_MAX,
  });
  client.on('error', () => {});
  await client.connect();
  await client.end();
}

export interface PostgresOptions {
  maxConnections: number;
}

/**
 * A fresh PostgreSQL cluster (initdb, trust authentication on loopback) with the default
 * durability: fsync on, synchronous_commit on, full_page_writes on.
 */
export async function startPostgres(options: PostgresOptions, say: Say): Promise<StartedServer> {
  const install = ensurePostgresInstalled(say);
  const owner = process.getuid?.() === 0 ? userIds('postgres') : null;
  if (process.getuid?.() === 0 && owner === null) {
    throw new Error('running as root needs a postgres user to run PostgreSQL as');
  }
  const baseDir = mkdtempSync(join(tmpdir(), 'compare-postgres-'));
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'postgres.log');
  if (owner !== null) chownSync(baseDir, owner.uid, owner.gid);
  const as = owner === null ? {} : { uid: owner.uid, gid: owner.gid };
  const cleanup = () => rmSync(baseDir, { recursive: true, force: true });
  const initdb = spawnSync(
    join(install.bin, 'initdb'),
    ['-D', dataDir, '-U', POSTGRES_USER, '-A', 'trust', '-E', 'UTF8', '--no-locale'],
    { ...as, cwd: baseDir, encoding: 'utf8', timeout: SERVER_READY_MS_MAX },
  );
  if (initdb.status !== 0) {
    cleanup();
    throw new Error(`initdb failed:\n${initdb.stdout}\n${initdb.stderr}`);
  }
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: HOST,
    port: String(port),
    unix_socket_directories: baseDir,
    max_connections: String(options.maxConnections),
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    logging_collector: 'off',
  };
  const args = ['-D', dataDir];
  for (const [key, value] of Object.entries(settings)) args.push('-c', `${key}=${value}`);
  const logFd = openSync(logFile, 'a');
  if (owner !== null) chownSync(logFile, owner.uid, owner.gid);
  const child = spawn(join(install.bin, 'postgres'), args, {
    ...as,
    cwd: baseDir,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
  const stop = stopper(child, 'SIGINT', cleanup);
  try {
    await waitReady(
      'postgres',
      child,
      () => connectPostgres(port),
      () => readTail(logFile),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    name: `postgresql ${install.version}`,
    pid: child.pid!,
    host: HOST,
    port,
    dataDir,
    settings: {
      version: install.version,
      fsync: 'on',
      synchronous_commit: 'on',
      max_connections: settings.max_connections,
    },
    stop,
  };
}
