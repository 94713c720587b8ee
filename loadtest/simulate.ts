/**
 * The seeded simulator, in the manner of TigerBeetle's VOPR: the real engine, on real shared
 * memory, driven by several worker threads, writing the real LMDB write-ahead log, checked
 * after every step against the single-threaded reference model (engine/testing/model.ts), and
 * crashed and recovered at random.
 *
 *   npm run simulate -- --seed 42 --steps 5000 --threads 2
 *
 * A step is a round. The owner thread (this one; it also owns the catalogue) moves the virtual
 * clock, maybe changes the catalogue, then every worker thread runs a batch of operations at
 * once and waits for its acknowledgements; then everything is quiet and the checker looks:
 * the round's log records in the log's order (sorted by ticket) against the model
 * (engine/testing/sim-check.ts), a sweep of due holds now and then, the log's durable LSN
 * against the number of records appended, the conservation invariant of both, and the whole
 * state of the engine against the model's. With one thread (or --serial) the model decides
 * every operation itself and every answer and record must be equal.
 *
 * A crash round kills the log writer (LogWriter.kill) either at a cut (every thread stops
 * before a chosen operation once all before it are durable: a deterministic crash point) or
 * after a random delay while records are being appended and committed. The owner then drops
 * the process state (its engine, its workers and their shared memory, the open log), maybe
 * tears the log's tail (garbage, or records of a batch that never ended, as a torn write would
 * leave), and recovers a fresh engine from the directory. Recovery must keep every operation
 * that was acknowledged (its waitDurable resolved), lose only a suffix, truncate the torn tail,
 * and give exactly the state the model reaches by applying the surviving prefix of the log.
 *
 * Determinism: the operations, their batches, the clock, the catalogue changes, where crashes
 * happen and how tails are torn all come from the seed alone (engine/testing/sim-workload.ts).
 * What threads do not make deterministic: the interleaving of a round's batches, so which
 * order wins a unit, and, for a timed crash, how much of the log was durable at the kill. A
 * failure seen with --threads N replays its operations exactly with --threads N --serial (the
 * same batches, run one after another on one thread, checked answer for answer); with one
 * thread and cut crashes everything, verdict included, repeats from the seed.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Engine, type LogRecord } from '../engine/index.js';
import {
  applyChecked,
  canonical,
  catalogueChange,
  CatalogueIds,
  checkInLogOrder,
  checkInProgramOrder,
  compareWithModel,
  type Executed,
  logOrder,
  Mismatch,
  Model,
  type Operation,
  OperationStream,
  orderIdsOf,
  Prng,
  runOperation,
  seedFromEnv,
  SIM_CLOCK_START,
  SIM_CONFIG,
  SIM_CONTESTED_IDS,
  SIM_ORDERS_PER_EPOCH_MAX,
  simNetwork,
} from '../engine/testing/index.js';
import {
  logBounds,
  LogWriter,
  openStore,
  openWal,
  RecordEncoder,
  recordSession,
  type RecoveryReport,
  storedValue,
  type Wal,
  type WalLogger,
} from '../wal/index.js';
import {
  choiceFlag,
  intFlag,
  isEntryPoint,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
} from './cli.js';
import {
  type AttachRequest,
  CapturingLog,
  type Outcome,
  type RoundRequest,
  type WorkerMessage,
  type WorkerSetup,
} from './simulate-protocol.js';

export interface SimulationOptions {
  seed: number;
  steps: number;
  /** Operation streams; each runs on its own worker thread unless `serial`. */
  threads: number;
  /** Run the streams' batches one after another on one thread, checked answer for answer. */
  serial: boolean;
  /** Most operations one stream runs in a step. */
  opsPerStep: number;
  /** Steps before the simulator starts over in a fresh data directory. */
  epochSteps: number;
  /** Mean steps between crashes; 0 for none. */
  crashEvery: number;
  /**
   * How the writer is killed: at a cut (every thread stopped at an operation boundary, all
   * before it durable), after a random delay while records are appended and committed
   * (timed), or either at random (mixed).
   */
  crashMode: 'cut' | 'timed' | 'mixed';
  /** Mean steps between snapshots; 0 for none. */
  snapshotEvery: number;
  policy: 'fsync' | 'write';
  /**
   * 'any': extends ask for any TTL, so some bring a deadline forward. 'lengthen': every extend
   * moves the deadline later (see OperationStream), to look past a sweep that misses holds
   * whose deadline an extend brought forward.
   */
  extend: 'any' | 'lengthen';
  /** The run stops, passing, after this long. */
  secondsMax: number;
  progress?: (line: string) => void;
  /** The compiled worker; dist/loadtest/simulate-worker.js by default. */
  workerFile?: URL;
}

export interface SimulationFailure {
  step: number;
  epoch: number;
  what: string;
  details: string[];
}

