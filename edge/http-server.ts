/**
 * The HTTP JSON API of one worker thread: routes, authentication, bodies read under a size
 * limit, and answers. Each route maps to one protocol op (http-mapping.ts), so HTTP and the
 * WebSocket protocol run the same checks and the same operation code.
 *
 * Invariants:
 * - Every uWS callback answers before it returns or registers `onAborted` first, on every path:
 *   refusals and limits answer at once; a request that reads a body or waits for the log
 *   registers it before returning; an answer the socket cannot take whole registers it and
 *   streams the rest as the socket drains (http-answer.ts); a callback that throws (a bug)
 *   answers 500 INTERNAL, or closes the connection when an answer is no longer possible.
 * - Every answer is written inside `res.cork` (CorkedAnswers), in or out of a uWS callback;
 *   one written after its callback returned only if the request was not aborted.
 * - A body is never buffered past HTTP_BODY_BYTES_MAX. A larger one is answered 413 at once (on
 *   its Content-Length, or when the stream passes the limit); the rest is then read and
 *   discarded, within HTTP_LINGER_BYTES_MAX and HTTP_LINGER_MS_MAX, so that a client still
 *   sending reads the 413 instead of a connection reset. Past a limit the connection is closed.
 * - Body chunks lent by uWS are copied before the callback returns.
 * - Requests waiting on the log per thread are bounded (HTTP_IN_FLIGHT_MAX), refused with 429;
 *   connections lingering on a refused body by HTTP_LINGERING_MAX.
 * - A path some route answers, asked with another method, gets 405 METHOD_NOT_ALLOWED with an
 *   `Allow` header; any other path gets 404 NOT_FOUND.
 * - A route's request takes one token from its key's bucket (shared by every thread of the node)
 *   right after the key is known; without one it is answered 429 RATE_LIMITED at once, with
 *   a `Retry-After` header (whole seconds) and `retryAfterMs` in the body, its body unread.
 * - With metrics on, every answer of a route is counted under its op with its latency from the
 *   route callback to the answer. `/metrics` answers what the main thread renders (it merges
 *   every thread); it needs a key of any role unless the node runs with `--metrics-open`.
 *
 * Cost: a route answered synchronously (the reads) allocates no closure and no state object of
 * its own: the callback reads the request, runs the op and writes the answer before returning;
 * availability answers are written as bytes by AvailabilityJsonWriter (http-json.ts).
 */

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import {
  type AvailabilityArgs,
  type AvailabilityColumns,
  type ErrorBody,
  HTTP_BODY_BYTES_MAX,
  OP_MUTATES,
  type Op,
  parseJsonBody,
  type ValidationLimits,
} from '../protocol/index.js';
import { HTTP_IN_FLIGHT_MAX, HTTP_QUERY_BYTES_MAX } from './constants.js';
import { errorOf, httpStatusOf, statusLine } from './errors.js';
import {
  CorkedAnswers,
  endStreamedRefusal,
  JSON_CONTENT_TYPE,
  startStreamedRefusal,
} from './http-answer.js';
import { AvailabilityJsonWriter, availabilityColumnsBody } from './http-json.js';
import {
  HTTP_ANSWER_BUFFER_BYTES,
  HTTP_LINGER_BYTES_MAX,
  HTTP_LINGER_MS_MAX,
  HTTP_LINGERING_MAX,
} from './http-limits.js';
import {
  type HttpRoute,
  httpBodyOf,
  httpStatusOfResult,
  type MethodPattern,
  type PathMethods,
  pathMethodsOf,
  ROUTES,
} from './http-mapping.js';
import type { KeyIdentity, KeyRing } from './keys.js';
import type { Logger } from './logger.js';
import { type ThreadMetrics, TRANSPORT_HTTP } from './metrics.js';
import { type OperationContext, type Outcome, refusalOf, runOperation } from './operations.js';
import { AckFence } from './ownership-check.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus-text.js';
import type { KeyRateLimiter } from './rate-limiter.js';

