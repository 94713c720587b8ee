/**
 * The SDK's connection machinery behind InventoryClient: one WebSocket at a time, the calls
 * waiting on it, coalescing and batches, the in-flight window, deadlines, aborts and
 * reconnects.
 *
 * Two layers. A *waiter* is what a caller awaits: a `Call` (one per-call method: placeOrder,
 * getStock...) or a `BatchCall` (placeOrders, availabilityMany). A *request* is one
 * `[id, op, args]` on the wire. A plain call is one request; on a version-2 connection,
 * placeOrder and availability calls made in the same event-loop turn join one `placeOrders` /
 * `availabilityMany` request (an `EntryChunk`) per set of shared options; a batch is cut
 * into parts (batch-plan.ts). A request moves QUEUED → SENT → DONE; queued requests wait in
 * `queue` for the flush at the end of the turn, the window, or a reconnect.
 *
 * Invariants:
 * - Every waiter is settled exactly once: resolved, or rejected with an InventoryError (the
 *   node's code, or TIMEOUT, ABORTED, CONNECTION_LOST, CLOSED, BAD_REQUEST...).
 * - Every unsettled waiter is in `deadlines` (one timer for all of them), so a timeout never
 *   needs a timer of its own and `failAll` finds every waiter there.
 * - The window counts entries, as the node does: a request weighs its orders or queries (1
 *   for any other op). `queuedWeight` is the weight of QUEUED requests (bounded by queueMax);
 *   `inFlightWeight` that of SENT ones, answered or not by the caller's deadline, and never
 *   more than the window: a timed-out request still holds its weight until the node answers.
 * - Requests leave in the order they were made, except that a placeOrder or availability
 *   call joins a request made earlier in the turn (a chunk left with one call is sent as that
 *   call's own op); a call that changes anything else starts
 *   a new epoch, after which no later call joins an earlier request. So a change is seen by
 *   every call made after it, as when each call was its own request.
 * - After a lost connection a sent request is sent again only if its op is OP_RESEND_SAFE
 *   (reads, and order ops and batches, whose order ids make a repeat take nothing twice);
 *   other sent requests fail with ConnectionLostError, maybeApplied true for ops that mutate.
 * - Each connection starts with `hello`; later requests are pipelined behind it.
 */

import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ErrorCode } from '../codes.js';
import { WireCodec } from '../codec.js';
import {
  CLIENT_HANDSHAKE_TIMEOUT_MS,
  CLIENT_QUEUE_MAX,
  CLIENT_TIMEOUT_MS_DEFAULT,
  CLIENT_TIMEOUT_MS_MAX,
  FRAME_BYTES_MAX,
  IN_FLIGHT_MAX,
  LINES_PER_ORDER_MAX,
  ORDERS_PER_BATCH_MAX,
  QUERIES_PER_BATCH_MAX,
  RECONNECT_BASE_DELAY_MS_DEFAULT,
  RECONNECT_DELAY_MS_MAX,
  RECONNECT_MAX_DELAY_MS_DEFAULT,
  RECONNECT_RETRIES_DEFAULT,
  RECONNECT_RETRIES_MAX,
  REQUEST_ID_MAX,
  REQUESTS_PER_FRAME_MAX,
  RESPONSE_FRAME_BYTES_MAX,
  SKUS_PER_BATCH_MAX,
  SKU_REFS_MAX,
  SKUS_PER_REQUEST_MAX,
} from '../limits.js';
import {
  type AvailabilityArgs,
  CloseCodes,
  type HelloResult,
  MessageKinds,
  type NoticeBody,
  OP_MUTATES,
  OP_RESEND_SAFE,
  OP_SINCE_V2,
  type Op,
  type PlaceOrderArgs,
  type WireRequest,
} from '../messages.js';
import {
  AvailabilityBatchResult,
  type AvailabilityQuery,
  isCarriedQuery,
  queryBytesMax,
  readAvailabilityColumns,
} from './availability-batch.js';
import { backoffDelayMs, type Random, type ReconnectPolicy } from './backoff.js';
import { BatchEncoder } from './batch-encoder.js';
import {
  type BatchLimits,
  type BatchPlan,
  type EncodedPart,
  entryBytesMax,
  ordersPerRequestMax,
  type PartPlan,
  planAvailabilityMany,
  planPlaceOrders,
  queriesPerRequestMax,
} from './batch-plan.js';
import { Deadlined, Deadlines } from './deadlines.js';
import { ConnectionLostError, clientError, errorFromBody, InventoryError } from './errors.js';
import {
  isCarriedMaxMinutes,
  isCarriedOrder,
  OrderBatchResult,
  type OrderOptions,
  orderBytesMax,
  orderOptionsOf,
  type PlaceOrderInput,
  readOrderColumns,
  sharesOrderOptions,
} from './order-batch.js';
import { PushRouter } from './push-router.js';
import { SkuRefs } from './sku-refs.js';

export interface ConnectOptions {
  apiKey: string;
  /**
   * For a `wss://` URL: the certificate authorities to trust (PEM), instead of the system's;
   * a node with a self-signed certificate is trusted by passing that certificate. Without it
   * the system's CAs (and NODE_EXTRA_CA_CERTS) are used.
   */
  ca?: string | Buffer | (string | Buffer)[];
  /** Default per-call timeout (ms); each call may pass its own. */
  timeoutMs?: number;
  /** Reconnect policy once connected; `false` disables reconnects. */
  reconnect?: Partial<ReconnectPolicy> | false;
  /**
   * Collect calls made in the same event-loop turn into one frame, and on a version-2 node
   * placeOrder and availability calls into batch requests (default true).
   */
  batch?: boolean;
  /** Most entries awaiting an answer; the node's own limit caps it (default IN_FLIGHT_MAX). */
  inFlightMax?: number;
  /** Most entries held unsent; one more is refused with TOO_MANY_IN_FLIGHT. */
  queueMax?: number;
  /** Jitter source for reconnect delays (default Math.random). */
  random?: Random;
  /** Called with each kind-3 notice the node sends (e.g. SHUTTING_DOWN). */
  onNotice?: (notice: NoticeBody) => void;
  /** Called with errors that belong to no call (a throwing push handler, a socket error). */
  onError?: (error: unknown) => void;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AvailabilityManyOptions extends CallOptions {
  /** Include the per-DC breakdown (`perDc`); default true. */
  breakdown?: boolean;
  /** The delivery window of queries that do not give their own. */
  maxMinutes?: number;
}

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

/**
 * Told of connection events that belong to no call: subscriptions use it to drop the ids of a
 * lost connection, subscribe again on the next one, and end when the client does.
 */
export interface SessionListener {
  /** The connection was lost; a reconnect may follow. Subscription ids are void from now. */
  connectionLost(): void;
  /** A new connection completed its hello after a loss. */
  reconnected(): void;
  /** The client is closed for good: by `close()` (error undefined) or after a failure. */
  ended(error: InventoryError | undefined): void;
}

const QUEUED = 0;
const SENT = 1;
const DONE = 2;

/** The protocol versions this SDK speaks, newest first. */
const SDK_PROTOCOL_VERSIONS = [2, 1] as const;

/** Open coalescing requests tracked at once (distinct option sets in one turn). */
const OPEN_CHUNKS_MAX = 16;

/** ws send options: binary frames, never compressed (the node refuses permessage-deflate). */
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false });

