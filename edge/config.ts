/**
 * The node's options: command-line flags and environment variables, parsed and checked into a
 * `NodeOptions` that `startNode` takes. Tests build `NodeOptions` directly.
 *
 * Invariants: every option has a named default; a bad flag is an error at start, never a
 * silently ignored value; nothing here reads the environment except through the `env` argument.
 */

import { availableParallelism } from 'node:os';
import {
  CELLS_MAX,
  DC_CAPACITY_DEFAULT,
  DC_CAPACITY_MAX,
  type EngineConfig,
  SKU_CAPACITY_DEFAULT,
  SKU_CAPACITY_MAX,
} from '../engine/index.js';
import {
  type CommandLine,
  DURABILITY_POLICIES,
  type DurabilityPolicy,
  isReplicationMode,
  parseCommandLine,
  parseDurabilityPolicy,
  REPLICATION_MODES,
} from '../wal/index.js';
import { LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN } from '../cluster/gate/index.js';
import { isRegionId } from '../protocol/index.js';
import type { ClusterOptions } from './cluster-port.js';
import {
  CONNECTIONS_MAX,
  CONNECTIONS_PER_KEY_DEFAULT,
  CONNECTIONS_PER_NODE_DEFAULT,
  DEMO_SEED_DEFAULT,
  HOST_DEFAULT,
  PORT_DEFAULT,
  RATE_BURST_DEFAULT,
  RATE_REQUESTS_PER_SECOND_DEFAULT,
  RATE_REQUESTS_PER_SECOND_MAX,
  SNAPSHOT_CHECK_INTERVAL_MS,
  SNAPSHOT_EVERY_RECORDS_DEFAULT,
  EVENT_RETENTION_RECORDS_DEFAULT,
  SUBSCRIBER_BUFFER_BYTES_MAX,
  THREADS_MAX,
  WS_SEND_BUFFER_BYTES_SOFT,
} from './constants.js';
import type { ConnectionCaps } from './connection-limits.js';
import type { FaultInjection } from './operations.js';
import { type KeyConfig, loadKeyFile, parseKeyConfig } from './keys.js';
import { isLogLevel, type LogLevel, type Logger } from './logger.js';
import {
  KEY_BURST_DEFAULT,
  KEY_BURST_MAX,
  KEY_REQUESTS_PER_SECOND_DEFAULT,
  type RateLimit,
} from './rate-limiter.js';
import { TLS_PASSPHRASE_VARIABLE, type TlsOptions } from './tls.js';

/** Size of the demo network generated into an empty data directory. */
export interface DemoOptions {
  dcs: number;
  skus: number;
  seed: number;
}

export interface NodeOptions {
  host: string;
  /** 0 picks a free port (tests); the chosen one is in the started node's `port`. */
  port: number;
  threads: number;
  dataDir: string;
  fsync: DurabilityPolicy;
  logLevel: LogLevel;
  allowJsFallback: boolean;
  /** Requests per second and burst per WebSocket connection. */
  rateLimit: RateLimit;
  /** Requests per second and burst per API key, over HTTP and WebSocket and every thread. */
  keyRateLimit: RateLimit;
  /** Keys from the deployment (key file or environment); otherwise data/keys.json is used. */
  keys: KeyConfig | null;
  /**
   * The key file the keys come from (INVENTORY_KEYS_FILE), read again on SIGHUP; null with
   * `keys` set means inline keys (INVENTORY_KEYS), which cannot be reloaded; null with `keys`
   * null means <data>/keys.json.
   */
  keysFile: string | null;
  /** Serve https:// and wss:// with this certificate and key; null: plain http:// and ws://. */
  tls: TlsOptions | null;
  /** The demo network to generate into an empty data directory; null leaves it empty. */
  demo: DemoOptions | null;
  engineConfig: Partial<EngineConfig>;
  /**
   * Commit every page of the order table at start (--commit-order-table) instead of as orders
   * first land on them: no page fault on the order path, at the price of the table's whole
   * memory from the first second (README, "Memory at the reference scale").
   */
  commitOrderTable: boolean;
  /** Name reported in `hello`; defaults to host name and process id. */
  nodeName: string | null;
  clock: () => number;
  /** Where log lines go; defaults to stderr at `logLevel`. */
  logger: Logger | null;
  /** Record request metrics and serve /metrics (off with --no-metrics). */
  metrics: boolean;
  /** Serve /metrics without a key (--metrics-open); otherwise any role's key is needed. */
  metricsOpen: boolean;
  /** A subscriber buffering more than this is skipped or cut off (see constants.ts). */
  subscriberBufferBytesMax: number;
  /** Take a snapshot (and compact the log) once it grew by this many records; 0: never. */
  snapshotEveryRecords: number;
  /** Log records kept whatever the snapshots: how far back order event consumers may resume. */
  eventRetentionRecords: number;
  /** How often the main thread checks whether a snapshot is due. */
  snapshotCheckMs: number;
  /** WebSocket connections the node, and one API key, may hold at most. */
  connections: ConnectionCaps;
  /** Faults to inject, for tests only: no flag sets it. */
  faults: FaultInjection | null;
  /** Join a region of a cluster (--region, --nats); null runs the node alone, as by default. */
  cluster: ClusterOptions | null;
}