export interface Readiness {
  ready: boolean;
  /** Why not ready, as an error code (NOT_READY, READ_ONLY, SHUTTING_DOWN). */
  code?: 'NOT_READY' | 'READ_ONLY' | 'SHUTTING_DOWN';
  detail: Record<string, unknown>;
}

/** How `/metrics` is served; absent when the node runs with `--no-metrics`. */
export interface MetricsEndpoint {
  /** True: scrapes need no key. False: a key of any role. */
  open: boolean;
  /** The node's metrics text, or an error body (the main thread did not answer in time). */
  render(): Promise<{ ok: true; text: string } | { ok: false; error: ErrorBody }>;
}

export interface HttpServerOptions {
  keys: KeyRing;
  context: OperationContext;
  limits: Readonly<ValidationLimits>;
  logger: Logger;
  readiness(): Readiness;
  metrics?: ThreadMetrics | null;
  metricsEndpoint?: MetricsEndpoint | null;
  /** The per-key request rate, shared by the node's threads; absent: no per-key limit. */
  keyLimits?: KeyRateLimiter | null;
}

/** The paths served besides the routes of the table; all GET. */
const OPERATIONS_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

/** Bodies that never vary, serialized once. */
const HEALTHY_TEXT = JSON.stringify({ status: 'ok' });
const UNAUTHORIZED_TEXT = errorText(errorOf('UNAUTHORIZED'));
const QUERY_TOO_LONG_TEXT = errorText(errorOf('BAD_REQUEST', 'the query string is too long'));
const BODY_TOO_LARGE_TEXT = errorText(
  errorOf('BODY_TOO_LARGE', `the request body exceeds ${HTTP_BODY_BYTES_MAX} bytes`),
);
const TOO_MANY_IN_FLIGHT_TEXT = errorText(errorOf('TOO_MANY_IN_FLIGHT'));
const INTERNAL_TEXT = errorText(errorOf('INTERNAL'));
const METRICS_OFF_TEXT = errorText(
  errorOf('NOT_FOUND', 'metrics are off (the node runs with --no-metrics)'),
);

/** The path parameters of a route that has none: shared, never written. */
const NO_PARAMS: readonly string[] = Object.freeze([]);

function errorText(error: ErrorBody): string {
  return JSON.stringify({ error });
}

export class HttpServer {
  private inFlight = 0;
  private lingeringCount = 0;
  private readonly metrics: ThreadMetrics | null;
  private readonly keyLimits: KeyRateLimiter | null;
  private readonly keys: KeyRing;
  private readonly context: OperationContext;
  private readonly limits: Readonly<ValidationLimits>;
  /** Availability answers are written into its buffer, borrowed until the next one. */
  private readonly availabilityJson = new AvailabilityJsonWriter(HTTP_ANSWER_BUFFER_BYTES);
  /** Every answer is written through it, corked. */
  readonly answers = new CorkedAnswers();
  readonly logger: Logger;
  /** The last check before an acknowledgement is written, on a cluster node. */
  readonly fence: AckFence | null;

  constructor(private readonly options: HttpServerOptions) {
    this.metrics = options.metrics ?? null;
    this.keyLimits = options.keyLimits ?? null;
    this.keys = options.keys;
    this.context = options.context;
    this.limits = options.limits;
    this.logger = options.logger;
    this.fence = AckFence.of(options.context.ownership, options.logger);
  }

  /** Requests accepted and not answered yet (waiting on the log or the main thread). */
  get unanswered(): number {
    return this.inFlight;
  }

