/**
 * Inspecting a data directory, offline or next to a running node (it only reads):
 *
 * `<data-dir>` is a node's data directory or its `log` directory.
 *
 *   node dist/wal/cli.js <data-dir> info [--json]     log length and LSNs, snapshots, size
 *   node dist/wal/cli.js <data-dir> verify            replay the log against the snapshots
 *   node dist/wal/cli.js <data-dir> export-stock [--all]   NDJSON {dc, sku, onHand, available}
 *                                             (plus `shortfall` where a count fell below holds)
 *
 * `verify` checks every record's CRC and LSN sequence and replays each snapshot plus the log
 * after it into a fresh engine, comparing with the next snapshot; mismatches are listed and
 * the exit code is 1. Refusals (not ours, wrong version, ...) exit with their WalCodes code.
 * `export-stock` prints the stock the node would start with, before it expires overdue holds;
 * only non-zero cells unless `--all`.
 */

import { ExitCodes } from '../protocol/index.js';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineConfig } from '../engine/index.js';
import {
  isEntryPoint,
  parseCommandLine,
  reportFailure,
  showUsage,
  UsageError,
} from './command-line.js';
import { diffValues } from './compare.js';
import { createPrivateEngine, exportFullState, type SnapshotableEngine } from './engine-port.js';
import { describeWalError, type WalErrorBody, type WalResult, walError } from './errors.js';
import { replayLog } from './replay.js';
import { engineAtBase } from './snapshot.js';
import { listSnapshots, loadSnapshot, type SnapshotManifest } from './snapshot-store.js';
import {
  type DataMeta,
  databaseNames,
  inspectDirectory,
  logBounds,
  openEnvironment,
  readMeta,
  readWriterInfo,
  STORE_DATABASES,
  type Store,
  storeFromEnvironment,
  storeUsedBytes,
} from './store.js';

const USAGE =
  'usage: node dist/wal/cli.js <dir> info [--json] | verify | export-stock [--all]\n' +
  "  <dir> is a node's data directory (--data) or the log directory inside it (<data>/log)\n" +
  '  -h, --help   this text\n';
const COMMANDS = ['info', 'verify', 'export-stock'] as const;
type Command = (typeof COMMANDS)[number];
const FLAGS = {
  json: { type: 'boolean' },
  all: { type: 'boolean' },
} as const;
/** Where a node keeps its log inside its data directory. */
const NODE_LOG_DIR_NAME = 'log';
const EXIT_OK = ExitCodes.OK;
const EXIT_VERIFY_FAILED = ExitCodes.FAILURE;
/** Differences listed per comparison; a broken state differs everywhere. */
const DIFFERENCES_SHOWN_MAX = 20;
/** Bytes of NDJSON gathered before each write to stdout. */
const EXPORT_WRITE_BYTES = 64 * 1024;

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * The log directory to read: `dir` itself, or `dir/log` when `dir` is a node's data directory
 * (which holds the log beside keys.json).
 */
export function logDirOf(dir: string): string {
  const nested = join(dir, NODE_LOG_DIR_NAME);
  if (inspectDirectory(dir).kind === 'foreign' && inspectDirectory(nested).kind === 'store') {
    return nested;
  }
  return dir;
}

function openForReading(dataDir: string): WalResult<{ store: Store; meta: DataMeta }> {
  const directory = inspectDirectory(dataDir);
  if (directory.kind === 'empty')
    return walError('DATA_DIR_EMPTY', `${dataDir} is empty or missing`);
  if (directory.kind === 'foreign')
    return walError('DATA_DIR_FOREIGN', `${dataDir}: ${directory.reason}`);
  const env = openEnvironment({ path: dataDir, policy: 'write', readOnly: true });
  const names = databaseNames(env);
  if (!STORE_DATABASES.every((name) => names.includes(name))) {
    void env.close();
    return walError('DATA_DIR_FOREIGN', `${dataDir} is an LMDB store, not ours`);
  }
  const store = storeFromEnvironment(env);
  const meta = readMeta(store);
  if (meta === null) {
    void store.close();
    return walError('DATA_DIR_FOREIGN', `${dataDir} has no readable meta record`);
  }
  return { ok: true, value: { store, meta } };
}

