/**
 * One thread of the simulator (simulate.ts): an Engine attached to the shared engine memory,
 * writing to the shared log ring, as an edge worker would. Each round it applies the catalogue
 * records the owner sent, runs its batch of operations one after another, and reports every
 * answer with the log records the operation appended (and their tickets, whose order is the
 * log's order), then whether each operation was acknowledged: its last record became durable.
 *
 * The thread outlives the simulated process: a crash replaces everything it held (engine, log
 * end, their shared memory) with `attach`, which is what a restarted process would build, and
 * saves loading the modules again (most of a second each time).
 *
 * Crash support: with `cutAt`, it stops before operation `cutAt` once everything before it is
 * durable, says so, and waits for `continue` (the owner kills the log writer in between); with
 * `pauses`, it yields to its event loop after those operations, so a timed kill lands while
 * records are still being appended and committed.
 */

import { type MessagePort, parentPort } from 'node:worker_threads';
import { Engine } from '../engine/index.js';
import { runOperation } from '../engine/testing/index.js';
import { SharedLog } from '../wal/index.js';
import {
  type AttachRequest,
  CapturingLog,
  type Outcome,
  type RoundRequest,
  type WorkerMessage,
  type WorkerSetup,
} from './simulate-protocol.js';

/** What the thread holds for one process incarnation; replaced whole by `attach`. */
interface Attached {
  engine: Engine;
  log: SharedLog;
  capture: CapturingLog;
}

class SimulatorThread {
  private attached: Attached | null = null;
  private resume: (() => void) | null = null;

  constructor(private readonly port: MessagePort) {}

  receive(message: AttachRequest | RoundRequest | { type: 'continue' }): void {
    if (message.type === 'attach') {
      this.attach(message.setup);
      this.send({ type: 'ready' });
    } else if (message.type === 'continue') {
      this.resume?.();
      this.resume = null;
    } else {
      this.runRound(message).then(
        (outcomes) => this.send({ type: 'done', outcomes }),
        (error: Error) => this.send({ type: 'error', message: String(error?.stack ?? error) }),
      );
    }
  }

  private send(message: WorkerMessage): void {
    this.port.postMessage(message);
  }

  /** Drops the engine and log end it had (the old process's) and attaches to new ones. */
  private attach(setup: WorkerSetup): void {
    this.attached?.log.close();
    const clock = new BigInt64Array(setup.clockBuffer);
    const log = new SharedLog(setup.ringBuffer);
    const capture = new CapturingLog(log);
    const engine = Engine.attach(setup.shared, {
      clock: () => Number(Atomics.load(clock, 0)),
      log: capture,
    });
    for (const record of setup.catalogue) engine.applyCatalogue(record);
    this.attached = { engine, log, capture };
  }

  private async runRound(request: RoundRequest): Promise<Outcome[]> {
    if (this.attached === null) throw new Error('a round before attach');
    const { engine, log, capture } = this.attached;
    for (const record of request.catalogue) engine.applyCatalogue(record);
    const outcomes: Outcome[] = [];
    const waits: Promise<void>[] = [];
    for (let at = 0; at <= request.operations.length; at++) {
      if (at === request.cutAt) {
        await Promise.all(waits);
        this.send({ type: 'cut' });
        await new Promise<void>((done) => {
          this.resume = done;
        });
      }
      if (at === request.operations.length) break;
      const answer = runOperation(engine, request.operations[at]);
      const outcome: Outcome = { answer, records: capture.take(), acked: true, ackFailure: null };
      outcomes.push(outcome);
      if (outcome.records.length > 0) {
        outcome.acked = false;
        const last = outcome.records[outcome.records.length - 1].ticket;
        waits.push(
          log.waitDurable(last).then(
            () => {
              outcome.acked = true;
            },
            (error: Error & { code?: string }) => {
              outcome.ackFailure = error.code ?? error.message;
            },
          ),
        );
      }
      if (request.pauses.includes(at)) await new Promise((done) => setImmediate(done));
    }
    await Promise.all(waits);
    return outcomes;
  }
}

const port = parentPort;
if (port === null) throw new Error('simulate-worker.js runs in a worker thread');
const thread = new SimulatorThread(port);
port.on('message', (message: AttachRequest | RoundRequest | { type: 'continue' }) =>
  thread.receive(message),
);
