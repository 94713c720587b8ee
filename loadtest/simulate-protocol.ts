/**
 * What the simulator's owner thread (simulate.ts) and its worker threads (simulate-worker.ts)
 * say to each other, and the capturing log both use: every record an engine appends, with its
 * ticket. Tickets are ring positions, so sorting a round's records by ticket gives the order
 * the log writer gives them LSNs in: the log's order.
 */

import type { EngineShared, LogRecord, OperationLog } from '../engine/index.js';
import type { Answer, Appended, Operation } from '../engine/testing/index.js';

export interface WorkerSetup {
  shared: EngineShared;
  ringBuffer: SharedArrayBuffer;
  /** The virtual clock: one int64 of milliseconds since the epoch. */
  clockBuffer: SharedArrayBuffer;
  catalogue: Extract<LogRecord, { type: 'dc' | 'sku' }>[];
}

/** Drop whatever engine the thread has and attach to this memory, ring and clock. */
export interface AttachRequest {
  type: 'attach';
  setup: WorkerSetup;
}

export interface RoundRequest {
  type: 'round';
  catalogue: Extract<LogRecord, { type: 'dc' | 'sku' }>[];
  operations: Operation[];
  /** Indexes of operations after which the thread yields to its event loop. */
  pauses: number[];
  /** Stop before this operation until told to continue; -1 for no cut. */
  cutAt: number;
}

export interface Outcome {
  answer: Answer;
  records: Appended[];
  /** Every record of the operation became durable (true for an operation with none). */
  acked: boolean;
  /** Why the wait for durability failed, when it did. */
  ackFailure: string | null;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'cut' }
  | { type: 'done'; outcomes: Outcome[] }
  | { type: 'error'; message: string };

/** An OperationLog that remembers what it appended, with the tickets. */
export class CapturingLog implements OperationLog {
  private appended: Appended[] = [];

  constructor(private readonly inner: OperationLog) {}

  writable(): boolean {
    return this.inner.writable();
  }

  append(record: LogRecord): number {
    const ticket = this.inner.append(record);
    // A copy: the engine writes its next record over this object (OperationLog).
    this.appended.push({ ticket, record: structuredClone(record) });
    return ticket;
  }

  /** The records appended since the last call. */
  take(): Appended[] {
    const taken = this.appended;
    this.appended = [];
    return taken;
  }
}
