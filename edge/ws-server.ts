/**
 * The WebSocket endpoint (`/v1/ws`) of one worker thread: the authenticated upgrade, frame
 * decoding, per-connection limits, running each request, and batching the answers of one
 * connection into as few frames as possible.
 *
 * Invariants:
 * - uWS lends the message ArrayBuffer only for the callback; the codec copies what it decodes
 *   and nothing else keeps a reference, so no borrowed byte outlives the callback.
 * - A closed WebSocket is never touched: `Connection.open` is cleared in the close handler and
 *   every late completion checks it.
 * - Per connection, answers not yet handed to uWS are bounded (WS_HELD_ANSWERS_MAX): a client
 *   that stops reading is closed, never buffered without bound. Requests running or answered
 *   but unsent are bounded by IN_FLIGHT_MAX (a batch request counts its orders or queries);
 *   more are refused TOO_MANY_IN_FLIGHT.
 * - A frame is a batch: its requests run in order, and if any of them changed something, the
 *   frame's answers wait together for one durability wait (the newest log ticket the frame
 *   depends on) and leave together. A frame that changed nothing is answered at once. So no
 *   answer of a frame ever shows a change of that frame that is not yet durable.
 * - Answers are written only while uWS's buffer for the client is under the soft limit; above
 *   it they wait for the drain event, new requests are refused TOO_MANY_IN_FLIGHT without
 *   being run, and a client congested for WS_DRAIN_TIMEOUT_MS is closed.
 * - Every protocol violation closes only its own connection, after a kind-3 notice.
 * - A request takes tokens from its connection's bucket and then from its key's bucket, shared
 *   by every thread of the node (a batch takes one per entry); a refusal is RATE_LIMITED with
 *   `retryAfterMs`, and gives back what it took from the connection's bucket.
 * - A connection lives only while its key does: when a reload removes the key, the connection
 *   gets an UNAUTHORIZED notice and is closed (1008), also if its upgrade was accepted just
 *   before the reload reached this thread.
 * - `subscribe` / `unsubscribe` are answered by the thread's SubscriptionHub, which knows the
 *   connection as a PushTarget; a closed connection's subscriptions are removed at its close.
 * - With metrics on, every answered request of a known op is counted with its latency from the
 *   moment its frame was read (one clock read per frame and one per answer). On a cluster node
 *   an acknowledgement is counted when it is handed to uWS, under the outcome the client gets
 *   (NOT_OWNER when the region was lost meanwhile).
 */

import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_socket_context_t,
  WebSocket,
} from 'uWebSockets.js';
import {
  type CloseCode,
  CloseCodes,
  type ErrorBody,
  FRAME_BYTES_MAX,
  IN_FLIGHT_MAX,
  isOp,
  MessageKinds,
  OP_MUTATES,
  type NamedSkus,
  type Op,
  type SubscribeArgs,
  type UnsubscribeArgs,
  type WireCodec,
  type WireMessage,
  SKUS_PER_BATCH_MAX,
  WS_PATH,
} from '../protocol/index.js';
import { laterTicket } from './batch.js';
import {
  WS_ANSWERS_PER_FRAME_MAX,
  WS_DRAIN_TIMEOUT_MS,
  WS_HELD_ANSWERS_MAX,
  WS_IDLE_TIMEOUT_SECONDS,
  WS_SEND_BUFFER_BYTES_HARD,
  WS_SEND_BUFFER_BYTES_SOFT,
} from './constants.js';
import { errorFromUnknown, errorOf, statusLine, violation } from './errors.js';
import type { ConnectionLimits } from './connection-limits.js';
import type { KeyIdentity, KeyRing } from './keys.js';
import type { Logger } from './logger.js';
import { type ThreadMetrics, TRANSPORT_WS } from './metrics.js';
import { type OperationContext, type Outcome, refusalOf, runNow } from './operations.js';
import { type KeyRateLimiter, type RateLimit, TokenBucket } from './rate-limiter.js';
import { AckFence } from './ownership-check.js';
import { SkuTable } from './sku-table.js';
import type { PushTarget, SubscriptionHub } from './subscriptions.js';

export type ArgsCheck = (
  op: Op,
  args: Record<string, unknown>,
) => { ok: true; args: unknown } | { ok: false; error: ErrorBody };

