/**
 * Bulk load (F2): streams a file of catalogue and stock rows into a running node through the
 * SDK, with a bounded window of requests in flight and a progress bar.
 *
 *   INVENTORY_ADMIN_KEY=... npm run load -- examples/network.ndjson
 *   npm run load -- --url ws://host:8080/v1/ws --format csv examples/stock.csv
 *   INVENTORY_CA_FILE=ca.pem npm run load -- --url wss://host:8080/v1/ws examples/stock.csv
 *
 * NDJSON rows: `{"type":"dc", ...DC}`, `{"type":"sku", ...SKU}`, `{"dc","sku","qty"}` (a
 * receipt) or `{"dc","sku","onHand"}` (a count). CSV: a header naming `dc,sku,qty` or
 * `dc,sku,onHand` (and optionally `reason`), then one row per cell.
 *
 * Counts (`onHand`) are idempotent, so a load of counts can be re-run after a failure; a
 * receipt whose connection dropped before its answer may or may not have been applied and is
 * reported as such, never silently resent. Catalogue rows are a barrier: every request before
 * them is answered before they are sent, and they are answered before any later row is sent,
 * so stock rows never race the DC or SKU they name.
 */

import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InventoryClient } from '../protocol/client/index.js';
import { ExitCodes } from '../protocol/index.js';
import {
  isEntryPoint,
  KEY_VARIABLES,
  keyFromEnvironment,
  parseCommandLine,
  runMain,
  showUsage,
  UsageError,
} from '../wal/index.js';
import { CA_FILE_VARIABLE, readCaOption } from '../edge/index.js';

/** Requests in flight at once: enough to fill frames, bounded so memory stays flat. */
const WINDOW_MAX = 1_024;
/** Rows with errors kept for the report; the rest are only counted. */
const ERRORS_KEPT_MAX = 20;
const PROGRESS_INTERVAL_MS = 200;
const LINE_BYTES_MAX = 64 * 1024;

export type Row =
  | { kind: 'dc'; args: Record<string, unknown> }
  | { kind: 'sku'; args: Record<string, unknown> }
  | { kind: 'receive'; args: { dc: string; sku: string; qty: number; reason?: string } }
  | { kind: 'adjust'; args: { dc: string; sku: string; onHand: number; reason?: string } };

export interface LoadSummary {
  rows: number;
  applied: number;
  failed: number;
  /** Receipts whose connection dropped before their answer: applied or not, unknown. */
  uncertain: number;
  byCode: Record<string, number>;
  errors: { line: number; code: string; message: string }[];
}

export type RowParser = (line: string) => Row | { error: string } | null;

/** Parses one NDJSON line; null for a blank line. */
export function parseNdjsonRow(line: string): Row | { error: string } | null {
  if (line.trim() === '') return null;
  if (line.length > LINE_BYTES_MAX) return { error: 'line too long' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'not a JSON object' };
  }
  const { type, ...rest } = value as Record<string, unknown>;
  if (type === 'dc' || type === 'sku') return { kind: type, args: rest };
  if (type !== undefined && type !== 'receive' && type !== 'adjust') {
    return { error: `unknown row type ${JSON.stringify(type)}` };
  }
  return stockRow(rest, type as 'receive' | 'adjust' | undefined);
}

function stockRow(
  fields: Record<string, unknown>,
  type?: 'receive' | 'adjust',
): Row | { error: string } {
  const { dc, sku, qty, onHand, reason } = fields;
  if (typeof dc !== 'string' || typeof sku !== 'string')
    return { error: 'dc and sku are required' };
  const base = reason === undefined ? { dc, sku } : { dc, sku, reason: String(reason) };
  if ((type === 'adjust' || type === undefined) && onHand !== undefined) {
    return { kind: 'adjust', args: { ...base, onHand: onHand as number } };
  }
  if ((type === 'receive' || type === undefined) && qty !== undefined) {
    return { kind: 'receive', args: { ...base, qty: qty as number } };
  }
  return { error: 'a stock row needs qty (receipt) or onHand (count)' };
}