  register(app: TemplatedApp): void {
    app.get(
      '/healthz',
      this.guard((res) => this.healthz(res)),
    );
    app.get(
      '/readyz',
      this.guard((res) => this.readyz(res)),
    );
    app.get(
      '/metrics',
      this.guard((res, req) => this.scrape(res, req)),
    );
    for (const route of ROUTES) {
      const handler = this.guard((res, req) => this.serve(route, res, req));
      if (route.method === 'get') app.get(route.pattern, handler);
      else if (route.method === 'post') app.post(route.pattern, handler);
      else app.put(route.pattern, handler);
    }
    // uWS tries a method's own handlers before these (`any` has the lowest priority).
    const answered: MethodPattern[] = ROUTES.map(({ method, pattern }) => ({ method, pattern }));
    for (const pattern of OPERATIONS_PATHS) answered.push({ method: 'get', pattern });
    for (const path of pathMethodsOf(answered)) {
      app.any(
        path.pattern,
        this.guard((res, req) => this.methodNotAllowed(path, res, req)),
      );
    }
    app.any(
      '/*',
      this.guard((res, req) => this.notFound(res, req)),
    );
  }

  /**
   * Wraps a uWS callback so that a throw (a bug: nothing here throws for a client's input)
   * still answers, instead of returning to uWS with the request unanswered.
   */
  private guard(
    handler: (res: HttpResponse, req: HttpRequest) => void,
  ): (res: HttpResponse, req: HttpRequest) => void {
    return (res, req) => {
      try {
        handler(res, req);
      } catch (error) {
        this.failed(res, error);
      }
    };
  }

  /**
   * Answers 500 after a throw, or closes the connection when the answer was already begun (a
   * second status line would garble it).
   */
  failed(res: HttpResponse, error: unknown, answerBegun = false): void {
    this.logger.error('HTTP handler failed', { error });
    try {
      if (answerBegun) res.close();
      else this.answers.write(res, 500, JSON_CONTENT_TYPE, INTERNAL_TEXT);
    } catch {
      // The response was answered or aborted already (uWS refuses any use of it then), or
      // writing failed half-way: closing is all that is left, and may itself be refused.
      try {
        res.close();
      } catch {
        // Nothing is left to release.
      }
    }
  }

  private healthz(res: HttpResponse): void {
    this.answers.write(res, 200, JSON_CONTENT_TYPE, HEALTHY_TEXT);
  }

  private notFound(res: HttpResponse, req: HttpRequest): void {
    const message = `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`;
    this.answers.write(res, 404, JSON_CONTENT_TYPE, errorText(errorOf('NOT_FOUND', message)));
  }

  private methodNotAllowed(path: PathMethods, res: HttpResponse, req: HttpRequest): void {
    const method = req.getMethod();
    if (path.answeredElsewhere.has(method)) {
      // Another route answers this URL with this method (GET /v1/orders/check is getOrder).
      req.setYield(true);
      return;
    }
    const url = req.getUrl();
    const message = `${method.toUpperCase()} is not allowed on ${url}; allowed: ${path.allow}`;
    const error = errorOf('METHOD_NOT_ALLOWED', message, { allow: path.allowed });
    this.answers.write(res, 405, JSON_CONTENT_TYPE, errorText(error), path.allow);
  }

  private readyz(res: HttpResponse): void {
    const readiness = this.options.readiness();
    if (readiness.ready) {
      const text = JSON.stringify({ ready: true, ...readiness.detail });
      this.answers.write(res, 200, JSON_CONTENT_TYPE, text);
      return;
    }
    const error = errorOf(readiness.code ?? 'NOT_READY', undefined, readiness.detail);
    this.answers.write(res, 503, JSON_CONTENT_TYPE, errorText(error));
  }

  private scrape(res: HttpResponse, req: HttpRequest): void {
    const endpoint = this.options.metricsEndpoint ?? null;
    if (endpoint === null) {
      this.answers.write(res, 404, JSON_CONTENT_TYPE, METRICS_OFF_TEXT);
      return;
    }
    if (!endpoint.open && this.keys.identify(req.getHeader('authorization')) === null) {
      this.answers.write(res, 401, JSON_CONTENT_TYPE, UNAUTHORIZED_TEXT);
      return;
    }
    const scrape = new PendingAnswer(this, res, null, 0);
    res.onAborted(scrape.onAborted);
    endpoint.render().then(
      (rendered) => {
        if (rendered.ok) scrape.answer(200, PROMETHEUS_CONTENT_TYPE, rendered.text, null);
        else scrape.answerError(rendered.error);
      },
      (error: unknown) => {
        this.logger.error('metrics rendering failed', { error });
        scrape.answerError(errorOf('INTERNAL'));
      },
    );
  }

