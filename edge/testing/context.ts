/**
 * The operation context of a server under unit test: an in-memory engine, a durable log that a
 * test settles by hand (or at once), a test clock, and optionally a cluster node's ownership.
 */

import type { Engine } from '../../engine/index.js';
import { type ErrorBody, WIRE_LIMITS } from '../../protocol/index.js';
import { BatchRunner } from '../batch.js';
import type { DurableLog, OperationContext } from '../operations.js';

export interface TestContextOptions {
  /** The log's durability waits; default: durable at once. */
  log?: Partial<DurableLog>;
  clock?: () => number;
  /** A cluster node's ownership check; default: none (a standalone node). */
  ownership?: { refusal(): ErrorBody | null };
}

export function testOperationContext(
  engine: Engine,
  options: TestContextOptions = {},
): OperationContext {
  return {
    engine,
    log: {
      writable: () => true,
      waitDurable: () => Promise.resolve(),
      lastAppendedTicket: () => 0,
      ...options.log,
    },
    forwardUpsert: async () => ({ ok: false, error: { code: 'INTERNAL', message: 'unused' } }),
    clock: options.clock ?? (() => 1_000),
    nodeName: 'test-node',
    limits: WIRE_LIMITS,
    shuttingDown: () => false,
    batch: new BatchRunner(engine),
    ticket: 0,
    invariantBroken: (error) => {
      throw error;
    },
    ownership: options.ownership ?? null,
  };
}

/** The NOT_OWNER refusal of a test's ownership check. */
export const NOT_OWNER_REFUSAL: ErrorBody = {
  code: 'NOT_OWNER',
  message: 'this node does not own its region',
};