export interface WsServerOptions {
  keys: KeyRing;
  context: OperationContext;
  codec: WireCodec;
  checkArgs: ArgsCheck;
  rateLimit: RateLimit;
  clock: () => number;
  logger: Logger;
  /** False before the node is ready and while it shuts down: upgrades are refused (503). */
  acceptingConnections(): boolean;
  /** The thread's subscriptions; without it `subscribe` is answered UNKNOWN_OP. */
  subscriptions?: SubscriptionHub;
  /** Request counts and latencies; null or absent when metrics are off. */
  metrics?: ThreadMetrics | null;
  /** Caps on connections per node and per key, shared by the node's threads. */
  connections: ConnectionLimits;
  /** The per-key request rate, shared by the node's threads; absent: no per-key limit. */
  keyLimits?: KeyRateLimiter | null;
}

/** One client connection's state; uWS hands it back as the WebSocket's user data. */
class Connection implements PushTarget {
  ws: WebSocket<ConnectionData> | null = null;
  open = false;
  /** Requests whose answer is still being computed (waiting on the log or the main thread). */
  running = 0;
  /** Answers not yet handed to uWS. */
  readonly outbox: WireMessage[] = [];
  /**
   * Where in `outbox` the answers of changes made durable sit: on a cluster node, ownership is
   * checked again right before they are handed to uWS (see WsServer.flush). Each one's op and
   * start time are kept beside it: it is counted in the metrics when its outcome is settled,
   * sent as it is or turned into NOT_OWNER.
   */
  readonly acksAt: number[] = [];
  readonly ackOps: Op[] = [];
  readonly ackStartsMs: number[] = [];
  /**
   * Acknowledgements handed to uWS since its send buffer was last seen empty. What uWS cannot
   * write at once it keeps and writes as the socket drains, with no JS in between; the drain
   * handler hands these to the fence again, so a pause before that write is named too (an
   * upper bound: some of them may have been written at once).
   */
  acksSinceEmpty = 0;
  /** When the client's buffer first went over the soft limit; 0 when it is not congested. */
  congestedSinceMs = 0;
  /** Set when the connection must close once its answers are written (failed hello). */
  closeAfterFlush: { code: CloseCode; reason: string } | null = null;
  /** True while queued for the next event-loop turn's flush. */
  flushQueued = false;
  /** The protocol version its hello settled on (1 until then). */
  version = 1;
  /** Its SKU table, made at its first batch request by refs. */
  skuTable: SkuTable | null = null;
  /**
   * Ids of subscribe requests whose answer has not been handed to uWS yet. While there are
   * any, pushes wait in `held`: a push must never reach the client before the answer that
   * tells it the subscription's id and starting point (the client would drop it, a gap).
   */
  readonly answersAwaited: number[] = [];
  private held: Uint8Array[] = [];
  private heldBytes = 0;

  constructor(
    readonly id: number,
    readonly principal: KeyIdentity,
    readonly bucket: TokenBucket,
    private readonly closeSlow: (connection: Connection, message: string) => void,
  ) {}

  /** Set once the connection is being closed for not keeping up: nothing more is sent. */
  private cut = false;

  isOpen(): boolean {
    return this.open && !this.cut && this.ws !== null;
  }

  bufferedAmount(): number {
    return this.isOpen() ? this.ws!.getBufferedAmount() + this.heldBytes : 0;
  }

  send(frame: Uint8Array): void {
    const ws = this.ws;
    if (!this.isOpen() || ws === null) return;
    if (this.answersAwaited.length > 0) {
      this.held.push(frame);
      this.heldBytes += frame.byteLength;
      return;
    }
    ws.cork(() => ws.send(frame, true, false));
  }

  pushesHeld(): boolean {
    return this.answersAwaited.length > 0;
  }

  /** Notes that the answers of `messages` were handed to uWS; sends held pushes once free. */
  answered(ws: WebSocket<ConnectionData>, messages: WireMessage[], from: number, to: number) {
    const awaited = this.answersAwaited;
    if (awaited.length === 0) return;
    for (let index = from; index < to && awaited.length > 0; index++) {
      const at = awaited.indexOf(messages[index][0]);
      if (at !== -1) awaited.splice(at, 1);
    }
    if (awaited.length > 0 || this.held.length === 0) return;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const frame of held) ws.send(frame, true, false);
  }

  cutOff(message: string): void {
    this.closeSlow(this, message);
    this.cut = true;
  }

  joinTopic(topic: string): void {
    if (this.isOpen()) this.ws!.subscribe(topic);
  }

  leaveTopic(topic: string): void {
    if (this.isOpen()) this.ws!.unsubscribe(topic);
  }
}