  /** A route callback: reads what the request carries, then runs the op or reads the body. */
  private serve(route: HttpRoute, res: HttpResponse, req: HttpRequest): void {
    const startMs = this.metrics === null ? 0 : this.metrics.now();
    // `req` is valid only during this callback: everything needed is read now.
    const identity = this.keys.identify(req.getHeader('authorization'));
    if (identity === null) {
      this.refuseNow(res, route.op, 401, UNAUTHORIZED_TEXT, 'UNAUTHORIZED', startMs);
      return;
    }
    const waitMs = this.keyLimits === null ? 0 : this.keyLimits.take(identity.index, 1);
    if (waitMs !== 0) {
      writeRateLimited(res, waitMs);
      this.metrics?.observe(route.op, TRANSPORT_HTTP, 'RATE_LIMITED', startMs);
      return;
    }
    const query = req.getQuery() ?? '';
    if (query.length > HTTP_QUERY_BYTES_MAX) {
      this.refuseNow(res, route.op, 400, QUERY_TOO_LONG_TEXT, 'BAD_REQUEST', startMs);
      return;
    }
    const params = route.params.length === 0 ? NO_PARAMS : readParams(req, route.params.length);
    if (!route.hasBody) {
      this.execute(route, query, params, undefined, identity, res, null, startMs);
      return;
    }
    const contentLength = req.getHeader('content-length');
    const request = new BodyRequest(this, res, route, identity, query, params, startMs);
    res.onAborted(request.onAborted);
    res.onData(request.onData);
    // Refused on the header alone, before any of the body is read.
    if (contentLength !== '' && !(Number(contentLength) <= HTTP_BODY_BYTES_MAX)) {
      request.refuseBody();
    }
  }

  /** An error answered inside the route callback, before the op ran. */
  private refuseNow(
    res: HttpResponse,
    op: Op,
    status: number,
    text: string,
    code: string,
    startMs: number,
  ): void {
    this.answers.write(res, status, JSON_CONTENT_TYPE, text);
    this.metrics?.observe(op, TRANSPORT_HTTP, code, startMs);
  }

  /**
   * Checks and runs the route's op, and answers. `pending` is null when called from a route
   * callback (no abort handler yet: one is registered only if the op does not settle at once);
   * otherwise it is the request that read the body, and the socket is corked by its callback.
   */
  execute(
    route: HttpRoute,
    query: string,
    params: readonly string[],
    body: unknown,
    identity: KeyIdentity,
    res: HttpResponse,
    pending: PendingAnswer | null,
    startMs: number,
  ): void {
    const op = route.op;
    const refusal = refusalOf(this.context, op, identity);
    if (refusal !== null) {
      this.refuse(res, pending, op, refusal, startMs);
      return;
    }
    const checked = route.toArgs(query, params, body, this.limits);
    if (!checked.ok) {
      this.refuse(res, pending, op, checked.error, startMs);
      return;
    }
    if (this.inFlight >= HTTP_IN_FLIGHT_MAX) {
      pending?.settle();
      this.refuseNow(res, op, 429, TOO_MANY_IN_FLIGHT_TEXT, 'TOO_MANY_IN_FLIGHT', startMs);
      return;
    }
    if (op === 'availability') {
      pending?.settle();
      const args = checked.args as AvailabilityArgs;
      this.answerAvailability(res, args, checked.form === 'columns', identity, startMs);
      return;
    }
    const outcome = runOperation(this.context, op, checked.args, identity);
    if (!(outcome instanceof Promise)) {
      pending?.settle();
      this.answerOutcomeNow(res, op, outcome, startMs);
      return;
    }
    let waiting = pending;
    if (waiting === null) {
      waiting = new PendingAnswer(this, res, op, startMs);
      res.onAborted(waiting.onAborted);
    }
    this.inFlight++;
    waiting.enterFlight();
    outcome.then(waiting.onOutcome, waiting.onFailure);
  }

