/**
 * A cluster on loopback in one command (`npm run cluster`), and the same cluster for the
 * failover load tests: a 3-server NATS JetStream cluster (cluster/nats-process.ts) and, for
 * each region, a primary and a standby node (`node dist/edge/main.js --region ... --nats ...`)
 * as child processes, each with its own temporary data directory, all sharing one set of API
 * keys (INVENTORY_KEYS).
 *
 *   npm run cluster -- [--regions bengaluru,new-york] [--replication sync|async]
 *
 * prints the URLs and keys and runs until Ctrl-C or SIGTERM, then stops every process it
 * started, by PID, and removes the temporary directory.
 *
 * Invariants: only processes started here are ever signalled, by PID; every wait is bounded;
 * a node restarted after a kill reuses its data directory (it rejoins as a standby).
 */

import type { DurabilityPolicy } from '../wal/index.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsCluster, startNatsCluster } from '../cluster/index.js';
import { isRegionId } from '../protocol/index.js';
import { ClusterClient } from '../protocol/client/index.js';
import {
  choiceFlag,
  intFlag,
  isEntryPoint,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  UsageError,
} from './cli.js';
import { type NodeKeys, repoRoot } from './node-process.js';

/** Time a node has to start listening. */
const NODE_START_MS_MAX = 60_000;
/** Time a SIGTERM'd node has to exit before it is killed. */
const NODE_STOP_MS_MAX = 20_000;
/** Time every region has to get an owner and publish its definition. */
const CLUSTER_READY_MS_MAX = 90_000;
const OUTPUT_KEPT_CHARS_MAX = 16_384;
const POLL_MS = 100;

export type Replication = 'sync' | 'async';

export interface LocalClusterOptions {
  regions: string[];
  /** Nodes per region: the first becomes primary, the others standbys. */
  nodesPerRegion: number;
  replication: Replication;
  natsServers: number;
  demoDcs: number;
  demoSkus: number;
  threads: number;
  leaseMs: number;
  fsync: DurabilityPolicy;
  logLevel: string;
  /** Print each node's output lines prefixed with its name. */
  echo?: (line: string) => void;
}

export interface ClusterNode {
  readonly name: string;
  readonly region: string;
  readonly dataDir: string;
  /** `http://127.0.0.1:port` of the current process ('' while down). */
  url: string;
  pid(): number;
  running(): boolean;
  /** Resolves with the exit code (or signal) of the current process. */
  exited(): Promise<number | string>;
  signal(signal: NodeJS.Signals): void;
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** Starts it again on its data directory (it rejoins its region as a standby). */
  start(): Promise<void>;
  output(): string;
}

export interface LocalCluster {
  readonly dir: string;
  readonly nats: NatsCluster;
  readonly nodes: ClusterNode[];
  readonly keys: NodeKeys;
  stop(): Promise<void>;
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

class NodeProcess implements ClusterNode {
  private child: ChildProcess | null = null;
  private exit: Promise<number | string> = Promise.resolve(0);
  private kept = '';
  url = '';

  constructor(
    readonly name: string,
    readonly region: string,
    readonly dataDir: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly echo: ((line: string) => void) | undefined,
  ) {}

  pid(): number {
    return this.child?.pid ?? 0;
  }

  running(): boolean {
    const child = this.child;
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  exited(): Promise<number | string> {
    return this.exit;
  }

  output(): string {
    return this.kept;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running()) this.child!.kill(signal);
  }