export const DEMO_DCS_NODE_DEFAULT = 60;
export const DEMO_SKUS_NODE_DEFAULT = 5_000;

export function defaultNodeOptions(): NodeOptions {
  return {
    host: HOST_DEFAULT,
    port: PORT_DEFAULT,
    threads: availableParallelism(),
    dataDir: './data',
    fsync: 'fsync',
    logLevel: 'info',
    allowJsFallback: false,
    rateLimit: { requestsPerSecond: RATE_REQUESTS_PER_SECOND_DEFAULT, burst: RATE_BURST_DEFAULT },
    keyRateLimit: { requestsPerSecond: KEY_REQUESTS_PER_SECOND_DEFAULT, burst: KEY_BURST_DEFAULT },
    keys: null,
    keysFile: null,
    tls: null,
    demo: { dcs: DEMO_DCS_NODE_DEFAULT, skus: DEMO_SKUS_NODE_DEFAULT, seed: DEMO_SEED_DEFAULT },
    engineConfig: {},
    commitOrderTable: false,
    nodeName: null,
    clock: Date.now,
    logger: null,
    metrics: true,
    metricsOpen: false,
    subscriberBufferBytesMax: SUBSCRIBER_BUFFER_BYTES_MAX,
    snapshotEveryRecords: SNAPSHOT_EVERY_RECORDS_DEFAULT,
    eventRetentionRecords: EVENT_RETENTION_RECORDS_DEFAULT,
    snapshotCheckMs: SNAPSHOT_CHECK_INTERVAL_MS,
    connections: { perNode: CONNECTIONS_PER_NODE_DEFAULT, perKey: CONNECTIONS_PER_KEY_DEFAULT },
    faults: null,
    cluster: null,
  };
}

/**
 * Checks options whose limits depend on each other. A subscriber limit above the soft send
 * buffer limit would let a push overtake an answer the server is holding back for that client.
 */
export function checkNodeOptions(options: NodeOptions): void {
  const bytes = options.subscriberBufferBytesMax;
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > WS_SEND_BUFFER_BYTES_SOFT) {
    throw new OptionsError(
      `subscriberBufferBytesMax must be an integer in [1, ${WS_SEND_BUFFER_BYTES_SOFT}]`,
    );
  }
  checkDemoFits(options);
  const { requestsPerSecond, burst } = options.keyRateLimit;
  if (!Number.isSafeInteger(requestsPerSecond) || requestsPerSecond < 1) {
    throw new OptionsError('keyRateLimit.requestsPerSecond must be a positive integer');
  }
  if (!Number.isSafeInteger(burst) || burst < 1 || burst > KEY_BURST_MAX) {
    throw new OptionsError(`keyRateLimit.burst must be an integer in [1, ${KEY_BURST_MAX}]`);
  }
}

export class OptionsError extends Error {
  readonly code = 'BAD_NODE_OPTIONS';
}