  /** Called once per request that went in flight, when its op settled. */
  settled(): void {
    this.inFlight--;
  }

  /** Whether one more connection may linger on a refused body; counts it if so. */
  startLingering(): boolean {
    if (this.lingeringCount >= HTTP_LINGERING_MAX) return false;
    this.lingeringCount++;
    return true;
  }

  stopLingering(): void {
    this.lingeringCount--;
  }

  /** Counts an answer under its op, when metrics are on. */
  observe(op: Op, code: string | null, startMs: number): void {
    this.metrics?.observe(op, TRANSPORT_HTTP, code, startMs);
  }

  /** Refuses with an error body from inside a uWS callback (the socket is corked). */
  refuse(
    res: HttpResponse,
    pending: PendingAnswer | null,
    op: Op,
    error: ErrorBody,
    startMs: number,
  ): void {
    pending?.settle();
    this.refuseNow(res, op, httpStatusOf(error.code), errorText(error), error.code, startMs);
  }

  /**
   * Availability, the read served at volume: run as protocol v2 runs it (typed columns, no
   * object per SKU or DC) and written as JSON straight from the columns. Where the v1 answer
   * object would order or merge keys differently (see AvailabilityJsonWriter.columns), the
   * query runs again on the object path, so every answer is exactly the v1 JSON. With
   * `columns` (`form=columns`), the answer is those columns as JSON arrays.
   */
  private answerAvailability(
    res: HttpResponse,
    args: AvailabilityArgs,
    columns: boolean,
    identity: KeyIdentity,
    startMs: number,
  ): void {
    const outcome = runOperation(this.context, 'availability', args, identity, 2);
    if (outcome instanceof Promise) throw new Error('availability settles at once');
    if (outcome.ok) {
      const answer = outcome.value as AvailabilityColumns;
      const json = columns
        ? (this.availabilityJson.columnsForm(answer, args.skus.length) ??
          JSON.stringify(availabilityColumnsBody(answer, args.skus.length)))
        : this.availabilityJson.columns(answer, args.skus);
      if (json !== null) {
        this.answers.write(res, 200, JSON_CONTENT_TYPE, json);
        this.metrics?.observe('availability', TRANSPORT_HTTP, null, startMs);
        return;
      }
      const object = runOperation(this.context, 'availability', args, identity, 1);
      if (object instanceof Promise) throw new Error('availability settles at once');
      this.answerOutcomeNow(res, 'availability', object, startMs);
      return;
    }
    this.answerOutcomeNow(res, 'availability', outcome, startMs);
  }

  /** Answers a settled outcome from inside a uWS callback (the socket is corked). */
  private answerOutcomeNow(res: HttpResponse, op: Op, outcome: Outcome, startMs: number): void {
    if (!outcome.ok) {
      this.refuse(res, null, op, outcome.error, startMs);
      return;
    }
    // Serialized before anything is written, so a throw here still allows a 500 answer.
    const body = httpBodyOf(op, outcome.value);
    // The borrowed bytes are written (or copied, under back-pressure) before the next answer.
    const json =
      (op === 'availability' ? this.availabilityJson.availability(body) : null) ??
      JSON.stringify(body);
    this.answers.write(res, httpStatusOfResult(op, outcome.value), JSON_CONTENT_TYPE, json);
    this.metrics?.observe(op, TRANSPORT_HTTP, null, startMs);
  }
}

/** An answer still streaming when its client went away holds nothing else to release. */
function refusalAborted(): void {}

/**
 * Answers 429 RATE_LIMITED with `Retry-After` (seconds, rounded up) inside a route callback.
 * As `writeAnswer` (http-answer.ts) does, the body goes through `tryEnd`, and a body the socket
 * cannot take now is finished from `onWritable`, with an abort handler registered first.
 */
