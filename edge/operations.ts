/**
 * Runs one checked request against the engine, the same way for WebSocket and HTTP: the role
 * check, the read-only check, the engine call, and for a mutation the wait until its log
 * record is durable. Catalogue upserts are forwarded to the main thread, which owns index
 * assignment.
 *
 * Two entry points: `runNow` runs the request and leaves in `context.ticket` the log ticket
 * its answer must wait for (0: none), so a transport can wait once for a whole frame;
 * `runOperation` does the wait itself (HTTP, one request at a time).
 *
 * Invariants: an outcome that acknowledges a change is sent only after the ticket that covers
 * the change is durable; a refusal that changed nothing is answered at once; nothing here
 * throws for a client's input (the engine and the protocol's validators return codes), and an
 * unexpected throw becomes an INTERNAL outcome, not a crash.
 */

import type { EngineApi } from '../engine/index.js';
import {
  chooseVersion,
  type ErrorBody,
  type Op,
  OP_MUTATES,
  OP_SINCE_V2,
  type NamedSkus,
  type OpArgs,
  type Role,
  roleAllows,
  type WireLimits,
} from '../protocol/index.js';
import type { BatchRunner } from './batch.js';
import { errorFromUnknown, errorOf } from './errors.js';
import type { UpsertOutcome, UpsertRequest } from './thread-messages.js';

export type Outcome = { ok: true; value: unknown } | { ok: false; error: ErrorBody };

/** Who is asking: the key's role and the name written into the log as the change's actor. */
export interface Principal {
  role: Role;
  actor: string;
}

/** The part of the write-ahead log the edge uses on a worker thread. */
export interface DurableLog {
  writable(): boolean;
  /** Resolves once the record with this ticket (and every earlier one) is durable. */
  waitDurable(ticket: number): Promise<void>;
  /** Ticket of the newest record appended by any thread (covers a change made elsewhere). */
  lastAppendedTicket(): number;
}

export type CatalogueForwarder = (
  request: Omit<UpsertRequest, 'type' | 'requestId'>,
) => Promise<UpsertOutcome>;

export interface OperationContext {
  engine: EngineApi;
  log: DurableLog;
  forwardUpsert: CatalogueForwarder;
  clock: () => number;
  nodeName: string;
  /** The limits this node enforces, reported in the hello answer. */
  limits: WireLimits;
  /** True once the node is shutting down: new requests are refused. */
  shuttingDown(): boolean;
  /** The thread's runner of protocol v2's batch ops. */
  batch: BatchRunner;
  /** Set by `runNow`: the log ticket the last outcome must wait for before it is sent. */
  ticket: number;
  /**
   * Called when an operation threw: the engine and the log return codes for every expected
   * outcome, so a throw is a broken invariant, and the node must stop (and recover from its
   * log on restart) rather than serve from state it can no longer trust.
   */
  invariantBroken(error: unknown): void;
  /** Faults to inject (tests only). */
  faults?: FaultInjection | null;
  /**
   * A cluster node's region ownership: its refusal (NOT_OWNER, naming the owner) for writes
   * while this node does not own its region; absent or null standalone.
   */
  ownership?: { refusal(): ErrorBody | null } | null;
}

/** Faults a test can inject to see the node handle them; never set in production. */
export interface FaultInjection {
  /** Throw a broken invariant right after placing (or retrying) an order with this id. */
  invariantOnOrderId?: string;
}

type EngineResult = { ok: true } | { ok: false; error: ErrorBody };

function failure(error: ErrorBody): Outcome {
  return { ok: false, error };
}

/** Strips `ok` from an engine result, which is otherwise the wire result already. */
function resultOf(result: EngineResult): Outcome {
  if (!result.ok) return failure(result.error);
  const { ok: _ok, ...value } = result as { ok: true } & Record<string, unknown>;
  return { ok: true, value };
}

/**
 * An answer that acknowledges a change: it may be sent once `context.ticket` is durable. A
 * result that appended nothing itself (a retried order id, a confirm of a confirmed order) may
 * describe a change another request made and is still flushing, so it waits for everything
 * appended so far.
 */