/** The code for a refused upgrade that no retry can fix, or undefined when one might. */
function fatalUpgradeCode(status: number): ErrorCode | undefined {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'FORBIDDEN';
  // No WebSocket endpoint at this path: the URL is wrong, and stays wrong.
  if (status === 404) return 'NOT_FOUND';
  // Any other client error (a bad upgrade request, a method not allowed) is ours and will not
  // change either; 408 and 429 are about timing and may pass.
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'BAD_REQUEST';
  return undefined;
}

/** What a settled waiter's settle functions become (see `Waiter.settle`). */
function settledAlready(): void {}

/** Something a caller awaits; it is in the session's deadlines until settled. */
abstract class Waiter extends Deadlined {
  done = false;

  constructor(
    readonly session: Session,
    readonly signal: AbortSignal | undefined,
    readonly internal: boolean,
    private resolve: (value: unknown) => void,
    private reject: (error: Error) => void,
  ) {
    super();
  }

  /** The AbortSignal listener (an EventListener object, so no closure per call). */
  handleEvent(): void {
    this.session.expire(this, 'ABORTED');
  }

  expired(): void {
    this.session.expire(this, 'TIMEOUT');
  }

  /** Leaves the requests it waits on; true when what it sent may have taken effect. */
  abstract detach(): boolean;
  /** Whether what it sent may have taken effect (without leaving anything). */
  abstract mayHaveApplied(): boolean;

  protected resolveWith(value: unknown): void {
    const resolve = this.resolve;
    this.settle();
    resolve(value);
  }

  rejectWith(error: Error): void {
    const reject = this.reject;
    this.settle();
    reject(error);
  }

  /**
   * Lets go of the promise's settle functions (and what else it holds, in subclasses): a
   * request keeps its waiters until it is dropped (a chunk until later ones push it out of the
   * open list, a queued request until the queue empties), and through them each promise and
   * the answer it holds would outlive the caller's use of it, long enough to be promoted to
   * the old generation and cost a full collection.
   */
  protected settle(): void {
    this.resolve = settledAlready;
    this.reject = settledAlready;
  }
}

/** One per-call method's promise: carried by one request, alone or in a chunk. */
class Call extends Waiter {
  request: Request | null = null;
  /** Lines (orders) or SKUs (queries) it adds to a chunk, and its bytes there at most. */
  items = 0;
  bytes = 0;

  constructor(
    session: Session,
    readonly op: Op,
    readonly args: object,
    resolve: (value: unknown) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
    internal: boolean,
  ) {
    super(session, signal, internal, resolve, reject);
  }

  succeed(value: unknown): void {
    if (this.done) return;
    this.session.release(this);
    this.resolveWith(value);
  }

  fail(error: Error): void {
    if (this.done) return;
    this.session.release(this);
    this.rejectWith(error);
  }

  detach(): boolean {
    const request = this.request;
    if (request === null) return false;
    request.leave(this);
    return request.wasSent && OP_MUTATES[request.op];
  }

  mayHaveApplied(): boolean {
    const request = this.request;
    return request?.wasSent === true && OP_MUTATES[request.op];
  }
}

/** A batch's promise, over the requests of its parts. */
class BatchCall extends Waiter {
  readonly requests: BatchPart[] = [];
  private readonly answers: unknown[];
  private remaining: number;

  constructor(
    session: Session,
    readonly op: Op,
    private readonly plan: BatchPlan<unknown, unknown>,
    resolve: (value: unknown) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
  ) {
    super(session, signal, false, resolve, reject);
    this.answers = new Array(plan.parts.length);
    this.remaining = plan.parts.length;
  }

  partAnswered(slot: number, columns: unknown): void {
    if (this.done) return;
    this.answers[slot] = columns;
    if (--this.remaining > 0) return;
    let view: unknown;
    try {
      view = this.plan.assemble(this.answers);
    } catch (error) {
      const failure = new InventoryError('BAD_FRAME', `the node's answers do not fit: ${error}`);
      this.partFailed(failure, undefined);
      return;
    }
    this.session.release(this);
    this.resolveWith(view);
  }

  /**
   * A part cannot be answered: the batch fails, leaving its other queued parts. `error` says
   * whether `part` itself may have applied (an error answer: no); other parts that were sent
   * may have, and then so may the batch.
   */
  partFailed(error: InventoryError, part: BatchPart | undefined): void {
    if (this.done) return;
    this.detach();
    this.session.release(this);
    let othersSent = false;
    for (const request of this.requests) if (request !== part && request.wasSent) othersSent = true;
    const maybeApplied = othersSent && OP_MUTATES[this.op] && !error.maybeApplied;
    this.rejectWith(maybeApplied ? maybeAppliedCopy(error) : error);
  }

  protected override settle(): void {
    super.settle();
    this.answers.fill(undefined);
  }

  detach(): boolean {
    for (const request of this.requests) request.leave();
    return this.mayHaveApplied();
  }

  mayHaveApplied(): boolean {
    if (!OP_MUTATES[this.op]) return false;
    for (const request of this.requests) if (request.wasSent) return true;
    return false;
  }
}

/** The same error, saying that what was sent may have taken effect. */
function maybeAppliedCopy(error: InventoryError): InventoryError {
  if (error instanceof ConnectionLostError) return new ConnectionLostError(error.message, true);
  return new InventoryError(error.code, error.message, {
    details: error.details,
    lines: error.lines,
    maybeApplied: true,
  });
}

/** One `[id, op, args]` on the wire, and who waits for its answer. */
abstract class Request {
  state = QUEUED;
  wasSent = false;
  id = 0;
  /** Entries it counts against the window and the queue bound. */
  weight = 1;
  /** The weight it took of the window when sent. */
  sentWeight = 0;
  /** The protocol version of the connection it was sent on. */
  version = 0;
  internal = false;

  constructor(
    readonly session: Session,
    readonly op: Op,
  ) {}

  /** The args to send: a map for the codec, or bytes already encoded (column requests). */
  abstract build(): Record<string, unknown> | Uint8Array;
  abstract answered(kind: number, body: unknown): void;
  /** The request will not be answered: every waiter still on it fails with `error`. */
  abstract failed(error: InventoryError): void;
  /** Whether anyone still waits for its answer. */
  abstract wanted(): boolean;

  /** A waiter gave up (`call` for a chunk); a queued request it alone wanted is dropped. */
  leave(_call?: Call): void {
    if (this.state !== QUEUED) return;
    this.state = DONE;
    this.session.dequeued(this.weight);
  }

  /** Back in the queue after a lost connection. */
  requeued(): void {}
}

/** A request of one call: any op, including placeOrder and availability sent alone. */
class SingleRequest extends Request {
  constructor(
    session: Session,
    op: Op,
    private readonly args: object,
    private readonly call: Call,
  ) {
    super(session, op);
    call.request = this;
  }