function info(dataDir: string, store: Store, meta: DataMeta) {
  const bounds = logBounds(store);
  return {
    dataDir,
    formatVersion: meta.formatVersion,
    clusterId: meta.clusterId,
    nodeId: meta.nodeId,
    createdAt: new Date(meta.createdAt).toISOString(),
    log: {
      records: bounds === null ? 0 : store.log.getCount({ snapshot: false }),
      firstLsn: bounds?.first ?? null,
      lastLsn: bounds?.last ?? null,
    },
    snapshots: listSnapshots(store).map(({ lsn, manifest, problem }) => ({
      lsn,
      createdAt: manifest === null ? null : new Date(manifest.createdAt).toISOString(),
      bytes: manifest?.totalBytes ?? null,
      durationMs: manifest?.durationMs ?? null,
      problem,
    })),
    writer: readWriterInfo(store),
    sizeOnDiskBytes: statSync(join(dataDir, 'data.mdb')).size,
    usedBytes: storeUsedBytes(store.env),
  };
}

function printInfo(report: ReturnType<typeof info>, io: CliIo): void {
  const { log, snapshots } = report;
  const lines = [
    `data dir       ${report.dataDir}`,
    `format         ${report.formatVersion} (cluster ${report.clusterId}, node ${report.nodeId})`,
    `created        ${report.createdAt}`,
    `log            ${log.records} records` +
      (log.firstLsn === null ? '' : `, LSN ${log.firstLsn}..${log.lastLsn}`),
    `last snapshot  ${
      snapshots.length === 0
        ? 'none'
        : `LSN ${snapshots[0].lsn} at ${snapshots[0].createdAt} (${snapshots[0].bytes} bytes)`
    }`,
    ...snapshots.slice(1).map((s) => `               LSN ${s.lsn} at ${s.createdAt}`),
    ...snapshots.filter((s) => s.problem).map((s) => `DAMAGED        LSN ${s.lsn}: ${s.problem}`),
    `last writer    ${
      report.writer === null
        ? 'none recorded'
        : `session ${report.writer.session}, process ${report.writer.pid} on ` +
          `${report.writer.host} since ${new Date(report.writer.startedAt).toISOString()}, ` +
          `from LSN ${report.writer.firstLsn}`
    }`,
    `size on disk   ${report.sizeOnDiskBytes} bytes (${report.usedBytes} used)`,
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
}

function engineAt(
  store: Store,
  config: EngineConfig,
  manifest: SnapshotManifest | null,
): SnapshotableEngine | string {
  const engine = createPrivateEngine(config, Date.now);
  if (manifest === null) return engine;
  return loadSnapshot(store, manifest, engine) ?? engine;
}

/** Replays from `from` (or the start) through `to` and compares with `to`'s snapshot. */
function verifyStep(
  store: Store,
  config: EngineConfig,
  from: SnapshotManifest | null,
  to: SnapshotManifest,
): string[] {
  const label = `snapshot ${to.lsn} vs ${from === null ? 'the log' : `snapshot ${from.lsn}`}`;
  const replayed = engineAt(store, config, from);
  if (typeof replayed === 'string') return [`${label}: ${replayed}`];
  const result = replayLog(store, replayed, {
    afterLsn: from?.lsn ?? 0,
    throughLsn: to.lsn,
    tornTail: false,
  });
  if (!result.ok) return [`${label}: ${describeWalError(result.error)}`];
  const loaded = engineAt(store, config, to);
  if (typeof loaded === 'string') return [`${label}: ${loaded}`];
  const differences = diffValues(
    exportFullState(replayed),
    exportFullState(loaded),
    DIFFERENCES_SHOWN_MAX,
  );
  return differences.map((difference) => `${label}: ${difference}`);
}

function verify(store: Store, meta: DataMeta, io: CliIo): number {
  const problems: string[] = [];
  const listed = listSnapshots(store);
  for (const entry of listed) {
    if (entry.problem !== null) problems.push(`snapshot ${entry.lsn}: ${entry.problem}`);
  }
  const usable = listed
    .filter((entry) => entry.problem === null && entry.manifest !== null)
    .map((entry) => entry.manifest as SnapshotManifest)
    .reverse();
  const firstLsn = logBounds(store)?.first ?? null;
  let checked = 0;
  usable.forEach((to, i) => {
    const from = i === 0 ? null : usable[i - 1];
    // A step needs every record after `from`; compaction removes those behind the oldest.
    if (firstLsn === null || firstLsn > (from?.lsn ?? 0) + 1) return;
    problems.push(...verifyStep(store, meta.engineConfig, from, to));
    checked++;
  });
  const based = engineAtBase(store, meta.engineConfig, { clock: Date.now });
  if (!based.ok) problems.push(describeWalError(based.error));
  else {
    const tail = replayLog(store, based.value.engine, {
      afterLsn: based.value.baseLsn,
      tornTail: true,
    });
    if (!tail.ok) problems.push(describeWalError(tail.error));
    else if (tail.value.tornTail !== null) {
      const torn = tail.value.tornTail;
      io.stdout.write(
        `torn tail: ${torn.records} records from LSN ${torn.fromLsn} (${torn.reason}); ` +
          'the node truncates it at start\n',
      );
    }
    if (tail.ok)
      io.stdout.write(
        `log: ${tail.value.applied} records after LSN ${based.value.baseLsn} replay\n`,
      );
  }
  io.stdout.write(`snapshots: ${usable.length} usable, ${checked} checked against the log\n`);
  for (const problem of problems) io.stdout.write(`MISMATCH ${problem}\n`);
  io.stdout.write(problems.length === 0 ? 'verify: ok\n' : `verify: ${problems.length} problems\n`);
  return problems.length === 0 ? EXIT_OK : EXIT_VERIFY_FAILED;
}

async function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function exportStock(store: Store, meta: DataMeta, all: boolean, io: CliIo): Promise<number> {
  const based = engineAtBase(store, meta.engineConfig, { clock: Date.now });
  if (!based.ok) return fail(based.error, io);
  const { engine, baseLsn } = based.value;
  const replayed = replayLog(store, engine, { afterLsn: baseLsn, tornTail: true });
  if (!replayed.ok) return fail(replayed.error, io);
  const state = engine.exportState();
  let text = '';
  for (let dc = 0; dc < state.dcs.length; dc++) {
    const cells = engine.exportStockOfDc(dc);
    for (let sku = 0; sku < state.skus.length; sku++) {
      const counter = cells[sku * 2];
      const onHand = cells[sku * 2 + 1];
      if (!all && counter === 0 && onHand === 0) continue;
      // As the engine reports it: available never negative, a count below what is promised
      // shows as a shortfall.
      const available = Math.max(counter, 0);
      const row = { dc: state.dcs[dc].id, sku: state.skus[sku].id, onHand, available };
      if (counter < 0) Object.assign(row, { shortfall: -counter });
      text += `${JSON.stringify(row)}\n`;
      if (text.length >= EXPORT_WRITE_BYTES) {
        await write(io.stdout, text);
        text = '';
      }
    }
  }
  if (text.length > 0) await write(io.stdout, text);
  return EXIT_OK;
}

function fail(error: WalErrorBody, io: CliIo): number {
  io.stderr.write(`${describeWalError(error)}\n`);
  return error.exitCode;
}

interface CliArgs {
  given: string;
  command: Command;
  json: boolean;
  all: boolean;
}

/** The directory, command and flags; null for --help. Throws UsageError. */
function readArgs(args: readonly string[]): CliArgs | null {
  const parsed = parseCommandLine(args, FLAGS, 2);
  if (parsed.help) return null;
  const [given, command] = parsed.positionals;
  if (given === undefined) throw new UsageError('name a data directory and a command');
  if (!(COMMANDS as readonly (string | undefined)[]).includes(command)) {
    throw new UsageError(
      command === undefined
        ? `name a command: ${COMMANDS.join(', ')}`
        : `unknown command '${command}'`,
    );
  }
  const json = parsed.values.json === true;
  const all = parsed.values.all === true;
  if (json && command !== 'info') throw new UsageError('--json goes with info');
  if (all && command !== 'export-stock') throw new UsageError('--all goes with export-stock');
  return { given, command: command as Command, json, all };
}

/** Runs one command; resolves with the process exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let cli: CliArgs | null;
  try {
    cli = readArgs(args);
  } catch (error) {
    return reportFailure(error, USAGE, io.stderr);
  }
  if (cli === null) return showUsage(USAGE, io.stdout);
  const { given, command } = cli;
  const dataDir = logDirOf(given);
  const opened = openForReading(dataDir);
  if (!opened.ok) return fail(opened.error, io);
  const { store, meta } = opened.value;
  try {
    if (command === 'info') {
      const report = info(dataDir, store, meta);
      if (cli.json) io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else printInfo(report, io);
      return EXIT_OK;
    }
    if (command === 'verify') return verify(store, meta, io);
    return await exportStock(store, meta, cli.all, io);
  } finally {
    await store.close();
  }
}

if (isEntryPoint(import.meta.url)) {
  runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`${error?.stack ?? error}\n`);
      process.exitCode = ExitCodes.SOFTWARE;
    },
  );
}