  async start(): Promise<void> {
    if (this.running()) return;
    // Its own process group: a Ctrl-C in the terminal reaches only this launcher, which then
    // stops the nodes one SIGTERM each (a node that got both would skip its clean shutdown).
    const child = spawn(process.execPath, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.env,
      detached: true,
    });
    this.child = child;
    this.url = '';
    // The banner of this process, not of the one before it.
    this.kept = '';
    this.exit = new Promise((done) => child.once('exit', (code, signal) => done(code ?? signal!)));
    const keep = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.kept = (this.kept + text).slice(-OUTPUT_KEPT_CHARS_MAX);
      if (this.echo !== undefined) {
        for (const line of text.split('\n')) if (line !== '') this.echo(`[${this.name}] ${line}`);
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + NODE_START_MS_MAX;
    for (;;) {
      const match = /listening on (https?:\/\/[^\s]+)/.exec(this.kept.slice(-4_096));
      if (match !== null && this.running()) {
        this.url = match[1];
        return;
      }
      if (!this.running()) {
        throw new Error(`${this.name} exited before listening:\n${this.kept.slice(-2_000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} did not listen in time:\n${this.kept.slice(-2_000)}`);
      }
      await new Promise((done) => setTimeout(done, POLL_MS));
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || !this.running()) return;
    child.kill('SIGKILL');
    await waitExit(child, NODE_STOP_MS_MAX);
    this.url = '';
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    if (this.running()) {
      // A stopped (SIGSTOP) process must run again to hear SIGTERM.
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    }
    if (!(await waitExit(child, NODE_STOP_MS_MAX))) {
      child.kill('SIGKILL');
      await waitExit(child, NODE_STOP_MS_MAX);
    }
    this.url = '';
  }
}

function demoKeys(): NodeKeys {
  const key = () => randomBytes(24).toString('base64url');
  return { reader: key(), orderer: key(), admin: key() };
}

/**
 * The stop functions of the clusters this process started and has not stopped. Their NATS
 * servers and nodes run in process groups of their own (a Ctrl-C reaches only this process),
 * so a tool that is interrupted must stop them itself: see `stopClustersOnSignals`.
 */
const unstopped = new Set<() => Promise<void>>();

/**
 * For a tool that runs clusters: on SIGINT or SIGTERM, stop every cluster it started (each
 * node a SIGTERM, then its NATS servers), then exit 130 or 143.
 */
export function stopClustersOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`${signal}: stopping the cluster's processes\n`);
      void Promise.allSettled([...unstopped].map((stop) => stop())).then(() => {
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    });
  }
}

/** Starts NATS and every region's nodes; resolves once every region has an owner. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-cluster-'));
  const keys = demoKeys();
  let nats: NatsCluster | null = null;
  const nodes: NodeProcess[] = [];
  // One stop however many callers (the run's own `finally`, a signal): each waits for it.
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(nodes.map((node) => node.stop()));
      await nats?.stop();
      rmSync(dir, { recursive: true, force: true });
      unstopped.delete(stop);
    })();
    return stopping;
  };
  unstopped.add(stop);
  try {
    nats = await startNatsCluster({ count: options.natsServers, dir });
    const env = {
      ...process.env,
      INVENTORY_KEYS: JSON.stringify({
        reader: [keys.reader],
        orderer: [keys.orderer],
        admin: [keys.admin],
      }),
    };
    for (const region of options.regions) {
      for (let index = 0; index < options.nodesPerRegion; index++) {
        const name = `${region}-${index + 1}`;
        const dataDir = join(dir, name);
        mkdirSync(dataDir, { recursive: true });
        const args = nodeArgs(options, region, nats.urls, dataDir);
        nodes.push(new NodeProcess(name, region, dataDir, args, env, options.echo));
      }
    }
    // The first node of each region starts alone, so it becomes the primary.
    const first = nodes.filter((_, index) => index % options.nodesPerRegion === 0);
    await Promise.all(first.map((node) => node.start()));
    await waitForOwners(nats.urls, keys, options.regions, CLUSTER_READY_MS_MAX);
    await Promise.all(nodes.filter((node) => !first.includes(node)).map((node) => node.start()));
    return { dir, nats, nodes, keys, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function nodeArgs(
  options: LocalClusterOptions,
  region: string,
  natsUrls: string[],
  dataDir: string,
): string[] {
  return [
    join(repoRoot(), 'dist', 'edge', 'main.js'),
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
    options.logLevel,
    '--region',
    region,
    '--nats',
    natsUrls.join(','),
    '--replication',
    options.replication,
    '--lease-ms',
    String(options.leaseMs),
    '--demo-dcs',
    String(options.demoDcs),
    '--demo-skus',
    String(options.demoSkus),
  ];
}

/** Waits until every region has an owner and a definition in the buckets. */
export async function waitForOwners(
  natsUrls: string[],
  keys: NodeKeys,
  regions: string[],
  timeoutMs: number,
): Promise<void> {
  const client = await ClusterClient.connect({ nats: natsUrls, apiKey: keys.reader });
  try {
    const deadline = Date.now() + timeoutMs;
    while (
      !regions.every(
        (region) => client.regionOwners.has(region) && client.regionDefinitions.has(region),
      )
    ) {
      if (Date.now() > deadline) throw new Error(`regions ${regions.join(', ')} got no owner`);
      await new Promise((done) => setTimeout(done, POLL_MS));
    }
  } finally {
    await client.close();
  }
}