  build(): Record<string, unknown> {
    return this.args as Record<string, unknown>;
  }

  wanted(): boolean {
    return !this.call.done;
  }

  answered(kind: number, body: unknown): void {
    if (kind !== MessageKinds.OK) this.call.fail(errorFromBody(body));
    else if (this.op === 'availability' && this.version >= 2) {
      // Version 2 answers availability as columns: the caller gets version 1's objects.
      const args = this.args as AvailabilityArgs;
      const skus = args.skus;
      const columns = readAvailabilityColumns(
        body,
        Int32Array.of(skus.length),
        args.breakdown !== false,
      );
      if (columns === undefined) this.call.fail(malformedAnswer('availability'));
      else {
        const view = new AvailabilityBatchResult(columns, [args]);
        this.call.succeed({ skus: view.skus(0), dcsInRange: view.dcCount(0) });
      }
    } else this.call.succeed(body);
  }

  failed(error: InventoryError): void {
    this.call.fail(error);
  }
}

function malformedAnswer(op: Op): InventoryError {
  return new InventoryError('BAD_FRAME', `the node's ${op} answer is not well-formed`);
}

/** The shared options of a chunk of availability calls. */
interface QueryGroup {
  maxMinutes: number | undefined;
  breakdown: boolean;
}

/** placeOrder or availability calls of one turn, travelling as one batch request. */
class EntryChunk extends Request {
  calls: Call[] = [];
  /** Lines (orders) or SKUs (queries) of its live calls, and their bytes at most. */
  items = 0;
  bytes = 0;
  private args: Uint8Array | undefined = undefined;
  private skuCounts: Int32Array | undefined = undefined;
  /** The SKU table its args were encoded for, and the refs they defined (null: none). */
  private refs: SkuRefs | null = null;
  private defined: Int32Array | null = null;

  constructor(
    session: Session,
    op: 'placeOrders' | 'availabilityMany',
    readonly orderOptions: OrderOptions | undefined,
    readonly queryGroup: QueryGroup | undefined,
    readonly epoch: number,
  ) {
    super(session, op);
    this.weight = 0;
  }

  join(call: Call): void {
    call.request = this;
    this.calls.push(call);
    this.weight++;
    this.items += call.items;
    this.bytes += call.bytes;
  }

  override leave(call?: Call): void {
    if (this.state !== QUEUED || call === undefined) return;
    this.weight--;
    this.items -= call.items;
    this.bytes -= call.bytes;
    this.session.dequeued(1);
    if (this.weight === 0) this.state = DONE;
  }

  wanted(): boolean {
    for (const call of this.calls) if (!call.done) return true;
    return false;
  }

  /** Drops settled calls; the answer's entries then match `calls` one to one. */
  private compact(): void {
    let kept = 0;
    for (const call of this.calls) if (!call.done) this.calls[kept++] = call;
    this.calls.length = kept;
  }

  build(): Uint8Array {
    if (this.args !== undefined) return this.args;
    this.compact();
    const calls = this.calls;
    const encoder = this.session.encoder;
    this.refs = this.session.skuRefs;
    if (this.op === 'placeOrders') {
      this.args = encoder.placeOrders(
        calls.length,
        this.items,
        this.orderOptions!,
        (entry) => calls[entry].args as PlaceOrderInput,
        this.refs,
      );
    } else {
      const group = this.queryGroup!;
      this.skuCounts = new Int32Array(calls.length);
      this.args = encoder.availabilityMany(
        calls.length,
        this.items,
        group.maxMinutes,
        group.breakdown,
        (entry) => calls[entry].args as AvailabilityQuery,
        this.skuCounts,
        this.refs,
      );
    }
    this.defined = encoder.defined;
    return this.args;
  }

  override requeued(): void {
    this.args = undefined;
    this.compact();
    this.weight = this.calls.length;
    this.items = 0;
    this.bytes = 0;
    for (const call of this.calls) {
      this.items += call.items;
      this.bytes += call.bytes;
    }
    if (this.weight === 0) this.state = DONE;
  }

  failed(error: InventoryError): void {
    for (const call of this.calls) call.fail(error);
  }

  answered(kind: number, body: unknown): void {
    if (kind === MessageKinds.OK && this.defined !== null) this.refs?.confirm(this.defined);
    if (kind !== MessageKinds.OK) {
      for (const call of this.calls) call.fail(errorFromBody(body));
    } else if (this.op === 'placeOrders') this.ordersAnswered(body);
    else this.queriesAnswered(body);
  }

  private ordersAnswered(body: unknown): void {
    const calls = this.calls;
    const columns = readOrderColumns(body, calls.length);
    if (columns === undefined) {
      this.failed(malformedAnswer('placeOrders'));
      return;
    }
    const inputs = calls.map((call) => call.args as PlaceOrderInput);
    const view = new OrderBatchResult(columns, inputs);
    for (let entry = 0; entry < calls.length; entry++) {
      const call = calls[entry];
      if (call.done) continue;
      if (view.refused(entry)) call.fail(view.error(entry)!);
      else if (view.allocationComplete(entry)) call.succeed(view.orderResult(entry));
      // The node could not name some allocation's line (the order was changed after it was
      // placed): getOrder answers the order as it is, with every SKU named.
      else this.session.followUp(call, 'getOrder', { orderId: inputs[entry].orderId });
    }
  }

  private queriesAnswered(body: unknown): void {
    const calls = this.calls;
    const columns = readAvailabilityColumns(body, this.skuCounts!, this.queryGroup!.breakdown);
    if (columns === undefined) {
      this.failed(malformedAnswer('availabilityMany'));
      return;
    }
    const view = new AvailabilityBatchResult(
      columns,
      calls.map((call) => call.args as AvailabilityQuery),
    );
    for (let entry = 0; entry < calls.length; entry++) {
      const call = calls[entry];
      if (call.done) continue;
      const error = view.error(entry);
      if (error !== undefined) call.fail(error);
      else call.succeed({ skus: view.skus(entry), dcsInRange: view.dcCount(entry) });
    }
  }
}

/** One part of a batch: a column request, or an entry sent alone. */
class BatchPart extends Request {
  constructor(
    session: Session,
    private readonly plan: PartPlan<unknown>,
    private readonly batch: BatchCall,
    private readonly slot: number,
  ) {
    super(session, plan.op);
    this.weight = plan.weight;
  }

  /** Its args when the plan encodes them for the connection's SKU table (`plan.encode`). */
  private encoded: EncodedPart | undefined = undefined;
  private refs: SkuRefs | null = null;

  build(): Record<string, unknown> | Uint8Array {
    const plan = this.plan;
    if (plan.encode === undefined) return plan.args;
    if (this.encoded === undefined) {
      this.refs = this.session.skuRefs;
      this.encoded = plan.encode(this.refs);
    }
    return this.encoded.args;
  }

  override requeued(): void {
    this.encoded = undefined;
  }

  wanted(): boolean {
    return !this.batch.done;
  }