function durable(context: OperationContext, result: EngineResult): Outcome {
  const outcome = resultOf(result);
  if (!outcome.ok) return outcome;
  const ticket = context.engine.lastTicket;
  context.ticket = ticket !== 0 ? ticket : context.log.lastAppendedTicket();
  return outcome;
}

function hello(context: OperationContext, args: OpArgs['hello'], principal: Principal): Outcome {
  const version = chooseVersion(args.versions);
  if (version === undefined) {
    return failure(errorOf('PROTOCOL_VERSION', 'this node speaks protocol versions 2 and 1'));
  }
  const value = {
    version,
    node: context.nodeName,
    role: principal.role,
    limits: context.limits,
  };
  return { ok: true, value };
}

/**
 * Why `principal` may not run `op` now, or null when it may: the role (FORBIDDEN), the node
 * shutting down, a mutation on a cluster node that does not own its region (NOT_OWNER), or a
 * mutation while the log cannot accept writes (READ_ONLY). Transports call
 * this before checking arguments, so an unauthorised caller learns nothing about them.
 */
export function refusalOf(
  context: OperationContext,
  op: Op,
  principal: Principal,
): ErrorBody | null {
  if (!roleAllows(principal.role, op)) {
    return errorOf('FORBIDDEN', `the ${principal.role} role may not call ${op}`);
  }
  if (context.shuttingDown()) return errorOf('SHUTTING_DOWN');
  if (OP_MUTATES[op] && context.ownership) {
    const moved = context.ownership.refusal();
    if (moved !== null) return moved;
  }
  if (OP_MUTATES[op] && !context.log.writable()) return errorOf('READ_ONLY');
  return null;
}

/**
 * Runs `op`, which `refusalOf` allowed, with arguments the protocol's validators checked, and
 * waits for the durability its answer needs. Returns the outcome, or a promise of it for
 * mutations (durability) and catalogue upserts (the main thread).
 */
export function runOperation(
  context: OperationContext,
  op: Op,
  args: unknown,
  principal: Principal,
  version = 1,
): Outcome | Promise<Outcome> {
  const outcome = runNow(context, op, args, principal, version);
  if (outcome instanceof Promise || context.ticket === 0) return outcome;
  return waitThenAnswer(context, context.ticket, outcome);
}

/**
 * Whether a batch request's SKUs can be read: by id, or by refs the WebSocket server resolved
 * through the connection's table (a request by refs that reached an op any other way cannot).
 */
function resolvedSkus(args: NamedSkus): boolean {
  return args.skuRefs === undefined ? args.skus !== undefined : args.skuIndexes !== undefined;
}

function refsUnresolved(): ErrorBody {
  return errorOf('BAD_FIELD', 'skuRefs needs a WebSocket connection');
}

/** The outcome once `ticket` is durable; READ_ONLY (nothing acknowledged) if the log fails. */
export function waitThenAnswer(
  context: OperationContext,
  ticket: number,
  outcome: Outcome,
): Promise<Outcome> {
  return context.log.waitDurable(ticket).then(
    () => outcome,
    (error: unknown) => failure(errorFromUnknown(error)),
  );
}

/**
 * Runs `op` (which `refusalOf` allowed, args checked) on a connection that speaks `version`;
 * `context.ticket` is then the ticket to wait for before the outcome may be sent (0: none).
 * Catalogue upserts answer with a promise (the main thread assigns indexes and waits).
 */
export function runNow(
  context: OperationContext,
  op: Op,
  args: unknown,
  principal: Principal,
  version: number,
): Outcome | Promise<Outcome> {
  context.ticket = 0;
  if (version < 2 && OP_SINCE_V2.has(op)) {
    return failure(errorOf('UNKNOWN_OP', `${op} needs protocol version 2 (see hello)`));
  }
  try {
    const outcome = dispatch(context, op, args, principal, version);
    const fault = context.faults?.invariantOnOrderId;
    if (fault !== undefined && (args as { orderId?: unknown }).orderId === fault) {
      throw new Error(`injected broken invariant after ${op} of ${fault}`);
    }
    return outcome;
  } catch (error) {
    context.ticket = 0;
    context.invariantBroken(error);
    return failure(errorOf('INTERNAL', 'the node hit a broken invariant and is stopping'));
  }
}

