/**
 * Starting an inventory node as a child process (`node dist/edge/main.js`) for the load tests,
 * exactly as a user runs it: a temporary data directory, a free port on 127.0.0.1, the keys the
 * node writes to `<data>/keys.json`, optionally TLS with a given certificate; signalling it
 * (SIGHUP reloads its keys); and stopping it again by its PID.
 *
 * Invariants: only the process started here is ever signalled, by its own PID; the temporary
 * data directory is removed after the node has exited; every wait is bounded.
 */

import type { DurabilityPolicy } from '../wal/index.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Time for the node to recover, seed and report where it listens. */
const NODE_START_MS_MAX = 60_000;
/** Time a SIGTERM'd node has to drain and exit before it is killed. */
const NODE_STOP_MS_MAX = 20_000;
/** Output kept from the node for error messages. */
const OUTPUT_KEPT_CHARS_MAX = 8_192;

export interface NodeKeys {
  reader: string;
  orderer: string;
  admin: string;
}

export interface NodeProcessOptions {
  threads: number;
  fsync: DurabilityPolicy;
  /** CPU list for `taskset -c` (e.g. '0'); null runs the node unpinned. */
  cpus: string | null;
  /**
   * Order-table slots; null keeps the engine's default and runs `dist/edge/main.js` itself,
   * otherwise the node runs through `dist/loadtest/node-launcher.js`, which accepts the size,
   * with `--commit-order-table`: a throughput run measures the node's steady state, not the
   * page faults of its table's first touches (README, "Memory at the reference scale").
   */
  orderCapacity: number | null;
  /** Extra flags for the node's command line. */
  extraArgs: string[];
  /** Serve https:// and wss:// with these files (`--tls-cert`, `--tls-key`). */
  tls?: { certFile: string; keyFile: string } | null;
  /**
   * A data directory to use and keep (a restart on the same data); by default a temporary one
   * is made and removed by stop().
   */
  dataDir?: string;
  /** Longest wait for the node to recover and listen (default NODE_START_MS_MAX). */
  startTimeoutMs?: number;
}

export interface NodeProcess {
  pid: number;
  /** `http://127.0.0.1:port` (`https://` with TLS) */
  url: string;
  /** `ws://127.0.0.1:port/v1/ws` (`wss://` with TLS) */
  wsUrl: string;
  keys: NodeKeys;
  dataDir: string;
  /** Graceful: SIGTERM, then SIGKILL if the node does not exit in time. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a crash; the data directory is left as the crash left it. */
  kill(): Promise<void>;
  /** SIGHUP: the node reads its key file again. */
  reloadKeys(): void;
}

/**
 * Worker threads of a node a load tool starts, when not given: the cores its generator
 * processes leave (at least one). The node and the generator share the machine; with one
 * worker per core as well, three busy threads share two cores here and each waits for the
 * scheduler (availability: 177 k against 133 k queries/s median, p99 2.2 against 2.6 ms, in
 * 4 alternating pairs; loadtest/RESULTS.md).
 */
export function startedNodeThreads(cores: number, processes: number): number {
  return Math.max(1, cores - processes);
}

/** The repository root, from this file's place in the source or in dist/. */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'loadtest')}`)
    ? resolve(here, '..', '..')
    : resolve(here, '..');
}

export function readKeysFile(path: string): NodeKeys {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<NodeKeys>;
  for (const role of ['reader', 'orderer', 'admin'] as const) {
    if (typeof parsed[role] !== 'string') throw new Error(`${path} has no ${role} key`);
  }
  return parsed as NodeKeys;
}

/** `http://host:port` or `ws://host:port[/v1/ws]` → both forms. */
export function nodeUrls(url: string): { url: string; wsUrl: string } {
  const parsed = new URL(url);
  const http = parsed.protocol === 'ws:' || parsed.protocol === 'http:' ? 'http:' : 'https:';
  const ws = http === 'http:' ? 'ws:' : 'wss:';
  return { url: `${http}//${parsed.host}`, wsUrl: `${ws}//${parsed.host}/v1/ws` };
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

export async function startNodeProcess(options: NodeProcessOptions): Promise<NodeProcess> {
  const owned = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'inventory-loadtest-'));
  const main =
    options.orderCapacity === null
      ? join(repoRoot(), 'dist', 'edge', 'main.js')
      : join(repoRoot(), 'dist', 'loadtest', 'node-launcher.js');
  const capacityArgs =
    options.orderCapacity === null
      ? []
      : ['--order-capacity', String(options.orderCapacity), '--commit-order-table'];
  const tls = options.tls ?? null;
  const tlsArgs = tls === null ? [] : ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile];
  // INVENTORY_NODE_CPU_PROF=<dir>: profile the node (every thread) into that folder.
  const profileDir = process.env.INVENTORY_NODE_CPU_PROF;
  const profileArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const nodeArgs = [
    ...profileArgs,
    main,
    ...capacityArgs,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--data',
    dataDir,
    '--threads',
    String(options.threads),
    '--fsync',
    options.fsync,
    '--log-level',
    'warn',
    ...tlsArgs,
    ...options.extraArgs,
  ];
  const command = options.cpus === null ? process.execPath : 'taskset';
  const args =
    options.cpus === null ? nodeArgs : ['-c', options.cpus, process.execPath, ...nodeArgs];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_CHARS_MAX);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const cleanup = () => {
    if (owned) rmSync(dataDir, { recursive: true, force: true });
  };
  let url: string;
  try {
    url = await waitForListening(child, () => output, options.startTimeoutMs ?? NODE_START_MS_MAX);
  } catch (error) {
    child.kill('SIGKILL');
    await waitExit(child, NODE_STOP_MS_MAX);
    cleanup();
    throw error;
  }
  const keys = readKeysFile(join(dataDir, 'keys.json'));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      child.kill('SIGTERM');
      if (!(await waitExit(child, NODE_STOP_MS_MAX))) {
        child.kill('SIGKILL');
        await waitExit(child, NODE_STOP_MS_MAX);
      }
      cleanup();
    })();
    return stopping;
  };
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL');
    await waitExit(child, NODE_STOP_MS_MAX);
  };
  const reloadKeys = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGHUP');
  };
  return { pid: child.pid!, ...nodeUrls(url), keys, dataDir, stop, kill, reloadKeys };
}

/** Resolves with the node's URL once its banner says where it listens. */
function waitForListening(
  child: ChildProcess,
  output: () => string,
  timeoutMs: number,
): Promise<string> {
  return new Promise((done, fail) => {
    const onData = () => {
      const match = /listening on (https?:\/\/[^\s]+)/.exec(output());
      if (match === null) return;
      finish();
      done(match[1]);
    };
    const onExit = (code: number | null, signal: string | null) => {
      finish();
      fail(new Error(`the node exited (${code ?? signal}) before listening:\n${output()}`));
    };
    const timer = setTimeout(() => {
      finish();
      fail(new Error(`the node did not listen within ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}