interface ConnectionData {
  connection: Connection;
}

/**
 * The answers of one frame while it is being run: they leave together, at once or after the
 * frame's one durability wait. `weights` counts what each answer held of the in-flight window.
 */
class FrameAnswers {
  readonly messages: WireMessage[] = [];
  readonly ops: (Op | null)[] = [];
  readonly weights: number[] = [];
  ticket = 0;
}

/** What a request counts against the in-flight window and the rate limit. */
function weightOf(op: string, args: Record<string, unknown>): number {
  const entries = op === 'placeOrders' ? args.orders : op === 'availabilityMany' ? args.queries : 1;
  return typeof entries === 'number' && Number.isInteger(entries) && entries > 1 ? entries : 1;
}

/** Hands one encoded frame on (to uWS, or to a list to send after a last check). */
type EmitFrame = (ws: WebSocket<ConnectionData>, frame: Uint8Array) => void;

export class WsServer {
  private readonly connections = new Set<Connection>();
  /** Connections with answers produced outside a uWS callback, flushed on setImmediate. */
  private readonly flushQueue: Connection[] = [];
  private flushScheduled = false;
  private nextConnectionId = 1;
  private readonly metrics: ThreadMetrics | null;
  /**
   * The engine's SKU indexes of the batch request by refs being run; grown to the longest
   * (a `placeOrders` may have more lines than an `availabilityMany` has SKUs).
   */
  private skuIndexScratch = new Int32Array(SKUS_PER_BATCH_MAX);
  private readonly keyLimits: KeyRateLimiter | null;
  /**
   * A cluster node's last ownership check before acknowledgements are written; null on a
   * standalone node, whose acknowledgements are not held.
   */
  private readonly fence: AckFence | null;
  /** Connections accepted since the thread started (a metric). */
  connectionsOpened = 0;

  constructor(private readonly options: WsServerOptions) {
    this.metrics = options.metrics ?? null;
    this.keyLimits = options.keyLimits ?? null;
    this.fence = AckFence.of(options.context.ownership, options.logger);
  }