/**
 * A capacity given explicitly is the data directory's from then on, so the demo network is
 * never allowed to raise it behind the caller's back: one smaller than the demo is refused.
 */
function checkDemoFits(options: NodeOptions): void {
  const { demo, engineConfig } = options;
  if (demo === null) return;
  const { dcCapacity, skuCapacity } = engineConfig;
  if (dcCapacity !== undefined && dcCapacity < demo.dcs) {
    throw new OptionsError(
      `--dc-capacity ${dcCapacity} is smaller than the demo network's ${demo.dcs} DCs: ` +
        'give --no-demo, a smaller --demo-dcs or a larger --dc-capacity',
    );
  }
  if (skuCapacity !== undefined && skuCapacity < demo.skus) {
    throw new OptionsError(
      `--sku-capacity ${skuCapacity} is smaller than the demo network's ${demo.skus} SKUs: ` +
        'give --no-demo, a smaller --demo-skus or a larger --sku-capacity',
    );
  }
}

export const USAGE = `Usage: npm start -- [options]

  --port <n>             listen port (default ${PORT_DEFAULT})
  --host <addr>          listen address (default ${HOST_DEFAULT})
  --threads <n>          worker threads serving connections (default: one per core)
  --data <dir>           data directory: write-ahead log and keys.json (default ./data)
  --fsync <policy>       fsync (default): acknowledge after fsync; write: after the LMDB
                         commit, written to the OS, fsync left to it; none: after the append,
                         in memory (commit: the deprecated name of write)
  --log-level <level>    debug | info | warn | error | silent (default info); logs are one
                         JSON object per line on stderr, none per request below debug
  --no-metrics           record no request metrics; /metrics answers 404
  --metrics-open         serve /metrics without a key (default: a key of any role)
  --rate-limit <n>       requests per second per WebSocket connection
                         (default ${RATE_REQUESTS_PER_SECOND_DEFAULT})
  --rate-burst <n>       request burst per WebSocket connection (default ${RATE_BURST_DEFAULT})
  --key-rate <n>         requests per second per API key, HTTP and WebSocket, over all threads
                         (default ${KEY_REQUESTS_PER_SECOND_DEFAULT}; a batch counts its entries)
  --key-burst <n>        request burst per API key
                         (default ${KEY_BURST_DEFAULT}, at most ${KEY_BURST_MAX})
  --tls-cert <file>      serve https:// and wss:// with this PEM certificate (with --tls-key)
  --tls-key <file>       the certificate's PEM private key
  --tls-passphrase <p>   the key's passphrase, if it is encrypted
                         (better: ${TLS_PASSPHRASE_VARIABLE})
  --demo-dcs <n>         DCs of the demo network generated into an empty data dir (default ${DEMO_DCS_NODE_DEFAULT})
  --demo-skus <n>        SKUs of the demo network (default ${DEMO_SKUS_NODE_DEFAULT})
  --no-demo              leave an empty data directory empty
  --dc-capacity <n>      most DCs the network holds (default ${DC_CAPACITY_DEFAULT}, at most ${DC_CAPACITY_MAX});
                         each costs skuCapacity × 8 bytes of counters. Recorded in the data
                         directory: a restart without it keeps the recorded one; a larger one
                         grows it; a smaller one is refused
  --sku-capacity <n>     most SKUs the catalogue holds (default ${SKU_CAPACITY_DEFAULT}, at most ${SKU_CAPACITY_MAX});
                         each costs dcCapacity × 8 bytes of counters; recorded and grown as
                         the DC capacity is. dcCapacity × skuCapacity stays below 2^31
  --order-capacity <n>   order-table slots, a power of two (live orders plus the idempotency
                         record of finished ones); a new data directory only
  --commit-order-table   commit the order table's memory at start, not as orders first land
                         on its pages: no page fault on the order path, all of its memory held
                         from the start (about 0.55 s and 674 MiB per 4 M slots)
  --snapshot-every <n>   snapshot and compact the log every n records (default ${SNAPSHOT_EVERY_RECORDS_DEFAULT}; 0: never)
  --event-retention <n>  log records kept, whatever the snapshots, for order event consumers
                         to resume from (default ${EVENT_RETENTION_RECORDS_DEFAULT})
  --connections-max <n>  WebSocket connections the node holds at most (default ${CONNECTIONS_PER_NODE_DEFAULT})
  --connections-per-key <n>  WebSocket connections one API key holds at most, over all threads
                         (default ${CONNECTIONS_PER_KEY_DEFAULT})
  --allow-js-fallback    run even if uWebSockets.js fell back to its JavaScript implementation
  --region <id>          serve this region of a cluster (a metro: bengaluru, new-york); needs --nats
  --nats <urls>          NATS JetStream servers, comma-separated (nats://127.0.0.1:4222,...);
                         the node owns its region while it holds its lease, and follows the
                         region's stream as a standby otherwise (see ARCHITECTURE.md, "Cluster")
  --replication <mode>   sync (default): acknowledge after the local commit AND the stream's
                         acknowledgement; async: after the local commit, shipped right after
  --lease-ms <n>         the lease, when this node creates the owners bucket (default ${LEASE_MS_DEFAULT})
  --advertise <url>      the WebSocket URL clients reach this node at (default ws://host:port/v1/ws)
  -h, --help             this text

Environment:
  INVENTORY_KEYS_FILE    path of a JSON key file
                         { "reader": key|[keys], "orderer": ..., "admin": ... }; an entry may
                         be { "id", "sha256" } (the key's digest) or { "id", "key" }
  INVENTORY_KEYS         the same JSON inline
  Without either, the node uses <data>/keys.json, generating it (mode 0600) when absent.
  ${TLS_PASSPHRASE_VARIABLE}  the passphrase of an encrypted --tls-key

Signals: SIGINT, SIGTERM shut down gracefully; SIGHUP reloads the key file (INVENTORY_KEYS_FILE or
<data>/keys.json): new keys work, removed keys stop working and their WebSocket connections close.
`;