export const USAGE = `Usage: npm run cluster -- [options]

Starts, on 127.0.0.1, a 3-server NATS JetStream cluster and, for each region, a primary and a
standby node; prints their URLs and the API keys; stops everything it started on Ctrl-C.

  --regions <ids>        regions (metros), comma-separated (default bengaluru,new-york)
  --replication <mode>   sync (default) or async
  --nodes <n>            nodes per region: one primary, the rest standbys (default 2)
  --demo-dcs <n>         DCs per region's demo network (default 20)
  --demo-skus <n>        SKUs per region's demo network (default 500)
  --threads <n>          worker threads per node (default 1)
  --lease-ms <n>         the lease (default 3000)
  --fsync <policy>       the nodes' fsync policy (default fsync)
  -h, --help             this text
`;

const FLAGS = {
  regions: { type: 'string' },
  replication: { type: 'string' },
  nodes: { type: 'string' },
  'demo-dcs': { type: 'string' },
  'demo-skus': { type: 'string' },
  threads: { type: 'string' },
  'lease-ms': { type: 'string' },
  fsync: { type: 'string' },
} as const;

function banner(cluster: LocalCluster, options: LocalClusterOptions): string {
  const lines = [
    `NATS JetStream: ${cluster.nats.urls.join(',')}`,
    '',
    `nodes (${options.replication} replication; the owners are in KV bucket inventory-owners):`,
  ];
  for (const node of cluster.nodes) {
    lines.push(`  ${node.name.padEnd(16)} pid ${String(node.pid()).padEnd(8)} ${node.url}`);
  }
  lines.push(
    '',
    'API keys (every node):',
    `  export READER_KEY=${cluster.keys.reader}`,
    `  export ORDERER_KEY=${cluster.keys.orderer}`,
    `  export ADMIN_KEY=${cluster.keys.admin}`,
    '',
    'From the SDK:',
    `  const client = await InventoryClient.connectCluster({ nats: '${cluster.nats.urls[0]}', apiKey: ORDERER_KEY });`,
    '',
    'Ctrl-C stops everything.',
  );
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  const regions = (values.regions ?? 'bengaluru,new-york').split(',');
  if (!regions.every(isRegionId)) throw new UsageError('--regions must be region ids');
  const options: LocalClusterOptions = {
    regions,
    nodesPerRegion: intFlag(values, 'nodes', 2, 1, 5),
    replication: choiceFlag(values, 'replication', 'sync', ['sync', 'async'] as const),
    natsServers: 3,
    demoDcs: intFlag(values, 'demo-dcs', 20, 1, 10_000),
    demoSkus: intFlag(values, 'demo-skus', 500, 1, 1_000_000),
    threads: intFlag(values, 'threads', 1, 1, 64),
    leaseMs: intFlag(values, 'lease-ms', 3_000, 1_000, 120_000),
    fsync: policyFlag(values, 'fsync', 'fsync', ['fsync', 'write', 'none'] as const),
    logLevel: 'warn',
    echo: (line) => process.stderr.write(`${line}\n`),
  };
  const cluster = await startLocalCluster(options);
  process.stdout.write(banner(cluster, options));
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  process.stderr.write('stopping the cluster\n');
  await cluster.stop();
  return 0;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);