export interface SimulationReport {
  seed: number;
  steps: number;
  operations: number;
  records: number;
  acknowledged: number;
  crashes: number;
  cutCrashes: number;
  tornTails: number;
  /** Records appended but not durable when the writer was killed (lost, never acknowledged). */
  recordsLost: number;
  snapshots: number;
  epochs: number;
  elapsedMs: number;
  /** The run reached `secondsMax` before `steps`. */
  timedOut: boolean;
  /** Adjust records whose on-hand did not follow from the log's order (see Model.adjustDrift). */
  adjustDrift: number;
  adjustDriftExamples: string[];
  /**
   * A killed log writer thread never finished (its teardown blocked): the process cannot stop
   * that thread, so it cannot exit normally either.
   */
  writerStuck: boolean;
  failure: SimulationFailure | null;
}

export const SIMULATION_DEFAULTS: Omit<SimulationOptions, 'seed'> = {
  steps: 2_000,
  threads: 2,
  serial: false,
  opsPerStep: 8,
  epochSteps: 250,
  crashEvery: 40,
  crashMode: 'mixed',
  snapshotEvery: 150,
  policy: 'write',
  extend: 'any',
  secondsMax: 3_600,
};

/** Limits on the command line and on waits, so every run is bounded. */
export const STEPS_MAX = 100_000_000;
export const THREADS_MAX = 8;
export const OPS_PER_STEP_MAX = 64;
const WORKER_REPLY_MS_MAX = 60_000;
const RING_CAPACITY_BYTES = 1 << 23;
/** A writer thread that has not exited this long after LogWriter.kill() never will. */
const KILL_WAIT_MS_MAX = 10_000;
const PROGRESS_EVERY_MS = 10_000;
/** Events kept for failure reports, and how many of them a report shows. */
const HISTORY_MAX = 8_192;
const HISTORY_SHOWN_MAX = 30;
/** Writer batch sizes an epoch picks from: one record a batch gives the most crash points. */
const WRITER_BATCH_RECORDS = [1, 3, 16, 8_192];
/** Units the records of a torn tail would receive, were they (wrongly) replayed. */
const TORN_RECEIVE_QTY = 1_000;

type CatalogueRecord = Extract<LogRecord, { type: 'dc' | 'sku' }>;
type Tear = 'none' | 'garbage' | 'unended';

interface CrashPlan {
  mode: 'cut' | 'timed';
  /** Per stream: the operation before which a cut stops it. */
  cuts: number[];
  delayMs: number;
  /** Per stream: operations after which a thread yields, to spread its appends in time. */
  pauses: number[][];
  tear: Tear;
}

interface RoundPlan {
  advanceMs: number;
  catalogue: Operation[];
  batches: Operation[][];
  sweep: boolean;
  crash: CrashPlan | null;
  snapshot: boolean;
}

/** What one worker thread runs in a round, and where each operation came from. */
interface LaneWork {
  operations: Operation[];
  origins: string[];
  pauses: number[];
  cut: number;
}

type Ran = Executed & Pick<Outcome, 'acked' | 'ackFailure'>;

/**
 * One event of an epoch's history: an operation with its answer, or a crash (`ids` null: it
 * concerns every order). Kept as the objects themselves; text is made only for a report.
 */
interface HistoryEvent {
  step: number;
  clock: number;
  ids: string[] | null;
  executed: Executed | null;
  line: string;
}

interface Totals {
  operations: number;
  records: number;
  acknowledged: number;
  crashes: number;
  cutCrashes: number;
  tornTails: number;
  recordsLost: number;
  snapshots: number;
  adjustDrift: number;
  adjustDriftExamples: string[];
}

