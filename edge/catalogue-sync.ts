/**
 * Catalogue changes across threads. Index assignment has one owner, the main thread: a worker
 * forwards `upsertDc`/`upsertSku` to it (`UpsertForwarder`), the main thread runs the engine's
 * upsert, broadcasts the resulting record to every worker at once (`CatalogueOwner`), and
 * answers the worker when the record is durable and every worker has applied it. So when a
 * client hears that a DC or SKU exists, every thread already serves it.
 *
 * Invariants:
 * - Records are broadcast in the order the main thread's engine applied them, and each worker
 *   applies its messages in order, so every thread assigns the same indexes.
 * - A worker may act on a record before it is durable; anything it logs about the new DC or SKU
 *   comes after the record in the log, so it cannot become durable first.
 * - Waits are bounded: forwarded upserts per worker (CATALOGUE_PENDING_MAX) and time
 *   (CATALOGUE_WAIT_MS_MAX, then TIMEOUT).
 */

import type { Engine } from '../engine/index.js';
import { CATALOGUE_PENDING_MAX, CATALOGUE_WAIT_MS_MAX } from './constants.js';
import { errorFromUnknown, errorOf } from './errors.js';
import type { DurableLog } from './operations.js';
import type {
  CatalogueRecord,
  MainToWorker,
  UpsertOutcome,
  UpsertRequest,
  WorkerToMain,
} from './thread-messages.js';

/** How the owner reaches a worker: post a message to it. */
export interface WorkerPort {
  post(message: MainToWorker): void;
}

interface AckWait {
  sequence: number;
  resolve: () => void;
}

export class CatalogueOwner {
  private sequence = 0;
  private readonly acked = new Map<WorkerPort, number>();
  private waits: AckWait[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly log: DurableLog,
    private readonly clock: () => number,
    /** Told of every record as it is broadcast (the main thread's own catalogue view). */
    private readonly onRecord: (record: CatalogueRecord) => void = () => {},
  ) {}

  addWorker(worker: WorkerPort): void {
    this.acked.set(worker, this.sequence);
  }

  /** A worker that exited no longer holds acknowledgements back. */
  removeWorker(worker: WorkerPort): void {
    this.acked.delete(worker);
    this.release();
  }

  acknowledge(worker: WorkerPort, sequence: number): void {
    if (!this.acked.has(worker)) return;
    this.acked.set(worker, sequence);
    this.release();
  }

  private release(): void {
    let low = this.sequence;
    for (const sequence of this.acked.values()) low = Math.min(low, sequence);
    if (this.waits.length === 0 || this.waits[0].sequence > low) return;
    const ready = this.waits.filter((wait) => wait.sequence <= low);
    this.waits = this.waits.filter((wait) => wait.sequence > low);
    for (const wait of ready) wait.resolve();
  }

  private broadcast(record: CatalogueRecord): Promise<void> {
    const sequence = ++this.sequence;
    this.onRecord(record);
    for (const worker of this.acked.keys()) worker.post({ type: 'catalogue', sequence, record });
    return new Promise((resolve) => {
      this.waits.push({ sequence, resolve });
      this.release();
    });
  }

  /**
   * Sends a record the main engine already applied (a cluster standby applies its primary's
   * records from the stream) to every worker, in order with every other record.
   */
  announce(record: CatalogueRecord): Promise<void> {
    return this.broadcast(record);
  }

  /** Runs a forwarded upsert and answers once it is durable and applied everywhere. */
  async upsert(request: UpsertRequest): Promise<UpsertOutcome> {
    if (!this.log.writable()) return { ok: false, error: errorOf('READ_ONLY') };
    const by = { actor: request.actor, reason: request.reason };
    const engine = this.engine;
    let record: CatalogueRecord;
    let value: unknown;
    if (request.op === 'upsertDc') {
      const result = engine.upsertDc(request.args as Parameters<Engine['upsertDc']>[0], by);
      if (!result.ok) return { ok: false, error: result.error };
      record = { type: 'dc', at: this.clock(), actor: request.actor, dc: result.dc };
      value = { created: result.created, dc: result.dc };
    } else {
      const result = engine.upsertSku(request.args as Parameters<Engine['upsertSku']>[0], by);
      if (!result.ok) return { ok: false, error: result.error };
      record = { type: 'sku', at: this.clock(), actor: request.actor, sku: result.sku };
      value = { created: result.created, sku: result.sku };
    }
    const ticket = engine.lastTicket;
    try {
      await Promise.all([this.log.waitDurable(ticket), this.broadcast(record)]);
    } catch (error) {
      return { ok: false, error: errorFromUnknown(error) };
    }
    return { ok: true, value };
  }

  /** Handles a worker's message if it is about the catalogue; returns whether it was. */
  handle(worker: WorkerPort, message: WorkerToMain): boolean {
    if (message.type === 'catalogue-ack') {
      this.acknowledge(worker, message.sequence);
      return true;
    }
    if (message.type === 'upsert') {
      const requestId = message.requestId;
      this.upsert(message).then(
        (outcome) => worker.post({ type: 'upsert-result', requestId, outcome }),
        (error: unknown) =>
          worker.post({
            type: 'upsert-result',
            requestId,
            outcome: { ok: false, error: errorFromUnknown(error) },
          }),
      );
      return true;
    }
    return false;
  }
}

/** A worker's side: forwards upserts to the main thread and matches the answers. */
export class UpsertForwarder {
  private nextRequestId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (outcome: UpsertOutcome) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly post: (message: WorkerToMain) => void) {}

  get pending(): number {
    return this.waiting.size;
  }

  readonly forward = (
    request: Omit<UpsertRequest, 'type' | 'requestId'>,
  ): Promise<UpsertOutcome> => {
    if (this.waiting.size >= CATALOGUE_PENDING_MAX) {
      return Promise.resolve({ ok: false, error: errorOf('TOO_MANY_IN_FLIGHT') });
    }
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        resolve({ ok: false, error: errorOf('TIMEOUT', 'the catalogue change did not finish') });
      }, CATALOGUE_WAIT_MS_MAX);
      this.waiting.set(requestId, { resolve, timer });
      this.post({ type: 'upsert', requestId, ...request });
    });
  };

  settle(requestId: number, outcome: UpsertOutcome): void {
    const entry = this.waiting.get(requestId);
    if (entry === undefined) return;
    this.waiting.delete(requestId);
    clearTimeout(entry.timer);
    entry.resolve(outcome);
  }
}