  answered(kind: number, body: unknown): void {
    const defined = this.encoded?.defined ?? null;
    if (kind === MessageKinds.OK && defined !== null) this.refs?.confirm(defined);
    if (this.batch.done) return;
    const outcome = this.plan.read(kind, body);
    if (outcome instanceof InventoryError) this.batch.partFailed(outcome, this);
    else this.batch.partAnswered(this.slot, outcome);
  }

  failed(error: InventoryError): void {
    this.batch.partFailed(error, this);
  }
}

function flushOnImmediate(session: Session): void {
  session.flush();
}

function reconnectOnTimer(session: Session): void {
  session.reconnectNow();
}

function limitOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : fallback;
}

/** An option that must be an integer in [min, max]: the value, or the BAD_REQUEST error. */
function boundedInt(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number | InventoryError {
  const resolved = value ?? fallback;
  if (
    typeof resolved !== 'number' ||
    !Number.isInteger(resolved) ||
    resolved < min ||
    resolved > max
  ) {
    return new InventoryError(
      'BAD_REQUEST',
      `${name} must be an integer in [${min}, ${max}], got ${String(resolved)}`,
      { details: { field: name } },
    );
  }
  return resolved;
}

function settled(value: number | InventoryError): number {
  if (value instanceof InventoryError) throw value;
  return value;
}

function resolvePolicy(option: ConnectOptions['reconnect']): ReconnectPolicy {
  if (option === false) return { retries: 0, baseDelayMs: 0, maxDelayMs: 0 };
  const retries = option?.retries ?? RECONNECT_RETRIES_DEFAULT;
  const baseDelayMs = option?.baseDelayMs ?? RECONNECT_BASE_DELAY_MS_DEFAULT;
  const maxDelayMs = option?.maxDelayMs ?? RECONNECT_MAX_DELAY_MS_DEFAULT;
  return {
    retries: settled(boundedInt('reconnect.retries', retries, 0, 0, RECONNECT_RETRIES_MAX)),
    baseDelayMs: settled(
      boundedInt('reconnect.baseDelayMs', baseDelayMs, 0, 0, RECONNECT_DELAY_MS_MAX),
    ),
    maxDelayMs: settled(
      boundedInt('reconnect.maxDelayMs', maxDelayMs, 0, 0, RECONNECT_DELAY_MS_MAX),
    ),
  };
}

function monotonicNow(): number {
  return performance.now();
}

export class Session {
  state: ClientState = 'connecting';
  server: HelloResult | undefined = undefined;
  readonly pushes = new PushRouter();

  private readonly url: string;
  private readonly apiKey: string;
  private readonly ca: string | Buffer | (string | Buffer)[] | undefined;
  private readonly timeoutMs: number;
  private readonly policy: ReconnectPolicy;
  private readonly batch: boolean;
  private readonly inFlightOption: number;
  private readonly queueMax: number;
  private readonly random: Random;
  private readonly onNotice: ((notice: NoticeBody) => void) | undefined;
  private readonly onError: (error: unknown) => void;
  /** `ws` hands each message over in a buffer of its own: columns are read in place. */
  private readonly codec = new WireCodec({}, { aliasBinary: true });
  /** Writes column requests; keeps the encodings of the SKU ids it has checked. */
  readonly encoder = new BatchEncoder();
  /**
   * The connection's SKU table (availabilityMany by refs), once a hello on it says the node
   * keeps one; null before, and on a node without.
   */
  skuRefs: SkuRefs | null = null;
  private readonly deadlines = new Deadlines(monotonicNow);

  /** SENT requests by id. */
  private readonly sent = new Map<number, Request>();
  private readonly listeners = new Set<SessionListener>();
  /** Set when a connection was lost: the next hello answer is a reconnect. */
  private lostConnection = false;
  private queue: Request[] = [];
  private queueHead = 0;
  private queuedWeight = 0;
  private inFlightWeight = 0;
  private nextId = 1;
  private flushScheduled = false;
  /** Chunks later calls of this turn may join; see the ordering invariant. */
  private readonly openChunks: EntryChunk[] = [];
  private epoch = 0;

  private socket: WebSocket | undefined = undefined;
  private socketOpen = false;
  /** A SHUTTING_DOWN notice came: send nothing more on this socket, wait for the next. */
  private draining = false;
  private upgradeStatus = 0;
  private lastSocketError: unknown = undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined = undefined;
  /** The protocol version of the current (or last) connection. */
  private version = 1;
  /**
   * Whether this connection's hello was answered. Until then version-2 requests wait (and
   * everything behind them, to keep the order): the new node may speak only version 1.
   */
  private versionKnown = false;
  private requestsPerFrameMax = REQUESTS_PER_FRAME_MAX;
  private readonly limits: BatchLimits;
  private opening:
    | { resolve: (hello: HelloResult) => void; reject: (e: Error) => void }
    | undefined;
  private closing: Promise<void> | undefined = undefined;
  private closed: (() => void) | undefined = undefined;

  constructor(url: string, options: ConnectOptions) {
    if (typeof options?.apiKey !== 'string' || options.apiKey === '') {
      throw new InventoryError('BAD_REQUEST', 'apiKey must be a non-empty string', {
        details: { field: 'apiKey' },
      });
    }
    this.url = url;
    this.apiKey = options.apiKey;
    this.ca = options.ca;
    this.timeoutMs = settled(
      boundedInt(
        'timeoutMs',
        options.timeoutMs,
        CLIENT_TIMEOUT_MS_DEFAULT,
        1,
        CLIENT_TIMEOUT_MS_MAX,
      ),
    );
    this.policy = resolvePolicy(options.reconnect);
    this.batch = options.batch ?? true;
    this.inFlightOption = settled(
      boundedInt('inFlightMax', options.inFlightMax, IN_FLIGHT_MAX, 1, 1 << 20),
    );
    this.queueMax = settled(boundedInt('queueMax', options.queueMax, CLIENT_QUEUE_MAX, 1, 1 << 24));
    this.limits = {
      linesPerOrderMax: LINES_PER_ORDER_MAX,
      skusPerRequestMax: SKUS_PER_REQUEST_MAX,
      ordersPerBatchMax: ORDERS_PER_BATCH_MAX,
      queriesPerBatchMax: QUERIES_PER_BATCH_MAX,
      skusPerBatchMax: SKUS_PER_BATCH_MAX,
      frameBytesMax: FRAME_BYTES_MAX,
      windowMax: this.inFlightOption,
    };
    this.random = options.random ?? Math.random;
    this.onNotice = options.onNotice;
    this.onError = options.onError ?? ((error) => process.emitWarning(String(error)));
  }

  get inFlight(): number {
    return this.inFlightWeight;
  }

  get queued(): number {
    return this.queuedWeight;
  }

  /** The protocol version of the current connection (of the last one while reconnecting). */
  get protocolVersion(): number {
    return this.version;
  }

  addListener(listener: SessionListener): void {
    this.listeners.add(listener);
  }

  removeListener(listener: SessionListener): void {
    this.listeners.delete(listener);
  }

  /** Calls every listener; one that throws is reported and does not stop the others. */
  private tell(event: (listener: SessionListener) => void): void {
    for (const listener of [...this.listeners]) {
      try {
        event(listener);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Opens the first connection; resolves with the node's hello answer. No retries. */
  open(): Promise<HelloResult> {
    return new Promise((resolve, reject) => {
      this.opening = { resolve, reject };
      this.openSocket();
    });
  }

  // Admission.

  /** Why a call of `weight` entries cannot be taken now, or its timeout when it can. */
  private admission(weight: number, options: CallOptions | undefined): number | InventoryError {
    if (this.state === 'closing' || this.state === 'closed') return clientError('CLOSED');
    const timeoutMs = boundedInt(
      'timeoutMs',
      options?.timeoutMs,
      this.timeoutMs,
      1,
      CLIENT_TIMEOUT_MS_MAX,
    );
    if (timeoutMs instanceof InventoryError) return timeoutMs;
    if (this.queuedWeight + weight > this.queueMax) {
      return clientError(
        'TOO_MANY_IN_FLIGHT',
        false,
        `${weight} more entries would pass the ${this.queueMax} the client holds unsent`,
      );
    }
    if (options?.signal?.aborted) return clientError('ABORTED');
    return timeoutMs;
  }

  private watch(waiter: Waiter, timeoutMs: number): void {
    this.deadlines.add(waiter, timeoutMs);
    if (waiter.signal !== undefined) {
      waiter.signal.addEventListener('abort', waiter, { once: true });
    }
  }

  call(op: Op, args: object, options?: CallOptions): Promise<unknown> {
    const timeoutMs = this.admission(1, options);
    if (timeoutMs instanceof InventoryError) return Promise.reject(timeoutMs);
    return new Promise((resolve, reject) => {
      const call = new Call(this, op, args, resolve, reject, options?.signal, false);
      this.watch(call, timeoutMs);
      if (!this.batch || this.version < 2 || !this.coalesce(call)) {
        this.enqueue(new SingleRequest(this, op, args, call), false);
      }
      this.scheduleFlush();
    });
  }

  /** Joins `call` to a batch request of this turn when the columns carry it exactly. */
  private coalesce(call: Call): boolean {
    const limits = this.limits;
    if (call.op === 'placeOrder') {
      const order = call.args as PlaceOrderArgs;
      if (!isCarriedOrder(order, limits.linesPerOrderMax, this.encoder.isCarriedSku)) return false;
      call.items = order.lines.length;
      call.bytes = orderBytesMax(order);
      this.chunkFor(call, 'placeOrders').join(call);
      this.queuedWeight++;
      return true;
    }
    if (call.op === 'availability') {
      const query = call.args as AvailabilityArgs;
      const breakdown = query.breakdown;
      if (!isCarriedQuery(query, limits.skusPerRequestMax, this.encoder.areCarriedSkus))
        return false;
      if (!isCarriedMaxMinutes(query.maxMinutes)) return false;
      if (breakdown !== undefined && breakdown !== null && typeof breakdown !== 'boolean') {
        return false;
      }
      call.items = query.skus.length;
      call.bytes = queryBytesMax(query);
      this.chunkFor(call, 'availabilityMany').join(call);
      this.queuedWeight++;
      return true;
    }
    return false;
  }

  /** An open chunk `call` may join (same options, room left), or a new one at the back. */
  private chunkFor(call: Call, op: 'placeOrders' | 'availabilityMany'): EntryChunk {
    const open = this.openChunks;
    for (let index = open.length - 1; index >= 0; index--) {
      const chunk = open[index];
      if (chunk.op === op && this.canJoin(chunk, call)) return chunk;
    }
    const chunk =
      op === 'placeOrders'
        ? new EntryChunk(
            this,
            op,
            orderOptionsOf(call.args as PlaceOrderArgs),
            undefined,
            this.epoch,
          )
        : new EntryChunk(
            this,
            op,
            undefined,
            queryGroupOf(call.args as AvailabilityArgs),
            this.epoch,
          );
    if (open.length === OPEN_CHUNKS_MAX) open.shift();
    open.push(chunk);
    this.enqueue(chunk, false);
    return chunk;
  }

  private canJoin(chunk: EntryChunk, call: Call): boolean {
    if (chunk.state !== QUEUED || chunk.epoch !== this.epoch) return false;
    if (chunk.bytes + call.bytes > entryBytesMax(this.limits)) return false;
    if (chunk.op === 'placeOrders') {
      return (
        chunk.weight < ordersPerRequestMax(this.limits) &&
        sharesOrderOptions(chunk.orderOptions!, call.args as PlaceOrderArgs)
      );
    }
    const query = call.args as AvailabilityArgs;
    const group = chunk.queryGroup!;
    return (
      chunk.weight < queriesPerRequestMax(this.limits) &&
      chunk.items + call.items <= this.limits.skusPerBatchMax &&
      group.maxMinutes === (query.maxMinutes ?? undefined) &&
      group.breakdown === (query.breakdown !== false)
    );
  }

  /** Sends `op` for `call` after its first request (the call keeps its deadline). */
  followUp(call: Call, op: Op, args: object): void {
    this.enqueue(new SingleRequest(this, op, args, call), false);
    this.scheduleFlush();
  }

  placeOrders(
    orders: readonly PlaceOrderInput[],
    options?: CallOptions,
  ): Promise<OrderBatchResult> {
    if (!Array.isArray(orders)) {
      return Promise.reject(new InventoryError('BAD_REQUEST', 'orders must be an array'));
    }
    const timeoutMs = this.admission(orders.length, options);
    if (timeoutMs instanceof InventoryError) return Promise.reject(timeoutMs);
    const plan = planPlaceOrders(orders, this.limits, this.version, this.encoder);
    return this.admitBatch('placeOrders', plan, timeoutMs, options?.signal);
  }

  availabilityMany(
    queries: readonly AvailabilityQuery[],
    options?: AvailabilityManyOptions,
  ): Promise<AvailabilityBatchResult> {
    if (!Array.isArray(queries)) {
      return Promise.reject(new InventoryError('BAD_REQUEST', 'queries must be an array'));
    }
    const breakdown = options?.breakdown ?? true;
    const maxMinutes = options?.maxMinutes ?? undefined;
    if (typeof breakdown !== 'boolean') {
      return Promise.reject(fieldError('breakdown', 'must be a boolean'));
    }
    if (!isCarriedMaxMinutes(maxMinutes)) {
      return Promise.reject(fieldError('maxMinutes', 'must be a number in (0, 1440]'));
    }
    const timeoutMs = this.admission(queries.length, options);
    if (timeoutMs instanceof InventoryError) return Promise.reject(timeoutMs);
    const plan = planAvailabilityMany(
      queries,
      breakdown,
      maxMinutes,
      this.limits,
      this.version,
      this.encoder,
    );
    return this.admitBatch('availabilityMany', plan, timeoutMs, options?.signal);
  }

  private admitBatch<V>(
    op: Op,
    plan: BatchPlan<unknown, V>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<V> {
    if (plan.parts.length === 0) return Promise.resolve(plan.assemble([]));
    return new Promise<V>((resolve, reject) => {
      const batch = new BatchCall(
        this,
        op,
        plan,
        resolve as (value: unknown) => void,
        reject,
        signal,
      );
      this.watch(batch, timeoutMs);
      for (let slot = 0; slot < plan.parts.length; slot++) {
        const request = new BatchPart(this, plan.parts[slot], batch, slot);
        batch.requests.push(request);
        this.enqueue(request, false);
      }
      this.scheduleFlush();
    });
  }

  private allocateId(): number {
    let id = this.nextId;
    // Ids of requests still in flight are skipped; they are bounded, so this ends quickly.
    while (this.sent.has(id)) id = id === REQUEST_ID_MAX ? 1 : id + 1;
    this.nextId = id === REQUEST_ID_MAX ? 1 : id + 1;
    return id;
  }

  /**
   * Queues a request at the back, or at the front (a connection's hello goes first). A
   * request that changes something other than a placement closes the turn's open chunks.
   */
  private enqueue(request: Request, front: boolean): void {
    // Requests given up while queued leave stale entries; drop them before they pile up.
    if (this.queue.length - this.queueHead > 2 * this.queuedWeight + 1024) this.compactQueue();
    if (front) this.queue.splice(this.queueHead, 0, request);
    else this.queue.push(request);
    this.queuedWeight += request.weight;
    const op = request.op;
    if (OP_MUTATES[op] && op !== 'placeOrder' && op !== 'placeOrders') {
      this.epoch++;
      this.openChunks.length = 0;
    }
  }

  /** `weight` entries left the queue without being sent. */
  dequeued(weight: number): void {
    this.queuedWeight -= weight;
  }

  private compactQueue(): void {
    const live: Request[] = [];
    for (let index = this.queueHead; index < this.queue.length; index++) {
      if (this.queue[index].state === QUEUED) live.push(this.queue[index]);
    }
    this.queue = live;
    this.queueHead = 0;
  }

  /** Settles a waiter early: its deadline passed or its signal aborted. */
  expire(waiter: Waiter, code: ErrorCode): void {
    if (waiter.done) return;
    const maybeApplied = waiter.detach();
    this.release(waiter);
    waiter.rejectWith(clientError(code, maybeApplied));
    this.closeIfDrained();
  }

  /** Marks a waiter settled: out of the deadlines, its abort listener removed. */
  release(waiter: Waiter): void {
    waiter.done = true;
    this.deadlines.remove(waiter);
    if (waiter.signal !== undefined) waiter.signal.removeEventListener('abort', waiter);
  }

  private scheduleFlush(): void {
    if (!this.batch) {
      this.flush();
      return;
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: it also collects calls made in promise
    // continuations during this turn, so a burst of answers refills the pipe in one frame.
    setImmediate(flushOnImmediate, this);
  }

  /** Sends queued requests, as many frames as the window allows. */
  flush(): void {
    this.flushScheduled = false;
    // Chunks left waiting for the window stay open to later calls until they leave (within
    // the epoch rule): batching grows under load, which is when it pays.
    const socket = this.socket;
    if (socket === undefined || !this.socketOpen || this.draining) return;
    let frame: Request[] = [];
    let frameWeight = 0;
    while (this.queueHead < this.queue.length) {
      const request = this.queue[this.queueHead];
      if (request.state !== QUEUED) {
        this.queueHead++;
        continue;
      }
      if (OP_SINCE_V2.has(request.op)) {
        if (!this.versionKnown) break;
        if (this.version < 2) {
          this.downgrade(request);
          continue;
        }
      }
      if (request instanceof EntryChunk && request.weight === 1) {
        // A call with no other to share its request goes in its own op, as it always has:
        // the same bytes on the wire and the same op in the node's metrics.
        this.unchunk(request);
        continue;
      }
      const weight = request.weight;
      if (weight > this.limits.windowMax) {
        this.queueHead++;
        this.refuse(request, clientError('TOO_MANY_IN_FLIGHT', false, 'over the window'));
        continue;
      }
      if (this.inFlightWeight + frameWeight + weight > this.limits.windowMax) break;
      this.queueHead++;
      frame.push(request);
      frameWeight += weight;
      if (frame.length === this.requestsPerFrameMax) {
        this.sendFrame(socket, frame);
        frame = [];
        frameWeight = 0;
      }
    }
    if (frame.length > 0) this.sendFrame(socket, frame);
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    this.dropLeftChunks();
  }

  /**
   * Takes the chunks that left the queue (sent, or given up) out of the open list: no call can
   * join them, and the list would keep them, their calls and those calls' answers alive.
   */
  private dropLeftChunks(): void {
    const open = this.openChunks;
    let kept = 0;
    for (let index = 0; index < open.length; index++) {
      if (open[index].state === QUEUED) open[kept++] = open[index];
    }
    open.length = kept;
  }

  /**
   * A version-2 request at the head of the queue on a version-1 connection (a reconnect
   * reached an older node): a chunk's calls go as their own version-1 requests; a batch part
   * cannot, and its batch fails (PROTOCOL_VERSION) for the caller to send again.
   */
  private downgrade(request: Request): void {
    if (request instanceof EntryChunk) {
      this.unchunk(request);
      return;
    }
    this.queueHead++;
    const message = `the node speaks protocol version ${this.version}: ${request.op} needs 2`;
    this.refuse(request, new InventoryError('PROTOCOL_VERSION', message));
  }

  /** Replaces the chunk at the head of the queue with a request of its own per call. */
  private unchunk(chunk: EntryChunk): void {
    const singles: Request[] = [];
    for (const call of chunk.calls) {
      if (call.done) continue;
      const single = new SingleRequest(this, call.op, call.args, call);
      single.wasSent = chunk.wasSent;
      singles.push(single);
    }
    chunk.state = DONE;
    this.queue.splice(this.queueHead, 1, ...singles);
    this.queuedWeight += singles.length - chunk.weight;
  }

  /** Fails a queued request without sending it. */
  private refuse(request: Request, error: InventoryError): void {
    request.state = DONE;
    this.queuedWeight -= request.weight;
    request.failed(error);
  }

  private sendFrame(socket: WebSocket, frame: Request[]): void {
    let bytes: Uint8Array;
    try {
      bytes = this.encodeFrame(frame);
    } catch (error) {
      this.splitFrame(socket, frame, error);
      return;
    }
    if (bytes.length > this.limits.frameBytesMax) {
      this.splitFrame(socket, frame, undefined);
      return;
    }
    socket.send(bytes, SEND_OPTIONS);
    const version = this.version;
    for (let index = 0; index < frame.length; index++) {
      const request = frame[index];
      request.state = SENT;
      request.wasSent = true;
      request.version = version;
      request.sentWeight = request.weight;
      this.sent.set(request.id, request);
      this.queuedWeight -= request.weight;
      this.inFlightWeight += request.weight;
    }
  }

  /**
   * The frame's bytes. Requests whose args are already encoded (column requests) are joined
   * with the others, which the codec encodes one by one; a frame of none goes through the
   * codec whole.
   */
  private encodeFrame(frame: Request[]): Uint8Array {
    const requests: WireRequest[] = new Array(frame.length);
    let encoded = false;
    for (let index = 0; index < frame.length; index++) {
      const request = frame[index];
      request.id = this.allocateId();
      const args = request.build();
      if (args instanceof Uint8Array) encoded = true;
      requests[index] = [request.id, request.op, args as Record<string, unknown>];
    }
    if (!encoded) return this.codec.encodeRequests(requests);
    const pieces: Uint8Array[] = [this.encoder.frameHeader(frame.length)];
    for (const request of requests) {
      const [id, op, args] = request;
      if (args instanceof Uint8Array) pieces.push(this.encoder.envelope(id, op), args);
      else pieces.push(this.codec.encodeValue(request));
    }
    return Buffer.concat(pieces);
  }

  /**
   * A frame that cannot go as one: halve it until the culprit is alone, then refuse that
   * request (FRAME_TOO_LARGE, or BAD_REQUEST for a value MessagePack cannot carry).
   */
  private splitFrame(socket: WebSocket, frame: Request[], error: unknown): void {
    if (frame.length > 1) {
      const middle = frame.length >> 1;
      this.sendFrame(socket, frame.slice(0, middle));
      this.sendFrame(socket, frame.slice(middle));
      return;
    }
    const failure =
      error === undefined
        ? clientError('FRAME_TOO_LARGE', false, `request over ${this.limits.frameBytesMax} bytes`)
        : new InventoryError('BAD_REQUEST', `args cannot be encoded: ${String(error)}`);
    this.refuse(frame[0], failure);
  }

  // Connection lifecycle.

  private openSocket(): void {
    this.skuRefs = null;
    this.versionKnown = false;
    this.upgradeStatus = 0;
    this.lastSocketError = undefined;
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, {
        headers: { authorization: `Bearer ${this.apiKey}` },
        perMessageDeflate: false,
        maxPayload: RESPONSE_FRAME_BYTES_MAX,
        handshakeTimeout: CLIENT_HANDSHAKE_TIMEOUT_MS,
        followRedirects: false,
        skipUTF8Validation: false,
        // TLS (wss://): the caller's CAs, else the system's; the certificate is always checked.
        ca: this.ca,
        rejectUnauthorized: true,
      });
    } catch (error) {
      // A malformed URL: nothing to retry.
      this.failAll('CONNECT_FAILED', `cannot connect to ${this.url}: ${String(error)}`);
      return;
    }
    socket.binaryType = 'nodebuffer';
    this.socket = socket;
    socket.on('open', () => this.onSocketOpen(socket));
    socket.on('message', (data, isBinary) => this.onSocketMessage(socket, data, isBinary));
    socket.on('close', () => this.onSocketClose(socket));
    socket.on('error', (error) => {
      if (socket === this.socket) this.lastSocketError = error;
    });
    socket.on('unexpected-response', (_request, response) => {
      this.upgradeStatus = response.statusCode ?? 0;
      response.resume();
      socket.terminate();
    });
  }

  private onSocketOpen(socket: WebSocket): void {
    if (socket !== this.socket) return;
    this.socketOpen = true;
    this.draining = false;
    // The hello goes first; requests waiting for this connection are pipelined behind it.
    const args = { versions: [...SDK_PROTOCOL_VERSIONS] };
    const hello = new Call(
      this,
      'hello',
      args,
      (result) => this.helloAnswered(socket, result as HelloResult),
      (error) => this.helloFailed(socket, error as InventoryError),
      undefined,
      true,
    );
    this.watch(hello, this.timeoutMs);
    const request = new SingleRequest(this, 'hello', args, hello);
    request.internal = true;
    this.enqueue(request, true);
    this.flush();
  }

  private helloAnswered(socket: WebSocket, hello: HelloResult): void {
    if (socket !== this.socket) return;
    this.server = hello;
    this.version = typeof hello.version === 'number' && hello.version >= 2 ? 2 : 1;
    this.versionKnown = true;
    // The node's limits cap ours; a missing or odd value keeps this code's default.
    const limits = (hello.limits ?? {}) as Partial<HelloResult['limits']>;
    const inFlightMax = limitOr(limits.inFlightMax, IN_FLIGHT_MAX);
    this.limits.windowMax = Math.max(1, Math.min(this.inFlightOption, inFlightMax));
    this.requestsPerFrameMax = limitOr(limits.requestsPerFrameMax, REQUESTS_PER_FRAME_MAX);
    this.limits.frameBytesMax = limitOr(limits.frameBytesMax, FRAME_BYTES_MAX);
    this.limits.linesPerOrderMax = limitOr(limits.linesPerOrderMax, LINES_PER_ORDER_MAX);
    this.limits.skusPerRequestMax = limitOr(limits.skusPerRequestMax, SKUS_PER_REQUEST_MAX);
    this.limits.ordersPerBatchMax = limitOr(limits.ordersPerBatchMax, ORDERS_PER_BATCH_MAX);
    this.limits.queriesPerBatchMax = limitOr(limits.queriesPerBatchMax, QUERIES_PER_BATCH_MAX);
    this.limits.skusPerBatchMax = limitOr(limits.skusPerBatchMax, SKUS_PER_BATCH_MAX);
    const refsMax = limitOr(limits.skuRefsMax, 0);
    this.skuRefs =
      this.version >= 2 && refsMax > 0 ? new SkuRefs(Math.min(refsMax, SKU_REFS_MAX)) : null;
    this.attempt = 0;
    if (this.state === 'connecting' || this.state === 'reconnecting') this.state = 'open';
    const opening = this.opening;
    this.opening = undefined;
    opening?.resolve(hello);
    if (this.lostConnection) {
      this.lostConnection = false;
      this.tell((listener) => listener.reconnected());
    }
    this.flush();
  }

  /** The hello failed: an error answer (version, role) is fatal; a timeout drops the socket. */
  private helloFailed(socket: WebSocket, error: InventoryError): void {
    if (socket !== this.socket) return;
    if (error.code === 'TIMEOUT' || error.code === 'CONNECTION_LOST') {
      this.lastSocketError = 'the hello was not answered in time';
      this.socket?.terminate();
      return;
    }
    this.failAll(error.code, error.message);
  }

  private onSocketMessage(socket: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (socket !== this.socket) return;
    if (!isBinary) {
      this.dropSocket(CloseCodes.UNSUPPORTED_DATA, 'text frame');
      return;
    }
    const decoded = this.codec.decodeMessageFrame(data as Buffer);
    if (!decoded.ok) {
      this.dropSocket(decoded.closeCode, decoded.code);
      return;
    }
    const messages = decoded.messages;
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index];
      const kind = message[1];
      if (kind === MessageKinds.OK || kind === MessageKinds.ERROR) {
        this.answer(message[0], kind, message[2]);
      } else if (kind === MessageKinds.PUSH) {
        this.pushes.dispatch(message[0], message[2], this.onError);
      } else {
        this.notice(message[2]);
      }
    }
    if (this.queuedWeight > 0) this.flush();
    this.closeIfDrained();
  }

  private answer(id: number, kind: number, body: unknown): void {
    const request = this.sent.get(id);
    if (request === undefined) return;
    this.sent.delete(id);
    this.inFlightWeight -= request.sentWeight;
    request.state = DONE;
    // The pushes after a subscribe answer can be read before the subscription sets its
    // handler (it does so when the answer's promise settles): hold them until it does.
    if (request.op === 'subscribe' && kind === MessageKinds.OK) {
      const sub = (body as { sub?: unknown } | null)?.sub;
      if (typeof sub === 'number') this.pushes.expect(sub);
    }
    try {
      request.answered(kind, body);
    } catch (error) {
      // A caller's code does not run here (promises settle later); this is a decoding bug.
      // Its waiters fail rather than wait for their deadline.
      request.failed(new InventoryError('INTERNAL', `answer not readable: ${String(error)}`));
    }
  }

  private notice(body: unknown): void {
    const notice = body as NoticeBody;
    if (notice !== null && typeof notice === 'object' && notice.code === 'SHUTTING_DOWN') {
      this.draining = true;
    }
    if (this.onNotice !== undefined) {
      try {
        this.onNotice(notice);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Closes a socket that broke the protocol; its close event runs the loss handling. */
  private dropSocket(closeCode: number, reason: string): void {
    this.onError(new InventoryError('BAD_FRAME', `the node sent a bad frame: ${reason}`));
    this.socket?.close(closeCode, reason);
    this.socket?.terminate();
  }

  private onSocketClose(socket: WebSocket): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    this.socketOpen = false;
    this.draining = false;
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      this.failAll('CONNECTION_LOST', 'the connection closed while the client was closing');
      return;
    }
    const fatal = fatalUpgradeCode(this.upgradeStatus);
    if (this.opening !== undefined || fatal !== undefined) {
      this.failAll(fatal ?? 'CONNECT_FAILED', this.connectFailureMessage());
      return;
    }
    this.requeueAfterLoss();
    this.lostConnection = true;
    this.tell((listener) => listener.connectionLost());
    this.scheduleReconnect();
  }

  private connectFailureMessage(): string {
    if (this.upgradeStatus !== 0) {
      return `the node refused the WebSocket upgrade at ${this.url} with HTTP ${this.upgradeStatus}`;
    }
    const cause = this.lastSocketError;
    return `cannot connect to ${this.url}${cause === undefined ? '' : `: ${String(cause)}`}`;
  }

  /**
   * After a lost connection: resend-safe sent requests go back to the queue, ahead of those
   * that never left; other sent requests fail with ConnectionLostError.
   */
  private requeueAfterLoss(): void {
    const resend: Request[] = [];
    const canResend = this.policy.retries > 0;
    for (const request of this.sent.values()) {
      if (request.internal || !request.wanted()) {
        request.state = DONE;
      } else if (canResend && OP_RESEND_SAFE[request.op]) {
        request.state = QUEUED;
        request.requeued();
        if (request.state === QUEUED) resend.push(request);
      } else {
        request.state = DONE;
        request.failed(
          new ConnectionLostError(
            `connection lost with ${request.op} unanswered; not safe to send again`,
            OP_MUTATES[request.op],
          ),
        );
      }
    }
    for (let index = this.queueHead; index < this.queue.length; index++) {
      const request = this.queue[index];
      if (request.state === QUEUED && !request.internal) resend.push(request);
      else if (request.internal) request.state = DONE;
    }
    this.sent.clear();
    this.queue = resend;
    this.queueHead = 0;
    this.openChunks.length = 0;
    this.inFlightWeight = 0;
    let weight = 0;
    for (const request of resend) weight += request.weight;
    this.queuedWeight = weight;
  }

  private scheduleReconnect(): void {
    if (this.attempt >= this.policy.retries) {
      this.failAll('CONNECTION_LOST', `connection lost; ${this.attempt} reconnect attempts failed`);
      return;
    }
    const delay = backoffDelayMs(this.attempt, this.policy, this.random);
    this.attempt++;
    this.state = 'reconnecting';
    this.reconnectTimer = setTimeout(reconnectOnTimer, delay, this);
  }

  reconnectNow(): void {
    this.reconnectTimer = undefined;
    if (this.state !== 'reconnecting') return;
    this.openSocket();
  }

  /** Fails every pending waiter with `code` and closes the client for good. */
  private failAll(code: ErrorCode, message: string): void {
    const wasOpening = this.opening;
    this.opening = undefined;
    this.state = 'closed';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const waiters = this.deadlines.items() as Waiter[];
    for (const waiter of waiters) {
      if (waiter.done) continue;
      const maybeApplied = waiter.mayHaveApplied();
      this.release(waiter);
      if (waiter.internal) continue;
      waiter.rejectWith(
        code === 'CONNECTION_LOST'
          ? new ConnectionLostError(message, maybeApplied)
          : new InventoryError(code, message, { maybeApplied }),
      );
    }
    this.deadlines.disarm();
    this.sent.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queuedWeight = 0;
    this.inFlightWeight = 0;
    this.openChunks.length = 0;
    const socket = this.socket;
    this.socket = undefined;
    this.socketOpen = false;
    socket?.terminate();
    wasOpening?.reject(new InventoryError(code, message));
    const ending = code === 'CLOSED' ? undefined : new InventoryError(code, message);
    this.tell((listener) => listener.ended(ending));
    this.closed?.();
  }

  /** Graceful close: queued calls are sent, answers awaited (each bounded by its timeout). */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.state === 'closed') return Promise.resolve();
    this.closing = new Promise((resolve) => {
      this.closed = resolve;
    });
    if (!this.socketOpen || this.draining) {
      this.failAll('CLOSED', 'the client was closed before these calls could be sent');
      return this.closing;
    }
    this.state = 'closing';
    this.tell((listener) => listener.ended(undefined));
    this.flush();
    this.closeIfDrained();
    return this.closing;
  }

  /** Whether some sent request still has a waiter (timed-out ones are not waited for). */
  private awaitingAnswers(): boolean {
    for (const request of this.sent.values()) if (request.wanted()) return true;
    return false;
  }

  private closeIfDrained(): void {
    if (this.state !== 'closing' || this.queuedWeight > 0 || this.awaitingAnswers()) return;
    const socket = this.socket;
    this.socket = undefined;
    this.socketOpen = false;
    this.state = 'closed';
    this.sent.clear();
    this.deadlines.disarm();
    if (socket === undefined) {
      this.closed?.();
      return;
    }
    socket.once('close', () => this.closed?.());
    socket.close(CloseCodes.NORMAL, 'client closed');
  }
}

function fieldError(field: string, problem: string): InventoryError {
  return new InventoryError('BAD_REQUEST', `${field} ${problem}`, { details: { field } });
}

function queryGroupOf(query: AvailabilityArgs): QueryGroup {
  return { maxMinutes: query.maxMinutes ?? undefined, breakdown: query.breakdown !== false };
}