function dispatch(
  context: OperationContext,
  op: Op,
  input: unknown,
  principal: Principal,
  version: number,
): Outcome | Promise<Outcome> {
  const engine = context.engine;
  switch (op) {
    case 'hello':
      return hello(context, input as OpArgs['hello'], principal);
    case 'ping':
      return { ok: true, value: { now: context.clock() } };
    case 'availability': {
      const args = input as OpArgs['availability'];
      if (version >= 2) {
        const columns = context.batch.availabilityOne(args);
        return 'code' in columns ? failure(columns) : { ok: true, value: columns };
      }
      const location = { lat: args.lat, lng: args.lng };
      return resultOf(engine.availability(location, args.skus, args.maxMinutes, args.breakdown));
    }
    case 'availabilityMany': {
      const args = input as OpArgs['availabilityMany'];
      if (!resolvedSkus(args)) return failure(refsUnresolved());
      return { ok: true, value: context.batch.availabilityMany(args) };
    }
    case 'browse': {
      const args = input as OpArgs['browse'];
      const { lat, lng, ...rest } = args;
      return resultOf(engine.browse({ location: { lat, lng }, ...rest }));
    }
    case 'checkBasket':
      return resultOf(engine.checkBasket(input as OpArgs['checkBasket']));
    case 'getOrder':
      // An order may have been changed by a request whose record is still being written:
      // the look-up is answered once everything appended so far is durable.
      return durable(context, engine.getOrder((input as OpArgs['getOrder']).orderId));
    case 'getStock': {
      const args = input as OpArgs['getStock'];
      return resultOf(engine.getStock(args.dc, args.sku));
    }
    default:
      return mutate(context, op, input, principal);
  }
}

function mutate(
  context: OperationContext,
  op: Op,
  input: unknown,
  principal: Principal,
): Outcome | Promise<Outcome> {
  const engine = context.engine;
  switch (op) {
    case 'placeOrders': {
      const args = input as OpArgs['placeOrders'];
      if (!resolvedSkus(args)) return failure(refsUnresolved());
      const log = context.log;
      const value = context.batch.placeOrders(args, () => log.lastAppendedTicket());
      context.ticket = context.batch.ticket;
      return { ok: true, value };
    }
    case 'placeOrder':
      return durable(context, engine.placeOrder(input as OpArgs['placeOrder']));
    case 'confirm': {
      const args = input as OpArgs['confirm'];
      return durable(context, engine.confirm(args.orderId, args.lines));
    }
    case 'cancel':
      return durable(context, engine.cancel((input as OpArgs['cancel']).orderId));
    case 'extend': {
      const args = input as OpArgs['extend'];
      return durable(context, engine.extend(args.orderId, args.ttlSeconds));
    }
    case 'changeOrder': {
      const args = input as OpArgs['changeOrder'];
      return durable(context, engine.changeOrder(args.orderId, args.lines));
    }
    case 'fulfil':
      return durable(context, engine.fulfil((input as OpArgs['fulfil']).orderId));
    case 'receive': {
      const args = input as OpArgs['receive'];
      const by = { actor: principal.actor, reason: args.reason };
      return durable(context, engine.receive(args.dc, args.sku, args.qty, by));
    }
    case 'adjust': {
      const args = input as OpArgs['adjust'];
      const by = { actor: principal.actor, reason: args.reason };
      return durable(context, engine.adjust(args.dc, args.sku, args.onHand, by));
    }
    case 'upsertDc':
    case 'upsertSku':
      return context
        .forwardUpsert({ op, args: input, actor: principal.actor })
        .catch((error: unknown) => failure(errorFromUnknown(error)));
    default:
      return failure(errorOf('UNKNOWN_OP', `unknown operation ${String(op)}`));
  }
}