function integerOption(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionsError(`--${name} must be an integer in [${min}, ${max}], got '${text}'`);
  }
  return value;
}

/** Keys from INVENTORY_KEYS (inline JSON) or INVENTORY_KEYS_FILE (a path), or null. */
export function keysFromEnv(env: Readonly<Record<string, string | undefined>>): KeyConfig | null {
  const inline = env.INVENTORY_KEYS;
  const file = env.INVENTORY_KEYS_FILE;
  if (inline !== undefined && inline !== '' && file !== undefined && file !== '') {
    throw new OptionsError('set INVENTORY_KEYS or INVENTORY_KEYS_FILE, not both');
  }
  if (inline !== undefined && inline !== '') return parseKeyConfig(inline, 'INVENTORY_KEYS');
  if (file !== undefined && file !== '') return loadKeyFile(file);
  return null;
}

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  threads: { type: 'string' },
  data: { type: 'string' },
  fsync: { type: 'string' },
  'log-level': { type: 'string' },
  'rate-limit': { type: 'string' },
  'rate-burst': { type: 'string' },
  'key-rate': { type: 'string' },
  'key-burst': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-passphrase': { type: 'string' },
  'demo-dcs': { type: 'string' },
  'demo-skus': { type: 'string' },
  'no-demo': { type: 'boolean' },
  'no-metrics': { type: 'boolean' },
  'metrics-open': { type: 'boolean' },
  'allow-js-fallback': { type: 'boolean' },
  'order-capacity': { type: 'string' },
  'commit-order-table': { type: 'boolean' },
  'dc-capacity': { type: 'string' },
  'sku-capacity': { type: 'string' },
  'snapshot-every': { type: 'string' },
  'event-retention': { type: 'string' },
  'connections-max': { type: 'string' },
  'connections-per-key': { type: 'string' },
  region: { type: 'string' },
  nats: { type: 'string' },
  replication: { type: 'string' },
  'lease-ms': { type: 'string' },
  advertise: { type: 'string' },
} as const;

export type CliResult = { help: true } | { help: false; options: NodeOptions };