/** A worker thread and the messages it sent that nobody has read yet. */
class Lane {
  private readonly inbox: WorkerMessage[] = [];
  private waiter: ((message: WorkerMessage) => void) | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (message: WorkerMessage) => this.deliver(message));
    worker.on('error', (error) => this.deliver({ type: 'error', message: String(error.stack) }));
    worker.on('exit', (code) => this.deliver({ type: 'error', message: `exited with ${code}` }));
  }

  private deliver(message: WorkerMessage): void {
    const waiter = this.waiter;
    this.waiter = null;
    if (waiter !== null) waiter(message);
    else this.inbox.push(message);
  }

  send(message: AttachRequest | RoundRequest | { type: 'continue' }): void {
    // A round goes as a JSON copy: posting the generator's own objects measured 1–5 ms a
    // message (their shapes cost the serializer), a copy of the same content about 10 µs.
    this.worker.postMessage(
      message.type === 'round' ? JSON.parse(JSON.stringify(message)) : message,
    );
  }

  /** The next message, which must be of `type`; bounded in time. */
  async next<T extends WorkerMessage['type']>(
    type: T,
  ): Promise<Extract<WorkerMessage, { type: T }>> {
    let timer: NodeJS.Timeout | undefined;
    const message =
      this.inbox.shift() ??
      (await new Promise<WorkerMessage>((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(
          () =>
            this.deliver({ type: 'error', message: `no '${type}' in ${WORKER_REPLY_MS_MAX} ms` }),
          WORKER_REPLY_MS_MAX,
        );
      }));
    clearTimeout(timer);
    if (message.type === 'error') throw new Error(`simulator worker: ${message.message}`);
    if (message.type !== type)
      throw new Error(`simulator worker: '${message.type}', not '${type}'`);
    return message as Extract<WorkerMessage, { type: T }>;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** The process being simulated: its log, its engine, its worker threads. */
interface Node {
  wal: Wal;
  engine: Engine;
  capture: CapturingLog;
  /** Records were appended since it started (its durable LSN means something). */
  appended: boolean;
}

function defaultWorkerFile(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL('../dist/loadtest/simulate-worker.js', here);
  return new URL('./simulate-worker.js', here);
}

/** One data directory's life: from empty, through crashes and recoveries, to its removal. */
class Epoch {
  readonly model: Model;
  readonly catalogue = new CatalogueIds();
  private readonly streams: OperationStream[];
  private readonly clock = new BigInt64Array(new SharedArrayBuffer(8));
  private node: Node | null = null;
  /** The LSN the next appended record gets. */
  private nextLsn = 1;
  private ownerTicket = 0;
  private pendingCatalogue: CatalogueRecord[] = [];
  private readonly logger: WalLogger & { recent: string[] };
  private readonly history: HistoryEvent[] = [];
  /** The step being run (for the history). */
  stepNumber = 0;
  /** The log writer could not be killed: the open log cannot be closed either. */
  writerStuck = false;

  private constructor(
    private readonly options: SimulationOptions,
    private readonly lanes: Lane[],
    readonly index: number,
    private readonly dir: string,
    private readonly schedule: Prng,
    private readonly totals: Totals,
    private readonly batchRecordsMax: number,
  ) {
    Atomics.store(this.clock, 0, BigInt(SIM_CLOCK_START));
    this.model = new Model(SIM_CONFIG, this.now);
    const newOrdersMax = Math.floor(
      (SIM_ORDERS_PER_EPOCH_MAX - SIM_CONTESTED_IDS) / options.threads,
    );
    this.streams = Array.from(
      { length: options.threads },
      (_, stream) =>
        new OperationStream(
          options.seed,
          index,
          stream,
          newOrdersMax,
          options.extend === 'lengthen',
        ),
    );
    const recent: string[] = [];
    this.logger = {
      recent,
      log: (level, message, fields) => {
        if (level === 'info') return;
        recent.push(`${level}: ${message} ${JSON.stringify(fields ?? {})}`);
        if (recent.length > 8) recent.shift();
      },
    };
  }

  static async start(
    options: SimulationOptions,
    lanes: Lane[],
    index: number,
    schedule: Prng,
    totals: Totals,
  ): Promise<Epoch> {
    const dir = mkdtempSync(join(tmpdir(), 'simulate-'));
    const batch = schedule.pick(WRITER_BATCH_RECORDS);
    const epoch = new Epoch(options, lanes, index, dir, schedule, totals, batch);
    try {
      await epoch.open();
      for (const operation of simNetwork()) {
        epoch.catalogue.note(operation);
        epoch.owner(operation);
      }
      for (const dc of epoch.catalogue.dcs) {
        for (const sku of epoch.catalogue.skus) {
          if (schedule.chance(0.6))
            epoch.owner({ kind: 'receive', dc, sku, qty: schedule.range(1, 30) });
        }
      }
      await epoch.settle();
      return epoch;
    } catch (error) {
      await epoch.close();
      throw error;
    }
  }

  readonly now = (): number => Number(Atomics.load(this.clock, 0));

  private get live(): Node {
    if (this.node === null) throw new Error('simulator: no running node');
    return this.node;
  }

  /** Opens the directory, recovers a fresh engine from it and starts the worker threads. */
  private async open(): Promise<RecoveryReport> {
    const opened = await openWal({
      dataDir: this.dir,
      engineConfig: SIM_CONFIG,
      policy: this.options.policy,
      ringCapacityBytes: RING_CAPACITY_BYTES,
      writerBatchRecordsMax: this.batchRecordsMax,
      clock: this.now,
      randomId: () => `simulator-${this.index}`,
      logger: this.logger,
    });
    if (!opened.ok) {
      throw new Mismatch('the data directory was refused', [
        `${opened.error.code}: ${opened.error.message}`,
      ]);
    }
    const wal = opened.value;
    const capture = new CapturingLog(wal.log);
    const engine = Engine.create(wal.engineConfig, { clock: this.now, log: capture });
    const recovered = await wal.recover(engine);
    if (!recovered.ok) {
      await wal.close();
      const { code, message } = recovered.error;
      throw new Mismatch('recovery refused the log', [
        `${code}: ${message}`,
        ...this.logger.recent,
      ]);
    }
    const setup: WorkerSetup = {
      shared: engine.shared(),
      ringBuffer: wal.ringBuffer,
      clockBuffer: this.clock.buffer as SharedArrayBuffer,
      catalogue: engine.catalogueRecords(),
    };
    for (const lane of this.lanes) lane.send({ type: 'attach', setup });
    await Promise.all(this.lanes.map((lane) => lane.next('ready')));
    this.node = { wal, engine, capture, appended: false };
    this.pendingCatalogue = [];
    // Tickets are positions in one ring: an old process's mean nothing in the new one.
    this.ownerTicket = 0;
    return recovered.value;
  }

  /** Runs an operation on the owner thread (catalogue, sweeps), decided by the model too. */
  private owner(operation: Operation): void {
    const node = this.live;
    const answer = runOperation(node.engine, operation);
    const records = node.capture.take();
    const executed = { operation, answer, records, origin: 'owner thread' };
    this.remember([executed]);
    checkInProgramOrder(this.model, [executed], false);
    for (const { record } of records) {
      if (record.type === 'dc' || record.type === 'sku') this.pendingCatalogue.push(record);
    }
    this.account(records.length);
    if (records.length > 0) this.ownerTicket = records[records.length - 1].ticket;
  }

  private account(records: number): void {
    this.nextLsn += records;
    this.totals.records += records;
    if (records > 0) this.live.appended = true;
  }

  /** Waits until the owner's records are durable. */
  private async flushOwner(): Promise<void> {
    await this.live.wal.log.waitDurable(this.ownerTicket);
    this.ownerTicket = 0;
  }

  /** Waits for the owner's records, then checks the log's durable LSN and the whole state. */
  private async settle(): Promise<void> {
    const node = this.live;
    await this.flushOwner();
    const durable = node.wal.log.durableLsn();
    if (node.appended && durable !== this.nextLsn - 1) {
      throw new Mismatch('the durable LSN is not the number of records appended', [
        `durable LSN ${durable}, records appended ${this.nextLsn - 1}`,
      ]);
    }
    const problems = compareWithModel(node.engine, this.model);
    if (problems.length > 0) throw new Mismatch('the engine and the model differ', problems);
  }

  async step(): Promise<void> {
    const plan = this.plan();
    Atomics.add(this.clock, 0, BigInt(plan.advanceMs));
    for (const operation of plan.catalogue) this.owner(operation);
    await this.flushOwner();
    const work = this.layOut(plan);
    if (plan.crash === null) await this.round(work);
    else await this.crashRound(work, plan.crash);
    if (plan.sweep) this.owner({ kind: 'expire' });
    await this.settle();
    if (plan.snapshot) await this.snapshot();
  }

  private plan(): RoundPlan {
    const prng = this.schedule;
    const roll = prng.int(100);
    const advanceMs =
      roll < 70
        ? prng.range(0, 2_000)
        : roll < 95
          ? prng.range(2_000, 30_000)
          : prng.range(30_000, 200_000);
    const catalogue: Operation[] = [];
    if (prng.chance(0.03)) {
      const change = catalogueChange(prng, this.catalogue, SIM_CONFIG);
      this.catalogue.note(change);
      catalogue.push(change);
    }
    const batches = this.streams.map((stream) =>
      Array.from({ length: prng.range(1, this.options.opsPerStep) }, () =>
        stream.next(this.catalogue),
      ),
    );
    const sweep = prng.chance(0.3);
    const crashing = this.options.crashEvery > 0 && prng.chance(1 / this.options.crashEvery);
    const crash: CrashPlan | null = crashing
      ? {
          mode: this.crashMode(prng.chance(0.5)),
          cuts: batches.map((batch) => prng.range(0, batch.length)),
          delayMs: prng.range(0, 3),
          pauses: batches.map((batch) => batch.map((_, at) => at).filter(() => prng.chance(0.3))),
          tear: (['none', 'none', 'garbage', 'unended'] as const)[prng.int(4)],
        }
      : null;
    const snapshot = this.options.snapshotEvery > 0 && prng.chance(1 / this.options.snapshotEvery);
    return { advanceMs, catalogue, batches, sweep, crash, snapshot };
  }

  private crashMode(heads: boolean): CrashPlan['mode'] {
    const mode = this.options.crashMode;
    return mode === 'mixed' ? (heads ? 'cut' : 'timed') : mode;
  }

  /** One lane per stream, or with --serial one lane running every stream's batch in turn. */
  private layOut(plan: RoundPlan): LaneWork[] {
    const lanes: LaneWork[] = plan.batches.map((operations, stream) => ({
      operations,
      origins: operations.map((_, at) => `stream ${stream} #${at}`),
      pauses: plan.crash?.pauses[stream] ?? [],
      cut: plan.crash?.cuts[stream] ?? -1,
    }));
    if (!this.options.serial) return lanes;
    const serial: LaneWork = { operations: [], origins: [], pauses: [], cut: lanes[0].cut };
    for (const lane of lanes) {
      const offset = serial.operations.length;
      serial.operations.push(...lane.operations);
      serial.origins.push(...lane.origins);
      serial.pauses.push(...lane.pauses.map((at) => at + offset));
    }
    return [serial];
  }

  /** Sends the round to every worker; kills the log writer during it when `crash` says so. */
  private async run(work: LaneWork[], crash: CrashPlan | null): Promise<Ran[][]> {
    const { lanes } = this;
    const catalogue = this.pendingCatalogue.splice(0);
    work.forEach((lane, at) => {
      lanes[at].send({
        type: 'round',
        catalogue,
        operations: lane.operations,
        pauses: crash === null ? [] : lane.pauses,
        cutAt: crash?.mode === 'cut' ? lane.cut : -1,
      });
    });
    let killed: Promise<void> | null = null;
    if (crash?.mode === 'cut') {
      await Promise.all(lanes.map((lane) => lane.next('cut')));
      await this.killWriter();
      for (const lane of lanes) lane.send({ type: 'continue' });
    } else if (crash?.mode === 'timed') {
      killed = new Promise((done) => setTimeout(done, crash.delayMs)).then(() => this.killWriter());
      // Awaited once the threads answer; until then a failure of the kill waits here.
      killed.catch(() => {});
    }
    const replies = await Promise.all(lanes.map((lane) => lane.next('done')));
    if (killed !== null) await killed;
    return replies.map((reply, at) =>
      reply.outcomes.map((outcome, index) => ({
        ...outcome,
        operation: work[at].operations[index],
        origin: work[at].origins[index],
      })),
    );
  }

  private async round(work: LaneWork[]): Promise<void> {
    const ran = await this.run(work, null);
    this.remember(ran.flat());
    for (const item of ran.flat()) {
      this.totals.operations++;
      if (item.acked) continue;
      throw new Mismatch('an operation was not acknowledged without a crash', [
        `operation (${item.origin}): ${JSON.stringify(item.operation)}`,
        `wait for durability: ${item.ackFailure}`,
        ...this.logger.recent,
      ]);
    }
    this.totals.acknowledged += ran.flat().length;
    if (ran.length === 1) checkInProgramOrder(this.model, ran[0], false);
    else checkInLogOrder(this.model, ran, this.now());
    this.account(logOrder(ran).length);
  }

  /**
   * A round during which the log writer dies, then the process state is dropped, the tail
   * maybe torn, and a fresh engine recovered: see the file's header for what must hold.
   */
  private async crashRound(work: LaneWork[], crash: CrashPlan): Promise<void> {
    const before = this.model.save();
    const ran = await this.run(work, crash);
    this.remember(ran.flat());
    this.totals.operations += ran.flat().length;
    // One thread: everything it did before and after the kill is decided by the model too.
    if (ran.length === 1) checkInProgramOrder(this.model, ran[0], true);
    this.model.restore(before);
    this.model.writable = true;
    this.model.takeRecords();
    const firstLsn = this.nextLsn;
    const inLog = logOrder(ran);
    const lastOnDisk = await this.dropProcess(crash.tear);
    const report = await this.open();
    const recoveredLsn = report.lastLsn;
    this.event(
      null,
      `crash (${crash.mode}, tail ${crash.tear}): round LSNs ${firstLsn}..${firstLsn + inLog.length - 1}, ` +
        `recovered through ${recoveredLsn}${report.snapshotLsn > 0 ? ` from the snapshot at ${report.snapshotLsn}` : ''}`,
    );
    this.checkRecovered(crash, report, lastOnDisk, firstLsn, ran, inLog.length);
    const lsnOf = new Map(inLog.map((entry, at) => [entry.appended, firstLsn + at]));
    for (const entry of inLog) {
      if (lsnOf.get(entry.appended)! > recoveredLsn) break;
      applyChecked(this.model, entry.appended.record, ran[entry.lane][entry.index], true);
    }
    this.model.clearSlack();
    for (const item of ran.flat()) {
      if (!item.acked) continue;
      this.totals.acknowledged++;
      if (item.records.every((appended) => lsnOf.get(appended)! <= recoveredLsn)) continue;
      throw new Mismatch('an acknowledged operation was lost in the crash', [
        `operation (${item.origin}): ${JSON.stringify(item.operation)}`,
        `its records end at LSN ${Math.max(...item.records.map((a) => lsnOf.get(a)!))}, recovery kept ${recoveredLsn}`,
      ]);
    }
    this.totals.recordsLost += firstLsn + inLog.length - 1 - recoveredLsn;
    this.nextLsn = recoveredLsn + 1;
    // Recovery expired the holds that fell due: the model must expire exactly those.
    const expired = this.live.capture.take();
    const sweep = { kind: 'expire' } as const;
    const answer = { expired: report.expired };
    const recovery = { operation: sweep, answer, records: expired, origin: 'recovery' };
    this.remember([recovery]);
    checkInProgramOrder(this.model, [recovery], false);
    this.account(expired.length);
  }

  private checkRecovered(
    crash: CrashPlan,
    report: RecoveryReport,
    lastOnDisk: number,
    firstLsn: number,
    ran: Ran[][],
    appended: number,
  ): void {
    const problems: string[] = [];
    const recovered = report.lastLsn;
    if (recovered !== lastOnDisk) {
      problems.push(
        `recovery kept up to LSN ${recovered}, the log held ${lastOnDisk} whole batches`,
      );
    }
    if (recovered < firstLsn - 1 || recovered > firstLsn - 1 + appended) {
      problems.push(
        `recovered LSN ${recovered} is outside [${firstLsn - 1}, ${firstLsn - 1 + appended}]`,
      );
    }
    if (crash.tear !== 'none' && report.tornTail?.fromLsn !== lastOnDisk + 1) {
      problems.push(
        `a ${crash.tear} tail after LSN ${lastOnDisk} was not truncated: ${JSON.stringify(report.tornTail)}`,
      );
    }
    if (crash.tear === 'none' && report.tornTail !== null) {
      problems.push(`a torn tail nobody tore: ${JSON.stringify(report.tornTail)}`);
    }
    if (crash.mode === 'cut') {
      // Everything before the cuts was acknowledged, nothing after it can have been written.
      const beforeCut = ran
        .flat()
        .filter((item) => item.acked)
        .reduce((sum, item) => sum + item.records.length, 0);
      if (recovered !== firstLsn - 1 + beforeCut) {
        problems.push(
          `a cut after ${beforeCut} records of the round recovered up to LSN ${recovered}`,
        );
      }
    }
    if (problems.length > 0)
      throw new Mismatch('recovery did not restore the durable prefix', [
        ...problems,
        ...this.logger.recent,
      ]);
    this.totals.crashes++;
    if (crash.mode === 'cut') this.totals.cutCrashes++;
    if (crash.tear !== 'none') this.totals.tornTails++;
  }

  private async killWriter(): Promise<void> {
    // Wal keeps its writer to itself; a crash test reaches in, as only a test should.
    const writer = (this.live.wal as unknown as { writer: LogWriter | null }).writer;
    if (!(writer instanceof LogWriter)) throw new Error('simulator: the log has no writer to kill');
    let timer: NodeJS.Timeout | undefined;
    const gone = await Promise.race([
      writer.kill().then(() => true),
      new Promise<false>((done) => {
        timer = setTimeout(() => done(false), KILL_WAIT_MS_MAX);
      }),
    ]);
    clearTimeout(timer);
    if (gone) return;
    this.writerStuck = true;
    throw new Mismatch(`LogWriter.kill() did not return in ${KILL_WAIT_MS_MAX} ms`, [
      'the killed log writer thread did not exit: terminated inside an LMDB write transaction,',
      "its teardown (lmdb-js EnvWrap::cleanupStrayTxns) blocks on the environment's write lock,",
      'which the interrupted transaction still holds; the thread, and so the process, cannot stop',
      ...this.logger.recent,
    ]);
  }

  /** Drops everything the process held; tears the log's tail as told. Returns its last LSN. */
  private async dropProcess(tear: Tear): Promise<number> {
    const node = this.live;
    this.node = null;
    // The worker threads stay; at the next attach they drop all they held of this process.
    await node.wal.close();
    const store = openStore({ path: this.dir, policy: this.options.policy });
    try {
      const last = logBounds(store)?.last ?? 0;
      // A torn batch of the writer that wrote the last record, so only its missing end tells.
      const lastValue = last === 0 ? undefined : store.log.getBinary(last);
      const session = lastValue === undefined ? 1 : recordSession(lastValue);
      if (tear === 'garbage') store.log.putSync(last + 1, Buffer.from('a torn write'));
      if (tear === 'unended') {
        const encoder = new RecordEncoder();
        for (let at = 1; at <= 3; at++) {
          const record: LogRecord = {
            type: 'receive',
            at: this.now(),
            actor: 'torn',
            reason: 'never acknowledged',
            dc: 0,
            sku: 0,
            qty: TORN_RECEIVE_QTY,
          };
          // Flags 0: valid records of a batch whose end was never written.
          store.log.putSync(last + at, storedValue(encoder.encode(record), 0, last + at, session));
        }
      }
      return last;
    } finally {
      await store.close();
    }
  }

  private async snapshot(): Promise<void> {
    const taken = await this.live.wal.snapshot();
    if (!taken.ok) {
      throw new Mismatch('a snapshot failed', [`${taken.error.code}: ${taken.error.message}`]);
    }
    this.totals.snapshots++;
  }

  private remember(executed: readonly Executed[]): void {
    for (const item of executed) this.event(orderIdsOf(item), '', item);
  }

  private event(ids: string[] | null, line: string, executed: Executed | null = null): void {
    this.history.push({ step: this.stepNumber, clock: this.now(), ids, executed, line });
    if (this.history.length > HISTORY_MAX * 2) this.history.splice(0, HISTORY_MAX);
  }

  private static describeEvent(event: HistoryEvent): string {
    const seconds = ((event.clock - SIM_CLOCK_START) / 1000).toFixed(1);
    const item = event.executed;
    if (item === null) return `step ${event.step} t=${seconds}s ${event.line}`;
    const records = item.records.map((appended) => appended.record.type).join(', ');
    return (
      `step ${event.step} t=${seconds}s ${item.origin}: ${JSON.stringify(item.operation)} → ` +
      `${canonical(item.answer)}${records === '' ? '' : ` [logged: ${records}]`}`
    );
  }

  /** The last events that touched any of `ids` (and crashes), oldest first. */
  historyOf(ids: readonly string[]): string[] {
    if (ids.length === 0) return [];
    const wanted = new Set(ids);
    const events = this.history.filter(
      (event) => event.ids === null || event.ids.some((id) => wanted.has(id)),
    );
    const shown = events.slice(-HISTORY_SHOWN_MAX);
    return [
      `history of ${ids.join(', ')} (last ${shown.length} of ${events.length} events, with crashes):`,
      ...shown.map((event) => `  ${Epoch.describeEvent(event)}`),
    ];
  }

  async close(): Promise<void> {
    const node = this.node;
    this.node = null;
    try {
      // Closing waits for the writer thread to exit, which a stuck one never does.
      if (node !== null && !this.writerStuck) await node.wal.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** Where a run is: steps done, epochs begun, totals, how it ended. */
interface Run {
  options: SimulationOptions;
  lanes: Lane[];
  schedule: Prng;
  totals: Totals;
  started: number;
  step: number;
  epochs: number;
  failure: SimulationFailure | null;
  timedOut: boolean;
  writerStuck: boolean;
  progressAt: number;
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const started = performance.now();
  const file = options.workerFile ?? defaultWorkerFile();
  // The worker threads live for the whole run; each process incarnation attaches them afresh.
  const lanes = Array.from({ length: options.serial ? 1 : options.threads }, () => {
    return new Lane(new Worker(file));
  });
  const run: Run = {
    options,
    lanes,
    schedule: new Prng(options.seed, 0),
    totals: {
      operations: 0,
      records: 0,
      acknowledged: 0,
      crashes: 0,
      cutCrashes: 0,
      tornTails: 0,
      recordsLost: 0,
      snapshots: 0,
      adjustDrift: 0,
      adjustDriftExamples: [],
    },
    started,
    step: 0,
    epochs: 0,
    failure: null,
    timedOut: false,
    writerStuck: false,
    progressAt: started + PROGRESS_EVERY_MS,
  };
  try {
    while (run.step < options.steps && run.failure === null && !run.timedOut) await runEpoch(run);
  } finally {
    await Promise.all(lanes.map((lane) => lane.stop()));
  }
  const { step, failure } = run;
  return {
    seed: options.seed,
    steps: failure === null ? step : failure.step + 1,
    ...run.totals,
    epochs: run.epochs,
    elapsedMs: performance.now() - started,
    timedOut: run.timedOut,
    writerStuck: run.writerStuck,
    failure,
  };
}

/** One epoch: a fresh directory, steps until the epoch's end, a failure or the time limit. */
async function runEpoch(run: Run): Promise<void> {
  const { options } = run;
  const index = run.epochs++;
  const deadline = run.started + options.secondsMax * 1000;
  let epoch: Epoch | null = null;
  try {
    epoch = await Epoch.start(options, run.lanes, index, run.schedule, run.totals);
    const end = Math.min(options.steps, run.step + options.epochSteps);
    for (; run.step < end; run.step++) {
      if (performance.now() > deadline) {
        run.timedOut = true;
        return;
      }
      epoch.stepNumber = run.step;
      await epoch.step();
      if (performance.now() > run.progressAt) {
        run.progressAt += PROGRESS_EVERY_MS;
        const elapsed = performance.now() - run.started;
        options.progress?.(progressLine(run.step + 1, run.totals, elapsed));
      }
    }
  } catch (error) {
    // Anything else thrown is a failure too (an engine assert, a thread that died), with its
    // stack: it still has a seed and a step to replay.
    const mismatch =
      error instanceof Mismatch
        ? error
        : new Mismatch(
            'the simulation stopped on an error',
            String((error as Error)?.stack ?? error).split('\n'),
          );
    const history = epoch?.historyOf(mismatch.orderIds) ?? [];
    const details = [...mismatch.details, ...history];
    run.failure = { step: run.step, epoch: index, what: mismatch.what, details };
  } finally {
    run.writerStuck ||= epoch?.writerStuck ?? false;
    if (epoch !== null) {
      run.totals.adjustDrift += epoch.model.adjustDriftCount;
      const room = 4 - run.totals.adjustDriftExamples.length;
      run.totals.adjustDriftExamples.push(...epoch.model.adjustDrift.slice(0, Math.max(room, 0)));
    }
    await epoch?.close();
  }
}

function progressLine(steps: number, totals: Totals, elapsedMs: number): string {
  const perSecond = Math.round(steps / (elapsedMs / 1000));
  const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  return (
    `step ${steps}: ${totals.operations} operations, ${totals.crashes} crashes, ` +
    `${perSecond} steps/s, ${rssMiB} MiB resident`
  );
}

/** The report as printed: totals, rates, and for a failure where and how to replay it. */
export function formatReport(report: SimulationReport, options: SimulationOptions): string {
  const seconds = report.elapsedMs / 1000;
  const lines = [
    `steps: ${report.steps}, operations: ${report.operations} (${report.acknowledged} acknowledged), ` +
      `log records: ${report.records}`,
    `crashes: ${report.crashes} (${report.cutCrashes} at a cut, ${report.tornTails} with a torn tail, ` +
      `${report.recordsLost} unacknowledged records lost), snapshots: ${report.snapshots}, ` +
      `epochs: ${report.epochs}`,
    `elapsed: ${seconds.toFixed(1)} s, ${Math.round(report.steps / seconds)} steps/s, ` +
      `${Math.round(report.operations / seconds)} operations/s`,
  ];
  if (report.timedOut) lines.push(`stopped at --seconds-max ${options.secondsMax}`);
  if (report.adjustDrift > 0) {
    lines.push(
      `note: ${report.adjustDrift} adjust records whose on-hand does not follow from the log's ` +
        'order (a count raced a pick or receipt on its cell; recovery adds deltas and is right):',
      ...report.adjustDriftExamples.map((example) => `  ${example}`),
    );
  }
  if (report.failure === null) {
    lines.push('verdict: pass');
    return `${lines.join('\n')}\n`;
  }
  const { failure } = report;
  const replay =
    `npm run simulate -- --seed ${report.seed} --steps ${failure.step + 1} --threads ${options.threads}` +
    `${options.serial ? ' --serial' : ''} --ops-per-step ${options.opsPerStep} ` +
    `--epoch-steps ${options.epochSteps} --crash-every ${options.crashEvery} ` +
    `--crash-mode ${options.crashMode} ` +
    `--snapshot-every ${options.snapshotEvery} --fsync ${options.policy} --extend ${options.extend}`;
  lines.push(
    `verdict: FAILED at step ${failure.step} (epoch ${failure.epoch}): ${failure.what}`,
    ...failure.details.map((line) => `  ${line}`),
    `seed: ${report.seed}`,
    `replay: ${replay}`,
  );
  if (!options.serial && options.threads > 1) {
    lines.push(`replay the same operations on one thread: ${replay} --serial`);
  }
  return `${lines.join('\n')}\n`;
}

export const USAGE = `Usage: npm run simulate -- [options]

A seeded simulation of the engine and its write-ahead log: worker threads run random
operations on the real engine, the log writer is killed and the engine recovered at random,
and every step is checked against the reference model. It prints its seed first.

  --seed <n>            the seed (default: SEED from the environment, else a random one)
  --steps <n>           steps (rounds) to run (default 2000, at most ${STEPS_MAX})
  --threads <n>         operation streams, one worker thread each (default 2, at most ${THREADS_MAX})
  --serial              run the streams' batches one after another on one thread: the same
                        operations as with --threads, checked answer for answer
  --ops-per-step <n>    most operations a stream runs in a step (default 8, at most ${OPS_PER_STEP_MAX})
  --epoch-steps <n>     steps before starting over in a fresh data directory (default 250)
  --crash-every <n>     mean steps between crashes, 0 for none (default 40)
  --crash-mode <mode>   cut: stop every thread at an operation boundary, then kill the log
                        writer; timed: kill it after a random delay, while records are
                        appended and committed; mixed: either (default mixed)
  --snapshot-every <n>  mean steps between snapshots, 0 for none (default 150)
  --fsync <policy>      durability policy of the log: write or fsync (default write)
  --extend <kind>       any: extends ask for any TTL; lengthen: every extend moves the
                        deadline later (default any)
  --seconds-max <n>     stop, passing, after this many seconds (default 3600)
  -h, --help            this text

Exit status: 0 when every check passed, 1 when one failed (the report says where and how to
replay it), 64 for a bad command line, 137 when a killed log writer thread could not be
stopped (the report says so; the process then ends itself with SIGKILL, as nothing else ends it).
`;

const FLAGS = {
  seed: { type: 'string' },
  steps: { type: 'string' },
  threads: { type: 'string' },
  serial: { type: 'boolean' },
  'ops-per-step': { type: 'string' },
  'epoch-steps': { type: 'string' },
  'crash-every': { type: 'string' },
  'crash-mode': { type: 'string' },
  'snapshot-every': { type: 'string' },
  fsync: { type: 'string' },
  extend: { type: 'string' },
  'seconds-max': { type: 'string' },
} as const;

export function optionsFromCommandLine(
  values: Record<string, string | boolean | undefined>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SimulationOptions {
  const defaults = SIMULATION_DEFAULTS;
  return {
    seed:
      values.seed === undefined
        ? seedFromEnv(undefined, env)
        : intFlag(values, 'seed', 0, 0, Number.MAX_SAFE_INTEGER),
    steps: intFlag(values, 'steps', defaults.steps, 1, STEPS_MAX),
    threads: intFlag(values, 'threads', defaults.threads, 1, THREADS_MAX),
    serial: values.serial === true,
    opsPerStep: intFlag(values, 'ops-per-step', defaults.opsPerStep, 1, OPS_PER_STEP_MAX),
    epochSteps: intFlag(values, 'epoch-steps', defaults.epochSteps, 1, STEPS_MAX),
    crashEvery: intFlag(values, 'crash-every', defaults.crashEvery, 0, STEPS_MAX),
    crashMode: choiceFlag(values, 'crash-mode', defaults.crashMode, [
      'cut',
      'timed',
      'mixed',
    ] as const),
    snapshotEvery: intFlag(values, 'snapshot-every', defaults.snapshotEvery, 0, STEPS_MAX),
    policy: policyFlag(values, 'fsync', defaults.policy, ['write', 'fsync'] as const),
    extend: choiceFlag(values, 'extend', defaults.extend, ['any', 'lengthen'] as const),
    secondsMax: intFlag(values, 'seconds-max', defaults.secondsMax, 1, 7 * 24 * 3_600),
  };
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const options = optionsFromCommandLine(command.values);
  process.stdout.write(`seed: ${options.seed}\n`);
  const report = await runSimulation({
    ...options,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(formatReport(report, options));
  if (report.writerStuck) {
    // A thread that cannot be stopped keeps process.exit() waiting for ever (it joins every
    // thread); the report is written, so end the process the one way that does not wait.
    process.kill(process.pid, 'SIGKILL');
  }
  return report.failure === null ? 0 : 1;
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);