/** Splits one CSV line, with "quoted, fields" and "" escapes. */
export function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let at = 0; at < line.length; at++) {
    const char = line[at];
    if (quoted) {
      if (char === '"' && line[at + 1] === '"') {
        field += '"';
        at++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else field += char;
  }
  fields.push(field);
  return fields;
}

/** A CSV parser bound to its header line (the first non-blank line it sees). */
export function csvParser(): RowParser {
  let header: string[] | null = null;
  return (line) => {
    if (line.trim() === '') return null;
    const cells = splitCsv(line.replace(/\r$/, ''));
    if (header === null) {
      header = cells.map((cell) => cell.trim());
      const known = header.includes('dc') && header.includes('sku');
      if (!known || !(header.includes('qty') || header.includes('onHand'))) {
        return { error: 'the CSV header must name dc, sku and qty or onHand' };
      }
      return null;
    }
    const fields: Record<string, unknown> = {};
    for (let at = 0; at < header.length; at++) {
      const name = header[at];
      const cell = cells[at]?.trim() ?? '';
      fields[name] =
        name === 'qty' || name === 'onHand' ? (cell === '' ? undefined : Number(cell)) : cell;
    }
    return stockRow(fields);
  };
}

export interface LoadOptions {
  parse: RowParser;
  onProgress?: (summary: LoadSummary) => void;
  windowMax?: number;
}

/** Sends every row of `lines` through `client`; resolves when all are answered. */
export async function bulkLoad(
  client: InventoryClient,
  lines: AsyncIterable<string>,
  options: LoadOptions,
): Promise<LoadSummary> {
  const summary: LoadSummary = {
    rows: 0,
    applied: 0,
    failed: 0,
    uncertain: 0,
    byCode: {},
    errors: [],
  };
  const windowMax = options.windowMax ?? WINDOW_MAX;
  const inFlight = new Set<Promise<void>>();
  const fail = (line: number, code: string, message: string) => {
    summary.failed++;
    summary.byCode[code] = (summary.byCode[code] ?? 0) + 1;
    if (summary.errors.length < ERRORS_KEPT_MAX) summary.errors.push({ line, code, message });
  };
  const drain = async () => {
    while (inFlight.size > 0) await Promise.race(inFlight);
  };
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    const row = options.parse(line);
    if (row === null) continue;
    summary.rows++;
    if ('error' in row) {
      fail(lineNumber, 'BAD_ROW', row.error);
      continue;
    }
    const barrier = row.kind === 'dc' || row.kind === 'sku';
    if (barrier) await drain();
    const at = lineNumber;
    const sent = send(client, row).then(
      () => {
        summary.applied++;
      },
      (error: { code?: string; message?: string; maybeApplied?: boolean }) => {
        if (error.maybeApplied === true) summary.uncertain++;
        fail(at, error.code ?? 'INTERNAL', error.message ?? String(error));
      },
    );
    const tracked = sent.finally(() => {
      inFlight.delete(tracked);
      options.onProgress?.(summary);
    });
    inFlight.add(tracked);
    if (barrier) await drain();
    while (inFlight.size >= windowMax) await Promise.race(inFlight);
  }
  await drain();
  return summary;
}

function send(client: InventoryClient, row: Row): Promise<unknown> {
  switch (row.kind) {
    // Catalogue rows go as they are: the node validates them like any other request.
    case 'dc':
      return client.upsertDc(row.args as unknown as Parameters<InventoryClient['upsertDc']>[0]);
    case 'sku':
      return client.upsertSku(row.args as unknown as Parameters<InventoryClient['upsertSku']>[0]);
    case 'receive':
      return client.receive(row.args);
    case 'adjust':
      return client.adjust(row.args);
  }
}