/** Parses command-line flags and the environment; throws OptionsError on anything wrong. */
export function parseCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliResult {
  let command: CommandLine<typeof FLAGS>;
  try {
    command = parseCommandLine(argv, FLAGS);
  } catch (error) {
    throw new OptionsError((error as Error).message);
  }
  if (command.help) return { help: true };
  const { values } = command;
  const options = defaultNodeOptions();
  if (values.port !== undefined) options.port = integerOption('port', values.port, 0, 65_535);
  if (values.host !== undefined) options.host = values.host;
  if (values.threads !== undefined) {
    options.threads = integerOption('threads', values.threads, 1, THREADS_MAX);
  }
  if (values.data !== undefined) options.dataDir = values.data;
  if (values.fsync !== undefined) {
    const policy = parseDurabilityPolicy(values.fsync);
    if (policy === null) {
      throw new OptionsError(`--fsync must be one of ${DURABILITY_POLICIES.join(', ')}`);
    }
    options.fsync = policy;
  }
  const level = values['log-level'];
  if (level !== undefined) {
    if (!isLogLevel(level)) throw new OptionsError(`--log-level '${level}' is not a level`);
    options.logLevel = level;
  }
  parseRateFlags(options, values['rate-limit'], values['rate-burst']);
  parseKeyRateFlags(options, values['key-rate'], values['key-burst']);
  options.tls = tlsOptionsOf(values, env);
  parseDemoFlags(options, values['demo-dcs'], values['demo-skus'], values['no-demo'] === true);
  options.allowJsFallback = values['allow-js-fallback'] === true;
  options.metrics = values['no-metrics'] !== true;
  options.metricsOpen = values['metrics-open'] === true;
  if (!options.metrics && options.metricsOpen) {
    throw new OptionsError('--metrics-open and --no-metrics contradict each other');
  }
  const orderCapacity = values['order-capacity'];
  if (orderCapacity !== undefined) {
    options.engineConfig.orderCapacity = integerOption(
      'order-capacity',
      orderCapacity,
      16,
      1 << 26,
    );
  }
  options.commitOrderTable = values['commit-order-table'] === true;
  parseCapacityFlags(options, values['dc-capacity'], values['sku-capacity']);
  const every = values['snapshot-every'];
  if (every !== undefined) {
    options.snapshotEveryRecords = integerOption('snapshot-every', every, 0, 1_000_000_000);
  }
  const retention = values['event-retention'];
  if (retention !== undefined) {
    options.eventRetentionRecords = integerOption('event-retention', retention, 0, 1_000_000_000);
  }
  const connections = values['connections-max'];
  if (connections !== undefined) {
    options.connections.perNode = integerOption('connections-max', connections, 1, CONNECTIONS_MAX);
  }
  const perKey = values['connections-per-key'];
  if (perKey !== undefined) {
    options.connections.perKey = integerOption('connections-per-key', perKey, 1, CONNECTIONS_MAX);
  }
  options.cluster = clusterOptionsOf(values);
  options.keys = keysFromEnv(env);
  const keysFile = env.INVENTORY_KEYS_FILE;
  options.keysFile = keysFile !== undefined && keysFile !== '' ? keysFile : null;
  checkDemoFits(options);
  return { help: false, options };
}

/**
 * --dc-capacity and --sku-capacity: set only when given, so a restart without them keeps the
 * data directory's recorded capacities. Each is checked alone here, and together when both
 * are given; one given alone is checked against the recorded other when the log opens.
 */
function parseCapacityFlags(options: NodeOptions, dcs?: string, skus?: string): void {
  if (dcs !== undefined) {
    options.engineConfig.dcCapacity = integerOption('dc-capacity', dcs, 1, DC_CAPACITY_MAX);
  }
  if (skus !== undefined) {
    options.engineConfig.skuCapacity = integerOption('sku-capacity', skus, 1, SKU_CAPACITY_MAX);
  }
  const { dcCapacity, skuCapacity } = options.engineConfig;
  if (dcCapacity === undefined || skuCapacity === undefined) return;
  if (dcCapacity * skuCapacity > CELLS_MAX) {
    throw new OptionsError(
      `--dc-capacity × --sku-capacity must stay below 2^31 cells (a cell index is an int32), ` +
        `got ${dcCapacity} × ${skuCapacity}`,
    );
  }
}