  register(app: TemplatedApp): void {
    app.ws<ConnectionData>(WS_PATH, {
      compression: 0,
      maxPayloadLength: FRAME_BYTES_MAX,
      idleTimeout: WS_IDLE_TIMEOUT_SECONDS,
      maxBackpressure: WS_SEND_BUFFER_BYTES_HARD,
      closeOnBackpressureLimit: 1,
      sendPingsAutomatically: true,
      maxLifetime: 0,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.opened(ws),
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      drain: (ws) => this.drained(ws),
      close: (ws) => this.closed(ws),
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Requests accepted on any connection whose answers are not yet handed to uWS. */
  get unanswered(): number {
    let count = 0;
    for (const connection of this.connections) count += connection.running;
    return count;
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    // Everything needed from `req` is read now: it is only valid during this callback.
    const authorization = req.getHeader('authorization');
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    if (!this.options.acceptingConnections()) {
      refuseUpgrade(res, errorOf('NOT_READY', 'the node is not accepting connections'), 503);
      return;
    }
    const identity = this.options.keys.identify(authorization);
    if (identity === null) {
      refuseUpgrade(res, errorOf('UNAUTHORIZED'), 401);
      return;
    }
    // Counted from here until the close handler; every path below upgrades or gives it back.
    if (!this.options.connections.acquire(identity.index, identity.connectionsMax ?? undefined)) {
      refuseUpgrade(res, errorOf('TOO_MANY_CONNECTIONS'), 429);
      return;
    }
    const bucket = new TokenBucket(this.options.rateLimit, this.options.clock);
    const connection = new Connection(this.nextConnectionId++, identity, bucket, this.closeSlow);
    res.upgrade<ConnectionData>({ connection }, key, protocol, extensions, context);
  }

  private opened(ws: WebSocket<ConnectionData>): void {
    const connection = ws.getUserData().connection;
    connection.ws = ws;
    connection.open = true;
    this.connections.add(connection);
    this.connectionsOpened++;
    // Accepted under a key that a reload removed before the connection opened.
    if (!this.options.keys.holds(connection.principal)) this.revoke(connection);
  }

  /**
   * After a key reload: closes every connection whose key the ring no longer holds, with a
   * UNAUTHORIZED notice (1008). Returns how many it closed.
   */
  keysChanged(): number {
    let closed = 0;
    for (const connection of [...this.connections]) {
      if (connection.open && !this.options.keys.holds(connection.principal)) {
        this.revoke(connection);
        closed++;
      }
    }
    return closed;
  }

  private revoke(connection: Connection): void {
    this.closeWithNotice(
      connection,
      CloseCodes.POLICY_VIOLATION,
      'UNAUTHORIZED',
      `the API key ${connection.principal.actor} was removed from the node's keys`,
    );
  }

  /**
   * Takes a request's tokens from its connection's bucket, then from its key's: 0 when both
   * had them, else the milliseconds to wait (nothing is kept then). `hello` takes none of the
   * key's: a client reconnecting while its key is at its limit still completes its handshake
   * (connections are capped per key on their own).
   */
  private admit(connection: Connection, op: string, weight: number): number {
    const bucket = connection.bucket;
    if (!bucket.takeAll(weight)) return bucket.waitMs(weight);
    const keyLimits = this.keyLimits;
    if (keyLimits === null || op === 'hello') return 0;
    const waitMs = keyLimits.take(connection.principal.index, weight);
    if (waitMs !== 0) bucket.giveBack(weight);
    return waitMs;
  }

  private closed(ws: WebSocket<ConnectionData>): void {
    const connection = ws.getUserData().connection;
    connection.open = false;
    connection.ws = null;
    connection.outbox.length = 0;
    this.settleAcks(connection, null);
    this.connections.delete(connection);
    this.options.connections.release(connection.principal.index);
    this.options.subscriptions?.removeTarget(connection);
  }

  private readonly closeSlow = (connection: Connection, message: string): void => {
    this.closeWithNotice(connection, CloseCodes.POLICY_VIOLATION, 'SUBSCRIBER_TOO_SLOW', message);
  };

  private drained(ws: WebSocket<ConnectionData>): void {
    const connection = ws.getUserData().connection;
    if (connection.acksSinceEmpty > 0) {
      // uWS has just written (part of) what it kept: looked at again in the next turn.
      this.fence?.written(connection.acksSinceEmpty);
      if (ws.getBufferedAmount() === 0) connection.acksSinceEmpty = 0;
    }
    if (ws.getBufferedAmount() < WS_SEND_BUFFER_BYTES_SOFT) this.flush(connection);
  }

  private message(ws: WebSocket<ConnectionData>, message: ArrayBuffer, isBinary: boolean): void {
    const connection = ws.getUserData().connection;
    if (!connection.open || connection.closeAfterFlush !== null) return;
    if (!isBinary) {
      const { close, code } = violation('text-frame');
      this.closeWithNotice(connection, close, code, 'text frames are not part of the protocol');
      return;
    }
    const decoded = this.options.codec.decodeRequestFrame(message);
    if (!decoded.ok) {
      this.closeWithNotice(connection, decoded.closeCode, decoded.code, decoded.message);
      return;
    }
    const metrics = this.metrics;
    const startMs = metrics === null ? 0 : metrics.now();
    const requests = decoded.requests;
    const frame = new FrameAnswers();
    for (let index = 0; index < requests.length; index++) {
      const [id, op, args] = requests[index];
      const weight = weightOf(op, args);
      const waitMs = this.admit(connection, op, weight);
      if (waitMs !== 0) {
        this.refuse(frame, id, op, rateLimited(waitMs));
      } else {
        this.request(connection, frame, id, op, args, weight, startMs);
      }
    }
    this.settleFrame(connection, frame, startMs);
    if (connection.outbox.length > WS_HELD_ANSWERS_MAX) {
      metrics?.endFrame(startMs);
      const { close, code } = violation('not-reading');
      this.closeWithNotice(connection, close, code, 'the client is not reading its answers');
      return;
    }
    this.flush(connection);
    // The frame's answers have left (or wait for the client or the log): that is their latency.
    metrics?.endFrame(startMs);
  }

  /**
   * A frame that changed nothing is answered now; otherwise its answers wait for the frame's
   * one durability wait, counted as running meanwhile, and then leave together.
   */
  private settleFrame(connection: Connection, frame: FrameAnswers, startMs: number): void {
    const messages = frame.messages;
    if (frame.ticket === 0) {
      for (let index = 0; index < messages.length; index++) {
        connection.outbox.push(messages[index]);
        const op = frame.ops[index];
        if (op !== null) this.metrics?.answeredInFrame(op, codeOf(messages[index]));
      }
      return;
    }
    let weight = 0;
    for (let index = 0; index < frame.weights.length; index++) weight += frame.weights[index];
    connection.running += weight;
    const log = this.options.context.log;
    log.waitDurable(frame.ticket).then(
      () => this.frameDurable(connection, frame, weight, null, startMs),
      (error: unknown) => this.frameDurable(connection, frame, weight, error, startMs),
    );
  }

  /** The frame's changes are durable (or can no longer become so): its answers leave. */
  private frameDurable(
    connection: Connection,
    frame: FrameAnswers,
    weight: number,
    failed: unknown,
    startMs: number,
  ): void {
    connection.running -= weight;
    const messages = frame.messages;
    for (let index = 0; index < messages.length; index++) {
      const message = messages[index];
      // An answer acknowledges a change only if the change is durable: if the log failed,
      // every ok answer of the frame becomes the failure (reads included, for simplicity).
      if (failed !== null && message[1] === MessageKinds.OK) {
        messages[index] = [message[0], MessageKinds.ERROR, errorFromUnknown(failed)];
      }
    }
    const held = this.fence !== null && connection.open;
    const outbox = connection.outbox;
    for (let index = 0; index < messages.length; index++) {
      const op = frame.ops[index];
      if (held && op !== null && isAck(op, messages[index])) {
        this.holdAck(connection, op, startMs);
      } else if (op !== null) {
        this.metrics?.observe(op, TRANSPORT_WS, codeOf(messages[index]), startMs);
      }
      if (connection.open) outbox.push(messages[index]);
    }
    if (connection.open) this.queueFlush(connection);
  }

  private request(
    connection: Connection,
    frame: FrameAnswers,
    id: number,
    op: string,
    args: Record<string, unknown>,
    weight: number,
    startMs: number,
  ): void {
    // A congested client gets cheap refusals instead of answers that would only wait in
    // memory: what is held for it stays bounded by one frame's answers plus running requests.
    const held = connection.running + connection.outbox.length + frame.messages.length;
    if (held + weight > IN_FLIGHT_MAX || connection.congestedSinceMs !== 0) {
      this.refuse(frame, id, op, errorOf('TOO_MANY_IN_FLIGHT'));
      return;
    }
    if (!isOp(op)) {
      this.refuse(frame, id, op, errorOf('UNKNOWN_OP', `unknown operation '${op}'`));
      return;
    }
    const context = this.options.context;
    const refusal = refusalOf(context, op, connection.principal);
    if (refusal !== null) {
      this.refuse(frame, id, op, refusal);
      return;
    }
    const checked = this.options.checkArgs(op, args);
    if (!checked.ok) {
      this.refuse(frame, id, op, checked.error);
      return;
    }
    if (op === 'availabilityMany' || op === 'placeOrders') {
      const unresolved = this.resolveSkuRefs(connection, checked.args as NamedSkus, op);
      if (unresolved !== null) {
        this.refuse(frame, id, op, unresolved);
        return;
      }
    }
    const outcome =
      op === 'subscribe' || op === 'unsubscribe'
        ? this.subscription(connection, op, checked.args)
        : runNow(context, op, checked.args, connection.principal, connection.version);
    if (outcome instanceof Promise) {
      connection.running++;
      outcome.then(
        (settled) => this.completed(connection, id, op, settled, startMs),
        () =>
          this.completed(connection, id, op, { ok: false, error: errorOf('INTERNAL') }, startMs),
      );
      return;
    }
    const ticket = op === 'subscribe' || op === 'unsubscribe' ? 0 : context.ticket;
    if (laterTicket(ticket, frame.ticket)) frame.ticket = ticket;
    this.answer(frame, id, outcome, op, weight);
    if (op === 'subscribe' && outcome.ok) connection.answersAwaited.push(id);
    if (op === 'hello') this.helloAnswered(connection, outcome);
  }

  /**
   * A batch request by refs: applies its definitions to the connection's SKU table and sets
   * `skuIndexes` (the engine's indexes, in a scratch the request uses before this thread runs
   * anything else), and for `placeOrders` `skus` (the ids, which refusals name). Null when
   * done or when the request names its SKUs by id.
   */
  private resolveSkuRefs(connection: Connection, args: NamedSkus, op: Op): ErrorBody | null {
    const refs = args.skuRefs;
    // Below version 2 the op itself is refused (runNow), defining nothing.
    if (refs === undefined || connection.version < 2) return null;
    connection.skuTable ??= new SkuTable();
    if (this.skuIndexScratch.length < refs.length) {
      this.skuIndexScratch = new Int32Array(refs.length);
    }
    // The scratch whole: readers index it by the request's own positions, as they do `skus`.
    const into = this.skuIndexScratch;
    const engine = this.options.context.engine;
    const error = connection.skuTable.resolve(refs, args.defineRefs, args.defineSkus, engine, into);
    if (error !== null) return error;
    args.skuIndexes = into;
    if (op === 'placeOrders') args.skus = connection.skuTable.idsOf(refs);
    return null;
  }

  /** Records the version a hello settled on; an unsupported one closes after the answer. */
  private helloAnswered(connection: Connection, outcome: Outcome): void {
    if (outcome.ok) {
      connection.version = (outcome.value as { version: number }).version;
      return;
    }
    // An unsupported version: answer, then close (the wire spec's handshake rule).
    const { close } = violation('protocol-version');
    connection.closeAfterFlush = { code: close, reason: 'unsupported protocol version' };
  }

  /** An error answer given before the op ran, counted when the op is a real one. */
  private refuse(frame: FrameAnswers, id: number, op: string, error: ErrorBody): void {
    frame.messages.push([id, MessageKinds.ERROR, error]);
    frame.ops.push(isOp(op) ? op : null);
    frame.weights.push(0);
  }

  private subscription(connection: Connection, op: 'subscribe' | 'unsubscribe', args: unknown) {
    const hub = this.options.subscriptions;
    if (hub === undefined) {
      return {
        ok: false,
        error: errorOf('UNKNOWN_OP', 'this server has no subscriptions'),
      } as const;
    }
    if (op === 'unsubscribe') return hub.unsubscribe(connection, (args as UnsubscribeArgs).sub);
    return hub.subscribe(connection, args as SubscribeArgs, connection.principal.role);
  }

  private answer(frame: FrameAnswers, id: number, outcome: Outcome, op: Op, weight: number): void {
    frame.messages.push(
      outcome.ok ? [id, MessageKinds.OK, outcome.value] : [id, MessageKinds.ERROR, outcome.error],
    );
    frame.ops.push(op);
    frame.weights.push(weight);
  }

  /** An answer computed after the frame's callback returned: queued for this turn's flush. */
  private completed(
    connection: Connection,
    id: number,
    op: Op,
    outcome: Outcome,
    startMs: number,
  ): void {
    connection.running--;
    if (this.fence !== null && connection.open && outcome.ok && OP_MUTATES[op]) {
      this.holdAck(connection, op, startMs);
    } else {
      this.metrics?.observe(op, TRANSPORT_WS, outcome.ok ? null : outcome.error.code, startMs);
    }
    if (!connection.open) return;
    connection.outbox.push(
      outcome.ok ? [id, MessageKinds.OK, outcome.value] : [id, MessageKinds.ERROR, outcome.error],
    );
    this.queueFlush(connection);
  }

  /** Queues a connection for this turn's flush (answers produced outside a uWS callback). */
  private queueFlush(connection: Connection): void {
    if (!connection.flushQueued) {
      connection.flushQueued = true;
      this.flushQueue.push(connection);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushPending);
    }
  }

  private readonly flushPending = (): void => {
    this.flushScheduled = false;
    const queue = this.flushQueue;
    for (let index = 0; index < queue.length; index++) {
      const connection = queue[index];
      connection.flushQueued = false;
      const ws = connection.ws;
      if (connection.open && ws !== null) ws.cork(() => this.flush(connection));
    }
    queue.length = 0;
  };

  /** Writes the outbox unless the client's buffer is over the soft limit. */
  private flush(connection: Connection): void {
    const ws = connection.ws;
    if (!connection.open || ws === null) return;
    const outbox = connection.outbox;
    if (ws.getBufferedAmount() >= WS_SEND_BUFFER_BYTES_SOFT) {
      if (outbox.length > 0 && connection.congestedSinceMs === 0) {
        connection.congestedSinceMs = this.options.clock();
      }
      return;
    }
    connection.congestedSinceMs = 0;
    if (outbox.length > 0) {
      if (connection.acksAt.length > 0) {
        this.sendAcks(connection, ws);
      } else {
        this.sendMessages(ws, outbox, 0, outbox.length, this.sendFrame);
      }
      connection.answered(ws, outbox, 0, outbox.length);
      outbox.length = 0;
    }
    const closing = connection.closeAfterFlush;
    if (closing !== null && connection.open) ws.end(closing.code, closing.reason);
  }

  /**
   * Sends an outbox that holds acknowledgements (a cluster node). Its frames are encoded first
   * and ownership is read last (AckFence), so that between the check and the write there is
   * only the copy into uWS and the write itself, not the encoding.
   */
  private sendAcks(connection: Connection, ws: WebSocket<ConnectionData>): void {
    const outbox = connection.outbox;
    const fence = this.fence!;
    const frames: Uint8Array[] = [];
    this.sendMessages(ws, outbox, 0, outbox.length, (_, frame) => frames.push(frame.slice()));
    const refusal = fence.refusal();
    const acks = connection.acksAt.length;
    this.settleAcks(connection, refusal);
    if (refusal !== null) {
      // Rare (the deadline passed while the frames were encoded): encode them again as refused.
      this.sendMessages(ws, outbox, 0, outbox.length, this.sendFrame);
      return;
    }
    // Read before these sends: earlier writes have left the cork by now.
    if (ws.getBufferedAmount() === 0) connection.acksSinceEmpty = 0;
    for (let index = 0; index < frames.length; index++) ws.send(frames[index], true, false);
    fence.written(acks);
    connection.acksSinceEmpty += acks;
  }

  /**
   * A cluster node acknowledges a change only while it still owns its region. The log's guard
   * (ownership-check.ts) checked when the change became durable, but the answer leaves in a
   * later turn: a primary paused in between (SIGSTOP, a long GC) past its lease must not send
   * it. So `sendAcks` reads ownership again once the answers are encoded, right before uWS
   * gets them; without it, every acknowledgement waiting in the outbox becomes the NOT_OWNER
   * refusal here (the outcome is then unknown to the client, which resends by order id to the
   * new owner).
   *
   * `refusal` is that check's answer (null: still the owner, or the answers are dropped with a
   * closing connection, where the change stands). Each acknowledgement is counted here, under
   * the outcome the client gets.
   */
  private settleAcks(connection: Connection, refusal: ErrorBody | null): void {
    const { acksAt, ackOps, ackStartsMs, outbox } = connection;
    const code = refusal === null ? null : refusal.code;
    for (let index = 0; index < acksAt.length; index++) {
      if (refusal !== null) {
        const at = acksAt[index];
        outbox[at] = [outbox[at][0], MessageKinds.ERROR, refusal];
      }
      this.metrics?.observe(ackOps[index], TRANSPORT_WS, code, ackStartsMs[index]);
    }
    acksAt.length = 0;
    ackOps.length = 0;
    ackStartsMs.length = 0;
  }

  /** Holds an acknowledgement about to enter the outbox for `settleAcks` (a cluster node). */
  private holdAck(connection: Connection, op: Op, startMs: number): void {
    connection.acksAt.push(connection.outbox.length);
    connection.ackOps.push(op);
    connection.ackStartsMs.push(startMs);
  }

  /**
   * Sends messages [from, to) in frames of at most FRAME_BYTES_MAX bytes where possible: a
   * frame over it is split in halves; a single answer over it goes alone (the wire spec lets a
   * client expect up to RESPONSE_FRAME_BYTES_MAX for that case).
   */
  private sendMessages(
    ws: WebSocket<ConnectionData>,
    all: WireMessage[],
    from: number,
    to: number,
    emit: EmitFrame,
  ) {
    for (let start = from; start < to; start += WS_ANSWERS_PER_FRAME_MAX) {
      const end = Math.min(to, start + WS_ANSWERS_PER_FRAME_MAX);
      const slice = start === 0 && end === all.length ? all : all.slice(start, end);
      this.sendSplit(ws, slice, emit);
    }
  }

  private readonly sendFrame: EmitFrame = (ws, frame) => {
    ws.send(frame, true, false);
  };

  /** `emit` gets transient bytes: the next encode writes over them. */
  private sendSplit(ws: WebSocket<ConnectionData>, messages: WireMessage[], emit: EmitFrame): void {
    // Transient bytes: uWS copies what it does not write at once, and nothing below encodes
    // again before the send (a split encodes its halves after this frame is dropped).
    let frame: Uint8Array;
    try {
      frame = this.options.codec.encodeMessagesTransient(messages);
    } catch (error) {
      // Only a bug can produce a value MessagePack cannot carry; answer each alone so one bad
      // answer does not take the others with it.
      if (messages.length > 1) {
        for (const message of messages) this.sendSplit(ws, [message], emit);
        return;
      }
      this.options.logger.error('answer not encodable', { error });
      const [id] = messages[0];
      frame = this.options.codec.encodeMessages([[id, MessageKinds.ERROR, errorOf('INTERNAL')]]);
    }
    if (frame.length > FRAME_BYTES_MAX && messages.length > 1) {
      const half = messages.length >>> 1;
      this.sendSplit(ws, messages.slice(0, half), emit);
      this.sendSplit(ws, messages.slice(half), emit);
      return;
    }
    emit(ws, frame);
  }

  private closeWithNotice(
    connection: Connection,
    closeCode: CloseCode,
    code: string,
    message: string,
  ): void {
    const ws = connection.ws;
    if (!connection.open || ws === null) return;
    this.options.logger.debug('closing connection', { connection: connection.id, code, message });
    connection.outbox.length = 0;
    this.settleAcks(connection, null);
    ws.cork(() => {
      ws.send(this.options.codec.encodeNotice({ code, message }), true, false);
      ws.end(closeCode, code);
    });
  }

  /** Closes connections whose client has not drained its buffer for WS_DRAIN_TIMEOUT_MS. */
  checkCongestion(nowMs: number): void {
    for (const connection of this.connections) {
      const since = connection.congestedSinceMs;
      if (since !== 0 && nowMs - since >= WS_DRAIN_TIMEOUT_MS) {
        const { close, code } = violation('not-reading');
        this.closeWithNotice(connection, close, code, 'the client stopped reading its answers');
      }
    }
  }

  /** Sends every connection a SHUTTING_DOWN notice and closes it (1001 going away). */
  closeAll(): void {
    for (const connection of [...this.connections]) {
      const ws = connection.ws;
      if (!connection.open || ws === null) continue;
      ws.cork(() => {
        this.flush(connection);
        if (!connection.open) return;
        ws.send(this.options.codec.encodeNotice(errorOf('SHUTTING_DOWN')), true, false);
        ws.end(CloseCodes.GOING_AWAY, 'SHUTTING_DOWN');
      });
    }
  }
}

/** A RATE_LIMITED answer: the client may send the request again after `retryAfterMs`. */
function rateLimited(retryAfterMs: number): ErrorBody {
  return errorOf('RATE_LIMITED', `too many requests: retry after ${retryAfterMs} ms`, {
    retryAfterMs,
  });
}

/** Whether `message`, the answer to `op`, acknowledges a change. */
function isAck(op: Op, message: WireMessage): boolean {
  return OP_MUTATES[op] && message[1] === MessageKinds.OK;
}

/** The error code of an answer, null for an ok answer. */
function codeOf(message: WireMessage): string | null {
  return message[1] === MessageKinds.OK ? null : (message[2] as ErrorBody).code;
}

function refuseUpgrade(res: HttpResponse, error: ErrorBody, status: number): void {
  res.cork(() => {
    res
      .writeStatus(statusLine(status))
      .writeHeader('content-type', 'application/json')
      .end(JSON.stringify({ error }), true);
  });
}
