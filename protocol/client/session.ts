/**
 * The SDK's connection machinery behind InventoryClient: one WebSocket at a time, the calls
 * waiting on it, batching, the in-flight window, timeouts, aborts and reconnects.
 *
 * A call moves QUEUED → SENT → DONE. QUEUED calls wait in `queue` (for the flush at the end
 * of the event-loop turn, the in-flight window, or a reconnect); SENT calls wait for their
 * answer by id. A call that times out or is aborted after it was sent becomes ABANDONED: its
 * caller is answered at once, but it still counts against the window until the node answers,
 * so the client never has more requests at the node than the node allows.
 *
 * Invariants:
 * - Every call is answered exactly once: resolved with its result, or rejected with an
 *   InventoryError (node's code or TIMEOUT, ABORTED, CONNECTION_LOST, CLOSED...).
 * - `queuedCount` counts QUEUED calls (bounded by queueMax), `sentCount` SENT ones and
 *   `abandonedCount` ABANDONED ones; SENT + ABANDONED never exceed the window.
 * - After a lost connection a sent call is sent again only if its op is OP_RESEND_SAFE
 *   (reads, and order ops, whose order id makes a repeat return the first answer); other
 *   sent calls fail with ConnectionLostError, maybeApplied true for ops that mutate.
 * - Each connection starts with `hello`; later requests are pipelined behind it.
 */

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
  RECONNECT_BASE_DELAY_MS_DEFAULT,
  RECONNECT_DELAY_MS_MAX,
  RECONNECT_MAX_DELAY_MS_DEFAULT,
  RECONNECT_RETRIES_DEFAULT,
  RECONNECT_RETRIES_MAX,
  REQUEST_ID_MAX,
  REQUESTS_PER_FRAME_MAX,
  RESPONSE_FRAME_BYTES_MAX,
} from '../limits.js';
import {
  CloseCodes,
  type HelloResult,
  MessageKinds,
  type NoticeBody,
  OP_MUTATES,
  OP_RESEND_SAFE,
  type Op,
  type WireRequest,
} from '../messages.js';
import { backoffDelayMs, type Random, type ReconnectPolicy } from './backoff.js';
import { ConnectionLostError, clientError, errorFromBody, InventoryError } from './errors.js';
import { PushRouter } from './push-router.js';

export interface ConnectOptions {
  apiKey: string;
  /** Default per-call timeout (ms); each call may pass its own. */
  timeoutMs?: number;
  /** Reconnect policy once connected; `false` disables reconnects. */
  reconnect?: Partial<ReconnectPolicy> | false;
  /** Collect calls made in the same event-loop turn into one frame (default true). */
  batch?: boolean;
  /** Most requests awaiting an answer; the node's own limit caps it (default IN_FLIGHT_MAX). */
  inFlightMax?: number;
  /** Most calls held unsent; one more is refused with TOO_MANY_IN_FLIGHT. */
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
const ABANDONED = 2;
const DONE = 3;

/** The protocol versions this SDK speaks, newest first. */
const SDK_PROTOCOL_VERSIONS = [1] as const;

/** ws send options: binary frames, never compressed (the node refuses permessage-deflate). */
const SEND_OPTIONS = Object.freeze({ binary: true, compress: false });

/** Upgrade statuses that no retry will fix. */
function isFatalUpgradeStatus(status: number): boolean {
  return status === 401 || status === 403;
}

class PendingCall {
  state = QUEUED;
  wasSent = false;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly session: Session,
    readonly id: number,
    readonly op: Op,
    readonly args: object,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
    readonly signal: AbortSignal | undefined,
    /** The connection's own hello: never resent, never failed to a caller. */
    readonly internal: boolean,
  ) {}

  /** The AbortSignal listener (an EventListener object, so no closure per call). */
  handleEvent(): void {
    this.session.expire(this, 'ABORTED');
  }
}