function writeRateLimited(res: HttpResponse, retryAfterMs: number): void {
  const error = errorOf('RATE_LIMITED', `too many requests: retry after ${retryAfterMs} ms`, {
    retryAfterMs,
  });
  const body = Buffer.from(errorText(error), 'utf8');
  const seconds = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  res.cork(() => {
    res
      .writeStatus(statusLine(429))
      .writeHeader('content-type', JSON_CONTENT_TYPE)
      .writeHeader('retry-after', seconds);
    if (res.tryEnd(body, 0)[1]) return;
    res.onAborted(refusalAborted);
    res.onWritable((offset) => res.tryEnd(body.subarray(offset), body.length)[0]);
  });
}

function readParams(req: HttpRequest, count: number): string[] {
  const params: string[] = [];
  for (let index = 0; index < count; index++) params.push(req.getParameter(index));
  return params;
}

/**
 * A request answered after its uWS callback returned: it waits for the log or the main thread.
 * Its handlers are made once, with it.
 */
class PendingAnswer {
  aborted = false;
  /** Answered or refused: nothing more may be written by this object. */
  done = false;
  /** True while its op is counted in the server's in-flight requests. */
  private waiting = false;

  constructor(
    protected readonly server: HttpServer,
    protected readonly res: HttpResponse,
    /** The op the answer is counted under (null: not counted, e.g. `/metrics`). */
    protected readonly op: Op | null,
    protected readonly startMs: number,
  ) {}

  readonly onAborted = (): void => {
    this.aborted = true;
    this.released();
  };

  readonly onOutcome = (outcome: Outcome): void => {
    this.leaveFlight();
    if (!outcome.ok) {
      this.answerError(outcome.error);
      return;
    }
    try {
      const op = this.op!;
      const text = JSON.stringify(httpBodyOf(op, outcome.value));
      // A change made durable: on a cluster node, ownership is read again as the last step
      // before the acknowledgement is written (a primary paused past its lease must not send
      // it); see AckFence.
      const fence = OP_MUTATES[op] ? this.server.fence : null;
      const refusal = fence === null ? null : fence.refusal();
      if (refusal !== null) {
        this.answerError(refusal);
        return;
      }
      this.write(httpStatusOfResult(op, outcome.value), JSON_CONTENT_TYPE, text, null);
      fence?.written(1);
    } catch (error) {
      this.failed(error);
    }
  };

  readonly onFailure = (error: unknown): void => {
    this.leaveFlight();
    this.server.logger.error('operation failed', { op: this.op, error });
    this.answerError(errorOf('INTERNAL'));
  };

  /** Marks the request as answered by its caller, inside a uWS callback. */
  settle(): void {
    this.done = true;
  }

  /** Counts this request among the server's in-flight ones until its op settles. */
  enterFlight(): void {
    this.waiting = true;
  }

  answerError(error: ErrorBody): void {
    this.answer(httpStatusOf(error.code), JSON_CONTENT_TYPE, errorText(error), error.code);
  }

  answer(status: number, contentType: string, text: string, code: string | null): void {
    try {
      this.write(status, contentType, text, code);
    } catch (error) {
      this.failed(error);
    }
  }

  /** Called once the connection is gone; subclasses release what they hold. */
  protected released(): void {}

  private leaveFlight(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.server.settled();
  }

  private write(status: number, contentType: string, text: string, code: string | null): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.server.answers.write(this.res, status, contentType, text);
    if (this.op !== null) this.server.observe(this.op, code, this.startMs);
  }

  protected failed(error: unknown): void {
    if (this.aborted) return;
    const answerBegun = this.done;
    this.done = true;
    this.released();
    this.server.failed(this.res, error, answerBegun);
  }
}

/**
 * A request with a body (POST, PUT): collects it under HTTP_BODY_BYTES_MAX, then runs its op.
 * A body over the limit is refused with 413 at once and its rest discarded while it arrives
 * (lingering), so that the client reads the refusal; the connection is closed when the rest
 * passes HTTP_LINGER_BYTES_MAX or takes longer than HTTP_LINGER_MS_MAX.
 */
