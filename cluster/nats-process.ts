/**
 * Local NATS JetStream servers for `npm run cluster`, the failover load test and the tests:
 * `nats-server -c <conf>` processes on 127.0.0.1 with free ports and their stores in a
 * directory the caller owns, clustered when there are several. Debian's `nats-server` is
 * installed by scripts/install-nats.sh when missing.
 *
 * Invariants: only the processes started here are ever signalled, by their PIDs; every wait
 * is bounded; a server restarted after a kill gets the same configuration, store and ports.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** Time for a server (or a cluster) to accept JetStream requests. */
const NATS_READY_MS_MAX = 30_000;
const NATS_READY_POLL_MS = 200;
/** Time a stopped server has to exit before it is killed. */
const NATS_STOP_MS_MAX = 10_000;
/** Messages up to 16 MiB: a group commit (at most 8 MiB of records) fits in one. */
const NATS_MAX_PAYLOAD = '16MB';
const OUTPUT_KEPT_CHARS_MAX = 8_192;

export interface NatsServer {
  readonly index: number;
  readonly url: string;
  pid(): number;
  running(): boolean;
  /** SIGKILL, as a crash (the store stays). */
  kill(): Promise<void>;
  /** Starts it again after a kill, with the same configuration. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface NatsCluster {
  readonly servers: NatsServer[];
  readonly urls: string[];
  stop(): Promise<void>;
}

/** The repository root, from this file's place in the source or in dist/. */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(join('dist', 'cluster')) ? resolve(here, '..', '..') : resolve(here, '..');
}

/** Path of `nats-server`, installing it (scripts/install-nats.sh) when it is missing. */
export function natsServerBinary(): string {
  const find = () => {
    try {
      return execFileSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const found = find();
  if (found !== '') return found;
  execFileSync('bash', [join(repoRoot(), 'scripts', 'install-nats.sh')], { stdio: 'inherit' });
  const installed = find();
  if (installed === '') throw new Error('nats-server is not installed (scripts/install-nats.sh)');
  return installed;
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => done(port));
    });
  });
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

function configText(
  index: number,
  port: number,
  routePorts: number[],
  store: string,
  cluster: string,
): string {
  const lines = [
    `server_name: n${index + 1}`,
    `listen: 127.0.0.1:${port}`,
    `max_payload: ${NATS_MAX_PAYLOAD}`,
    `jetstream { store_dir: ${JSON.stringify(store)}, max_memory_store: 268435456, max_file_store: 8589934592 }`,
  ];
  if (routePorts.length > 1) {
    const routes = routePorts.map((route) => `nats-route://127.0.0.1:${route}`).join(', ');
    lines.push(
      `cluster { name: ${cluster}, listen: 127.0.0.1:${routePorts[index]}, routes: [${routes}] }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

class ServerProcess implements NatsServer {
  private child: ChildProcess | null = null;
  private output = '';

  constructor(
    readonly index: number,
    readonly url: string,
    private readonly binary: string,
    private readonly configPath: string,
  ) {}

  pid(): number {
    return this.child?.pid ?? 0;
  }

  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  launch(): void {
    // Its own process group: a Ctrl-C in the terminal reaches only whoever started it, which
    // stops it in order (after the nodes that use it).
    const child = spawn(this.binary, ['-c', this.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_KEPT_CHARS_MAX);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
  }

  describe(): string {
    return this.output;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || !this.running()) return;
    child.kill('SIGKILL');
    await waitExit(child, NATS_STOP_MS_MAX);
  }

  async restart(): Promise<void> {
    if (this.running()) return;
    this.launch();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || !this.running()) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, NATS_STOP_MS_MAX))) {
      child.kill('SIGKILL');
      await waitExit(child, NATS_STOP_MS_MAX);
    }
  }
}

/** Resolves once JetStream answers through `urls` (a meta leader was elected), or throws. */
export async function waitForJetStream(urls: string[], timeoutMs = NATS_READY_MS_MAX) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: urls, timeout: 1_000, maxReconnectAttempts: 0 });
      try {
        const jsm = await jetstreamManager(nc, { timeout: 1_000 });
        await jsm.getAccountInfo();
        return;
      } finally {
        await nc.close();
      }
    } catch (error) {
      last = error;
      await new Promise((done) => setTimeout(done, NATS_READY_POLL_MS));
    }
  }
  throw new Error(`JetStream did not become ready in ${timeoutMs} ms: ${String(last)}`);
}

/** Starts `count` servers (1 to 5) clustered on loopback, with stores under `dir`. */
export async function startNatsCluster(options: {
  count: number;
  dir: string;
}): Promise<NatsCluster> {
  const binary = natsServerBinary();
  const ports: number[] = [];
  const routePorts: number[] = [];
  for (let index = 0; index < options.count; index++) {
    ports.push(await freePort());
    routePorts.push(await freePort());
  }
  const servers: ServerProcess[] = [];
  for (let index = 0; index < options.count; index++) {
    const store = join(options.dir, `nats-${index + 1}`);
    mkdirSync(store, { recursive: true });
    const configPath = join(options.dir, `nats-${index + 1}.conf`);
    writeFileSync(configPath, configText(index, ports[index], routePorts, store, 'inventory'));
    const server = new ServerProcess(index, `nats://127.0.0.1:${ports[index]}`, binary, configPath);
    server.launch();
    servers.push(server);
  }
  const urls = servers.map((server) => server.url);
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    await waitForJetStream(urls);
  } catch (error) {
    const output = servers.map((server) => server.describe()).join('\n');
    await stop();
    throw new Error(`${String(error)}\n${output.slice(-2_000)}`);
  }
  return { servers, urls, stop };
}