function expireOnTimer(call: PendingCall): void {
  call.session.expire(call, 'TIMEOUT');
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

function boundedInt(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min || resolved > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${resolved}`);
  }
  return resolved;
}

function resolvePolicy(option: ConnectOptions['reconnect']): ReconnectPolicy {
  if (option === false) return { retries: 0, baseDelayMs: 0, maxDelayMs: 0 };
  const retries = option?.retries ?? RECONNECT_RETRIES_DEFAULT;
  const baseDelayMs = option?.baseDelayMs ?? RECONNECT_BASE_DELAY_MS_DEFAULT;
  const maxDelayMs = option?.maxDelayMs ?? RECONNECT_MAX_DELAY_MS_DEFAULT;
  return {
    retries: boundedInt('reconnect.retries', retries, 0, 0, RECONNECT_RETRIES_MAX),
    baseDelayMs: boundedInt('reconnect.baseDelayMs', baseDelayMs, 0, 0, RECONNECT_DELAY_MS_MAX),
    maxDelayMs: boundedInt('reconnect.maxDelayMs', maxDelayMs, 0, 0, RECONNECT_DELAY_MS_MAX),
  };
}

export class Session {
  state: ClientState = 'connecting';
  server: HelloResult | undefined = undefined;
  readonly pushes = new PushRouter();

  private readonly url: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly policy: ReconnectPolicy;
  private readonly batch: boolean;
  private readonly inFlightOption: number;
  private readonly queueMax: number;
  private readonly random: Random;
  private readonly onNotice: ((notice: NoticeBody) => void) | undefined;
  private readonly onError: (error: unknown) => void;
  private readonly codec = new WireCodec();

  private readonly calls = new Map<number, PendingCall>();
  private readonly listeners = new Set<SessionListener>();
  /** Set when a connection was lost: the next hello answer is a reconnect. */
  private lostConnection = false;
  private queue: PendingCall[] = [];
  private queueHead = 0;
  private queuedCount = 0;
  private sentCount = 0;
  private abandonedCount = 0;
  private nextId = 1;
  private flushScheduled = false;

  private socket: WebSocket | undefined = undefined;
  private socketOpen = false;
  /** A SHUTTING_DOWN notice came: send nothing more on this socket, wait for the next. */
  private draining = false;
  private upgradeStatus = 0;
  private lastSocketError: unknown = undefined;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined = undefined;
  private windowMax: number;
  private requestsPerFrameMax = REQUESTS_PER_FRAME_MAX;
  private frameBytesMax = FRAME_BYTES_MAX;
  private opening:
    | { resolve: (hello: HelloResult) => void; reject: (e: Error) => void }
    | undefined;
  private closing: Promise<void> | undefined = undefined;
  private closed: (() => void) | undefined = undefined;

  constructor(url: string, options: ConnectOptions) {
    if (typeof options?.apiKey !== 'string' || options.apiKey === '') {
      throw new TypeError('apiKey must be a non-empty string');
    }
    this.url = url;
    this.apiKey = options.apiKey;
    this.timeoutMs = boundedInt(
      'timeoutMs',
      options.timeoutMs,
      CLIENT_TIMEOUT_MS_DEFAULT,
      1,
      CLIENT_TIMEOUT_MS_MAX,
    );
    this.policy = resolvePolicy(options.reconnect);
    this.batch = options.batch ?? true;
    this.inFlightOption = boundedInt('inFlightMax', options.inFlightMax, IN_FLIGHT_MAX, 1, 1 << 20);
    this.windowMax = this.inFlightOption;
    this.queueMax = boundedInt('queueMax', options.queueMax, CLIENT_QUEUE_MAX, 1, 1 << 24);
    this.random = options.random ?? Math.random;
    this.onNotice = options.onNotice;
    this.onError = options.onError ?? ((error) => process.emitWarning(String(error)));
  }

  get inFlight(): number {
    return this.sentCount + this.abandonedCount;
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

  get queued(): number {
    return this.queuedCount;
  }

  /** Opens the first connection; resolves with the node's hello answer. No retries. */
  open(): Promise<HelloResult> {
    return new Promise((resolve, reject) => {
      this.opening = { resolve, reject };
      this.openSocket();
    });
  }

  call(op: Op, args: object, options?: CallOptions): Promise<unknown> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(clientError('CLOSED'));
    }
    if (this.queuedCount >= this.queueMax) {
      return Promise.reject(
        clientError('TOO_MANY_IN_FLIGHT', false, `more than ${this.queueMax} calls queued`),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(clientError('ABORTED'));
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > CLIENT_TIMEOUT_MS_MAX) {
      return Promise.reject(new RangeError(`timeoutMs must be an integer in [1, 2^31 - 1]`));
    }
    return new Promise((resolve, reject) => {
      this.admit(op, args, resolve, reject, signal, timeoutMs, false);
    });
  }

  private admit(
    op: Op,
    args: object,
    resolve: (value: unknown) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    internal: boolean,
  ): PendingCall {
    const call = new PendingCall(
      this,
      this.allocateId(),
      op,
      args,
      resolve,
      reject,
      signal,
      internal,
    );
    this.calls.set(call.id, call);
    this.enqueue(call, internal);
    call.timer = setTimeout(expireOnTimer, timeoutMs, call);
    if (signal !== undefined) signal.addEventListener('abort', call, { once: true });
    if (!internal) this.scheduleFlush();
    return call;
  }

  private allocateId(): number {
    let id = this.nextId;
    // Ids of calls still pending are skipped; calls are bounded, so this ends quickly.
    while (this.calls.has(id)) id = id === REQUEST_ID_MAX ? 1 : id + 1;
    this.nextId = id === REQUEST_ID_MAX ? 1 : id + 1;
    return id;
  }

  /** Queues a call at the back, or at the front (a connection's hello goes first). */
  private enqueue(call: PendingCall, front: boolean): void {
    // Calls that timed out while queued leave stale entries; drop them before they pile up.
    if (this.queue.length - this.queueHead > 2 * this.queuedCount + 1024) this.compactQueue();
    if (front) this.queue.splice(this.queueHead, 0, call);
    else this.queue.push(call);
    this.queuedCount++;
  }

  private compactQueue(): void {
    const live: PendingCall[] = [];
    for (let index = this.queueHead; index < this.queue.length; index++) {
      if (this.queue[index].state === QUEUED) live.push(this.queue[index]);
    }
    this.queue = live;
    this.queueHead = 0;
  }

  /** Settles a call early: its timer fired or its signal aborted. */
  expire(call: PendingCall, code: ErrorCode): void {
    if (call.state === QUEUED) {
      call.state = DONE;
      this.queuedCount--;
      this.calls.delete(call.id);
    } else if (call.state === SENT) {
      call.state = ABANDONED;
      this.sentCount--;
      this.abandonedCount++;
    } else return;
    this.release(call);
    if (call.internal) this.helloFailed(call, clientError(code));
    else call.reject(clientError(code, call.wasSent && OP_MUTATES[call.op]));
    this.closeIfDrained();
  }

  /** Clears a settled call's timer and abort listener. */
  private release(call: PendingCall): void {
    if (call.timer !== undefined) clearTimeout(call.timer);
    call.timer = undefined;
    if (call.signal !== undefined) call.signal.removeEventListener('abort', call);
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

  /** Sends queued calls, as many frames as the window allows. */
  flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (socket === undefined || !this.socketOpen || this.draining) return;
    while (this.queuedCount > 0 && this.inFlight < this.windowMax) {
      const room = Math.min(this.requestsPerFrameMax, this.windowMax - this.inFlight);
      const batch: PendingCall[] = [];
      while (batch.length < room && this.queueHead < this.queue.length) {
        const call = this.queue[this.queueHead++];
        if (call.state === QUEUED) batch.push(call);
      }
      if (batch.length === 0) break;
      this.sendBatch(socket, batch);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
  }

  private sendBatch(socket: WebSocket, batch: PendingCall[]): void {
    const requests: WireRequest[] = new Array(batch.length);
    for (let index = 0; index < batch.length; index++) {
      const call = batch[index];
      requests[index] = [call.id, call.op, call.args as Record<string, unknown>];
    }
    let bytes: Uint8Array;
    try {
      bytes = this.codec.encodeRequests(requests);
    } catch (error) {
      this.splitBatch(socket, batch, error);
      return;
    }
    if (bytes.length > this.frameBytesMax) {
      this.splitBatch(socket, batch, undefined);
      return;
    }
    socket.send(bytes, SEND_OPTIONS);
    for (let index = 0; index < batch.length; index++) {
      batch[index].state = SENT;
      batch[index].wasSent = true;
    }
    this.queuedCount -= batch.length;
    this.sentCount += batch.length;
  }

  /**
   * A batch that cannot go as one frame: halve it until the culprit is alone, then refuse
   * that call (FRAME_TOO_LARGE, or BAD_REQUEST for a value MessagePack cannot carry).
   */
  private splitBatch(socket: WebSocket, batch: PendingCall[], error: unknown): void {
    if (batch.length > 1) {
      const middle = batch.length >> 1;
      this.sendBatch(socket, batch.slice(0, middle));
      this.sendBatch(socket, batch.slice(middle));
      return;
    }
    const call = batch[0];
    call.state = DONE;
    this.queuedCount--;
    this.calls.delete(call.id);
    this.release(call);
    const failure =
      error === undefined
        ? clientError('FRAME_TOO_LARGE', false, `request over ${this.frameBytesMax} bytes`)
        : new InventoryError('BAD_REQUEST', `args cannot be encoded: ${String(error)}`);
    if (call.internal) this.helloFailed(call, failure);
    else call.reject(failure);
  }

  // Connection lifecycle.

  private openSocket(): void {
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
    this.admit(
      'hello',
      { versions: [...SDK_PROTOCOL_VERSIONS] },
      (result) => this.helloAnswered(socket, result as HelloResult),
      () => {},
      undefined,
      this.timeoutMs,
      true,
    );
    this.flush();
  }

  private helloAnswered(socket: WebSocket, hello: HelloResult): void {
    if (socket !== this.socket) return;
    this.server = hello;
    // The node's limits cap ours; a missing or odd value keeps this code's default.
    const limits = (hello.limits ?? {}) as Partial<HelloResult['limits']>;
    const inFlightMax = limitOr(limits.inFlightMax, IN_FLIGHT_MAX);
    this.windowMax = Math.max(1, Math.min(this.inFlightOption, inFlightMax));
    this.requestsPerFrameMax = limitOr(limits.requestsPerFrameMax, REQUESTS_PER_FRAME_MAX);
    this.frameBytesMax = limitOr(limits.frameBytesMax, FRAME_BYTES_MAX);
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
  private helloFailed(call: PendingCall, error: InventoryError): void {
    if (call.state === SENT || call.state === QUEUED) return;
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
    if (this.queuedCount > 0) this.flush();
    this.closeIfDrained();
  }

  private answer(id: number, kind: number, body: unknown): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    this.calls.delete(id);
    if (call.state === ABANDONED) {
      call.state = DONE;
      this.abandonedCount--;
      return;
    }
    if (call.state !== SENT) return;
    call.state = DONE;
    this.sentCount--;
    this.release(call);
    if (kind === MessageKinds.OK) call.resolve(body);
    else if (call.internal) this.helloRefused(errorFromBody(body));
    else call.reject(errorFromBody(body));
  }

  private helloRefused(error: InventoryError): void {
    this.failAll(error.code, error.message);
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
    if (this.opening !== undefined) {
      this.failAll(this.connectFailureCode(), this.connectFailureMessage());
      return;
    }
    if (isFatalUpgradeStatus(this.upgradeStatus)) {
      this.failAll(this.connectFailureCode(), this.connectFailureMessage());
      return;
    }
    this.requeueAfterLoss();
    this.lostConnection = true;
    this.tell((listener) => listener.connectionLost());
    this.scheduleReconnect();
  }

  private connectFailureCode(): ErrorCode {
    if (this.upgradeStatus === 401) return 'UNAUTHORIZED';
    if (this.upgradeStatus === 403) return 'FORBIDDEN';
    return 'CONNECT_FAILED';
  }

  private connectFailureMessage(): string {
    if (this.upgradeStatus !== 0) {
      return `the node refused the WebSocket upgrade with HTTP ${this.upgradeStatus}`;
    }
    const cause = this.lastSocketError;
    return `cannot connect to ${this.url}${cause === undefined ? '' : `: ${String(cause)}`}`;
  }

  /**
   * After a lost connection: resend-safe sent calls go back to the queue, ahead of calls that
   * never left; other sent calls fail with ConnectionLostError.
   */
  private requeueAfterLoss(): void {
    const resend: PendingCall[] = [];
    const canResend = this.policy.retries > 0;
    for (const call of this.calls.values()) {
      if (call.state === ABANDONED || (call.internal && call.state !== DONE)) {
        call.state = DONE;
        this.release(call);
        this.calls.delete(call.id);
      } else if (call.state === SENT) {
        if (canResend && OP_RESEND_SAFE[call.op]) {
          call.state = QUEUED;
          resend.push(call);
        } else {
          call.state = DONE;
          this.release(call);
          this.calls.delete(call.id);
          call.reject(
            new ConnectionLostError(
              `connection lost with ${call.op} unanswered; not safe to send again`,
              OP_MUTATES[call.op],
            ),
          );
        }
      }
    }
    for (let index = this.queueHead; index < this.queue.length; index++) {
      if (this.queue[index].state === QUEUED && !this.queue[index].internal) {
        resend.push(this.queue[index]);
      }
    }
    this.queue = resend;
    this.queueHead = 0;
    this.queuedCount = resend.length;
    this.sentCount = 0;
    this.abandonedCount = 0;
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

  /** Fails every pending call with `code` and closes the client for good. */
  private failAll(code: ErrorCode, message: string): void {
    const wasOpening = this.opening;
    this.opening = undefined;
    this.state = 'closed';
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    for (const call of this.calls.values()) {
      const pending = call.state === QUEUED || call.state === SENT;
      call.state = DONE;
      this.release(call);
      if (!pending || call.internal) continue;
      const maybeApplied = call.wasSent && OP_MUTATES[call.op];
      call.reject(
        code === 'CONNECTION_LOST'
          ? new ConnectionLostError(message, maybeApplied)
          : new InventoryError(code, message, { maybeApplied }),
      );
    }
    this.calls.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queuedCount = 0;
    this.sentCount = 0;
    this.abandonedCount = 0;
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

  private closeIfDrained(): void {
    if (this.state !== 'closing' || this.queuedCount > 0 || this.sentCount > 0) return;
    const socket = this.socket;
    this.socket = undefined;
    this.socketOpen = false;
    this.state = 'closed';
    this.calls.clear();
    if (socket === undefined) {
      this.closed?.();
      return;
    }
    socket.once('close', () => this.closed?.());
    socket.close(CloseCodes.NORMAL, 'client closed');
  }
}