class BodyRequest extends PendingAnswer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Reading and discarding the rest of a refused body. */
  private lingering = false;
  private discarded = 0;
  private lingerTimer: NodeJS.Timeout | null = null;

  constructor(
    server: HttpServer,
    res: HttpResponse,
    private readonly route: HttpRoute,
    private readonly identity: KeyIdentity,
    private readonly query: string,
    private readonly params: readonly string[],
    startMs: number,
  ) {
    super(server, res, route.op, startMs);
  }

  readonly onData = (chunk: ArrayBuffer, isLast: boolean): void => {
    try {
      if (this.lingering) this.discard(chunk.byteLength, isLast);
      else if (!this.done && !this.aborted) this.collect(chunk, isLast);
    } catch (error) {
      this.failed(error);
    }
  };

  /**
   * Answers 413 now and lingers on the rest of the body; or, with HTTP_LINGERING_MAX
   * connections lingering already, answers and closes the connection at once.
   */
  refuseBody(): void {
    this.done = true;
    this.chunks = [];
    const res = this.res;
    this.server.observe(this.route.op, 'BODY_TOO_LARGE', this.startMs);
    if (!this.server.startLingering()) {
      // `end` closes the connection once the answer is out; `onAborted` is registered, so even
      // an answer uWS could not write whole leaves nothing pending unhandled.
      res.cork(() => {
        res.writeStatus(statusLine(413)).writeHeader('content-type', JSON_CONTENT_TYPE);
        res.end(BODY_TOO_LARGE_TEXT, true);
      });
      return;
    }
    this.lingering = true;
    res.cork(() => startStreamedRefusal(res, 413, BODY_TOO_LARGE_TEXT));
    this.lingerTimer = setTimeout(this.onLingerTimeout, HTTP_LINGER_MS_MAX);
    // A refusal never keeps a closing thread alive: closing the app aborts the connection.
    this.lingerTimer.unref();
  }

  protected override released(): void {
    this.stopLingering();
  }

  private collect(chunk: ArrayBuffer, isLast: boolean): void {
    this.size += chunk.byteLength;
    if (this.size > HTTP_BODY_BYTES_MAX) {
      this.refuseBody();
      if (isLast && this.lingering) this.endLingering();
      return;
    }
    // Copy: uWS neuters the chunk's ArrayBuffer when this callback returns.
    this.chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    const chunks = this.chunks;
    this.chunks = [];
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
    const parsed = parseJsonBody(body, HTTP_BODY_BYTES_MAX);
    if (!parsed.ok) {
      this.server.refuse(this.res, this, this.route.op, parsed.error, this.startMs);
      return;
    }
    const route = this.route;
    this.server.execute(
      route,
      this.query,
      this.params,
      parsed.value,
      this.identity,
      this.res,
      this,
      this.startMs,
    );
  }

  private discard(bytes: number, isLast: boolean): void {
    this.discarded += bytes;
    if (isLast) {
      this.endLingering();
      return;
    }
    if (this.discarded > HTTP_LINGER_BYTES_MAX) {
      this.stopLingering();
      // Runs `onAborted` at once; the client has the 413 already, only not its last chunk.
      this.res.close();
    }
  }

  /** The whole refused body was read: the refusal ends normally. */
  private endLingering(): void {
    this.stopLingering();
    endStreamedRefusal(this.res);
  }

  private readonly onLingerTimeout = (): void => {
    if (!this.lingering) return;
    this.stopLingering();
    try {
      this.res.close();
    } catch (error) {
      this.server.logger.error('closing a lingering connection failed', { error });
    }
  };

  private stopLingering(): void {
    if (!this.lingering) return;
    this.lingering = false;
    if (this.lingerTimer !== null) clearTimeout(this.lingerTimer);
    this.lingerTimer = null;
    this.server.stopLingering();
  }
}