function progressBar(fraction: number, summary: LoadSummary, rowsPerSecond: number): string {
  const width = 30;
  const filled = Math.round(Math.min(1, fraction) * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  return (
    `[${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${summary.rows.toLocaleString()} rows  ` +
    `${Math.round(rowsPerSecond).toLocaleString()} rows/s  ${summary.failed.toLocaleString()} failed`
  );
}

const URL_DEFAULT = 'ws://127.0.0.1:8080/v1/ws';

export const USAGE = `Usage: npm run load -- [options] <file>

  <file>                 NDJSON or CSV rows (see README, "Bulk load"; samples in examples/)
  --url <ws url>         the node's WebSocket endpoint (default ${URL_DEFAULT}; wss://... with TLS)
  --ca <file>            PEM CA to trust for wss:// (a self-signed node: its certificate)
  --key <admin key>      an admin key; better from the environment, since npm prints the
                         command line, flags included
  --format ndjson|csv    the rows' format (default: csv for a .csv file, otherwise ndjson)
  -h, --help             this text

Environment:
  ${KEY_VARIABLES.admin.join(', ')}
                         the admin key when --key is not given, the first set wins
                         (ADMIN_KEY is the older name of INVENTORY_ADMIN_KEY)
  ${CA_FILE_VARIABLE}      the CA file when --ca is not given

Exit status: 0 every row applied, 1 some rows failed (listed on stderr), 64 bad usage,
66 the file (or the CA file) cannot be read.
`;

/** sysexits EX_NOINPUT: an input file did not exist or was not readable. */
const EXIT_NO_INPUT = ExitCodes.NO_INPUT;

const FLAGS = {
  url: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  format: { type: 'string' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS, 1);
  if (command.help) return showUsage(USAGE);
  const { values, positionals } = command;
  const path = positionals[0];
  if (path === undefined) throw new UsageError('name the file to load');
  const key = values.key ?? keyFromEnvironment(process.env, 'admin');
  if (key === undefined) {
    throw new UsageError(`no admin key: set INVENTORY_ADMIN_KEY (or pass --key)`);
  }
  const format = values.format ?? (path.endsWith('.csv') ? 'csv' : 'ndjson');
  if (format !== 'csv' && format !== 'ndjson') {
    throw new UsageError(`--format must be ndjson or csv, got '${format}'`);
  }
  let size: number;
  let ca: Buffer | undefined;
  try {
    size = statSync(path).size;
  } catch (error) {
    process.stderr.write(`cannot read ${path}: ${(error as Error).message}\n`);
    return EXIT_NO_INPUT;
  }
  try {
    ca = readCaOption(values.ca, process.env)?.pem;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return EXIT_NO_INPUT;
  }
  const client = await InventoryClient.connect(values.url ?? URL_DEFAULT, {
    apiKey: key,
    timeoutMs: 30_000,
    ca,
  });
  // Opened only now: readline emits lines as soon as the stream flows, and lines emitted
  // before the loop below starts iterating would be lost.
  const stream = createReadStream(path);
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  const started = performance.now();
  let shown = 0;
  const show = (summary: LoadSummary, final = false) => {
    const now = performance.now();
    if (!final && now - shown < PROGRESS_INTERVAL_MS) return;
    shown = now;
    const line = progressBar(
      size === 0 ? 1 : stream.bytesRead / size,
      summary,
      summary.rows / ((now - started) / 1000),
    );
    if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
    else if (final) process.stderr.write(`${line}\n`);
  };
  try {
    const summary = await bulkLoad(client, lines, {
      parse: format === 'csv' ? csvParser() : parseNdjsonRow,
      onProgress: (current) => show(current),
    });
    show(summary, true);
    if (process.stderr.isTTY) process.stderr.write('\n');
    for (const error of summary.errors)
      console.error(`line ${error.line}: ${error.code}: ${error.message}`);
    console.log(
      JSON.stringify({
        ...summary,
        errors: undefined,
        seconds: (performance.now() - started) / 1000,
      }),
    );
    return summary.failed === 0 ? ExitCodes.OK : ExitCodes.FAILURE;
  } finally {
    await client.close();
  }
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);
