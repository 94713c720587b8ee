/**
 * A quick local measurement of the log: records per second, acknowledgement latency and
 * commit latency under each durability policy, with 1 and 2 producer threads, against a real
 * LMDB store in a temporary directory. (The project's benchmarks live in bench/; this is the
 * log's own check.)
 *
 *   node dist/tools/wal-measure.js [--records 100000] [--in-flight 1000] [--policy fsync]
 *                                  [--producers 2] [--json]
 *
 * Threads: each producer is a worker thread, the log writer is another; on a 2-core machine
 * they share both cores with the main thread, which only waits.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  createRingBuffer,
  DURABILITY_POLICIES,
  type DurabilityPolicy,
  parseDurabilityPolicy,
  LogWriter,
  parseCommandLine,
  RING_CAPACITY_BYTES_DEFAULT,
  runMain,
  SharedLog,
  SILENT_LOGGER,
  STORE_SIZE_BYTES_DEFAULT,
  showUsage,
  UsageError,
} from '../wal/index.js';
import type { MeasureTask } from './wal-measure-worker.js';

const RECORDS_DEFAULT = 100_000;
const RECORDS_MAX = 10_000_000;
const IN_FLIGHT_DEFAULT = 1_000;
const PRODUCER_COUNTS = [1, 2];
const PRODUCERS_MAX = 16;
/** A run that has not finished after this long is reported as failed. */
const RUN_TIMEOUT_MS = 120_000;

interface ProducerResult {
  seconds: number;
  latencyMicros: { p50: number; p99: number; max: number };
}

export interface MeasureRow {
  policy: DurabilityPolicy;
  producers: number;
  records: number;
  recordsPerSecond: number;
  ackMicrosP50: number;
  ackMicrosP99: number;
  batches: number;
  batchRecordsMean: number;
  batchRecordsMax: number;
  commitMicrosP50: number;
  commitMicrosP99: number;
  commitMicrosMax: number;
}

/** The compiled producer thread: next to this file under dist/, also when run from sources. */
function producerFile(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL('../dist/tools/wal-measure-worker.js', here);
  return new URL('./wal-measure-worker.js', here);
}

function runProducer(task: MeasureTask): Promise<ProducerResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(producerFile(), { workerData: task });
    worker.once('message', (message: { type: string; message?: string } & ProducerResult) => {
      if (message.type === 'done') resolve(message);
      else reject(new Error(message.message));
    });
    worker.once('error', reject);
  });
}

async function measure(
  policy: DurabilityPolicy,
  producers: number,
  records: number,
  inFlightMax: number,
  reserve: boolean,
): Promise<MeasureRow> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wal-measure-'));
  const ringBuffer = createRingBuffer({ capacityBytes: RING_CAPACITY_BYTES_DEFAULT, policy });
  try {
    const writer = await LogWriter.start({
      ringBuffer,
      dataDir,
      nextLsn: 1,
      storeSizeBytesMax: STORE_SIZE_BYTES_DEFAULT,
      logger: SILENT_LOGGER,
      // 0 turns the fsync policy's zeroed reserve off (wal/README.md, "On disk").
      fileReserveBytes: reserve ? undefined : 0,
    });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: producers }, (_, producer) =>
        runProducer({ ringBuffer, producer, records, inFlightMax }),
      ),
    );
    // Under `none` acknowledgements do not wait for the writer; time the writes too.
    const log = new SharedLog(ringBuffer);
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    while (log.durableLsn() < producers * records && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const seconds = (performance.now() - started) / 1000;
    const summary = await writer.stop();
    if (summary === null) throw new Error(`writer failed: ${writer.failure?.message}`);
    const worst = (pick: (r: ProducerResult) => number) => Math.max(...results.map(pick));
    return {
      policy,
      producers,
      records: producers * records,
      recordsPerSecond: Math.round((producers * records) / seconds),
      ackMicrosP50: Math.round(worst((r) => r.latencyMicros.p50)),
      ackMicrosP99: Math.round(worst((r) => r.latencyMicros.p99)),
      batches: summary.batches,
      batchRecordsMean: Math.round(summary.batchRecordsMean),
      batchRecordsMax: summary.batchRecordsMax,
      commitMicrosP50: summary.commitMicrosP50,
      commitMicrosP99: summary.commitMicrosP99,
      commitMicrosMax: summary.commitMicrosMax,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const IN_FLIGHT_MAX = 65_536;

const USAGE = `Usage: npm run bench:wal -- [options]

  --records <n>          records per producer (default ${RECORDS_DEFAULT})
  --in-flight <n>        acknowledgements in flight per producer (default ${IN_FLIGHT_DEFAULT})
  --policy <policy>      fsync, write or none (default: each in turn)
  --producers <n>        producer threads (default: ${PRODUCER_COUNTS.join(', then ')})
  --no-reserve           under fsync, let LMDB grow data.mdb at each commit instead of
                         keeping zeroed room ahead of the log (to measure what that saves)
  --json                 print the results as JSON
  -h, --help             this text
`;

const FLAGS = {
  records: { type: 'string' },
  'in-flight': { type: 'string' },
  policy: { type: 'string' },
  producers: { type: 'string' },
  json: { type: 'boolean' },
  'no-reserve': { type: 'boolean' },
} as const;

function flag(text: string | undefined, name: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > max) {
    throw new UsageError(`--${name} must be an integer in [1, ${max}], got '${text}'`);
  }
  return value;
}

async function main(args: string[]): Promise<number> {
  const command = parseCommandLine(args, FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  const records = flag(values.records, 'records', RECORDS_DEFAULT, RECORDS_MAX);
  const inFlight = flag(values['in-flight'], 'in-flight', IN_FLIGHT_DEFAULT, IN_FLIGHT_MAX);
  const policy = values.policy;
  const chosen = policy === undefined ? null : parseDurabilityPolicy(policy);
  if (policy !== undefined && chosen === null) {
    throw new UsageError(`--policy must be one of ${DURABILITY_POLICIES.join(', ')}`);
  }
  const policies = chosen === null ? DURABILITY_POLICIES : [chosen];
  const producerCounts =
    values.producers === undefined
      ? PRODUCER_COUNTS
      : [flag(values.producers, 'producers', 1, PRODUCERS_MAX)];
  const rows: MeasureRow[] = [];
  for (const policy of policies) {
    for (const producers of producerCounts) {
      rows.push(await measure(policy, producers, records, inFlight, values['no-reserve'] !== true));
    }
  }
  if (values.json === true) {
    const machine = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model };
    process.stdout.write(`${JSON.stringify({ machine, records, inFlight, rows }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `node ${process.version}, ${cpus().length} cores; ${records} records per producer, ` +
      `${inFlight} in flight per producer\n`,
  );
  console.table(rows);
  return 0;
}

runMain(() => main(process.argv.slice(2)), USAGE);