function tlsOptionsOf(
  values: { 'tls-cert'?: string; 'tls-key'?: string; 'tls-passphrase'?: string },
  env: Readonly<Record<string, string | undefined>>,
): TlsOptions | null {
  const certFile = values['tls-cert'];
  const keyFile = values['tls-key'];
  const passphrase = values['tls-passphrase'] ?? env[TLS_PASSPHRASE_VARIABLE];
  if (certFile === undefined && keyFile === undefined) {
    if (values['tls-passphrase'] !== undefined) {
      throw new OptionsError('--tls-passphrase needs --tls-cert and --tls-key');
    }
    return null;
  }
  if (certFile === undefined || keyFile === undefined || certFile === '' || keyFile === '') {
    throw new OptionsError('--tls-cert and --tls-key go together: give both files');
  }
  return {
    certFile,
    keyFile,
    passphrase: passphrase === undefined || passphrase === '' ? null : passphrase,
  };
}

function parseKeyRateFlags(options: NodeOptions, rate?: string, burst?: string): void {
  if (rate !== undefined) {
    options.keyRateLimit.requestsPerSecond = integerOption(
      'key-rate',
      rate,
      1,
      RATE_REQUESTS_PER_SECOND_MAX,
    );
  }
  if (burst !== undefined) {
    options.keyRateLimit.burst = integerOption('key-burst', burst, 1, KEY_BURST_MAX);
  }
}

/** --region, --nats, --replication, --lease-ms, --advertise: a cluster node, or null. */
function clusterOptionsOf(values: {
  region?: string;
  nats?: string;
  replication?: string;
  'lease-ms'?: string;
  advertise?: string;
}): ClusterOptions | null {
  const { region, nats } = values;
  if (region === undefined && nats === undefined) {
    const stray = (['replication', 'lease-ms', 'advertise'] as const).find(
      (name) => values[name] !== undefined,
    );
    if (stray !== undefined) throw new OptionsError(`--${stray} needs --region and --nats`);
    return null;
  }
  if (region === undefined || nats === undefined) {
    throw new OptionsError('--region and --nats go together');
  }
  if (!isRegionId(region)) {
    throw new OptionsError(`--region must be a region id (lower-case letters, digits, -)`);
  }
  const servers = nats.split(',').map((url) => url.trim());
  if (servers.some((url) => !/^nats:\/\/[^\s/]+$/.test(url))) {
    throw new OptionsError('--nats must be nats://host:port URLs, comma-separated');
  }
  const replication = values.replication ?? 'sync';
  if (!isReplicationMode(replication)) {
    throw new OptionsError(`--replication must be one of ${REPLICATION_MODES.join(', ')}`);
  }
  const lease = values['lease-ms'];
  const advertise = values.advertise ?? null;
  if (advertise !== null && !/^wss?:\/\/\S+$/.test(advertise)) {
    throw new OptionsError('--advertise must be a ws:// or wss:// URL');
  }
  return {
    region,
    servers,
    replication,
    leaseMs:
      lease === undefined
        ? LEASE_MS_DEFAULT
        : integerOption('lease-ms', lease, LEASE_MS_MIN, LEASE_MS_MAX),
    advertise,
  };
}

function parseRateFlags(options: NodeOptions, rate?: string, burst?: string): void {
  if (rate !== undefined) {
    options.rateLimit.requestsPerSecond = integerOption(
      'rate-limit',
      rate,
      1,
      RATE_REQUESTS_PER_SECOND_MAX,
    );
  }
  if (burst !== undefined) {
    options.rateLimit.burst = integerOption('rate-burst', burst, 1, RATE_REQUESTS_PER_SECOND_MAX);
  }
}

function parseDemoFlags(options: NodeOptions, dcs?: string, skus?: string, none = false): void {
  if (none) {
    options.demo = null;
    return;
  }
  const demo = options.demo!;
  if (dcs !== undefined) demo.dcs = integerOption('demo-dcs', dcs, 1, 10_000);
  if (skus !== undefined) demo.skus = integerOption('demo-skus', skus, 1, 1_000_000);
}
