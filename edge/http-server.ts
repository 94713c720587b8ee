/**
 * The HTTP JSON API of one worker thread: routes, authentication, bodies read under a size
 * limit, and answers. Each route maps to one protocol op (http-mapping.ts), so HTTP and the
 * WebSocket protocol run the same checks and the same operation code.
 *
 * Invariants:
 * - Every response that is not sent inside the route callback has an `onAborted` handler
 *   registered first, and is written inside `res.cork` only if not aborted.
 * - A body is never buffered past HTTP_BODY_BYTES_MAX: a larger Content-Length is refused
 *   before reading, and a stream that grows past the limit is answered 413 and its connection
 *   closed while still arriving.
 * - Body chunks lent by uWS are copied before the callback returns.
 * - Requests waiting on the log per thread are bounded (HTTP_IN_FLIGHT_MAX), refused with 429.
 * - With metrics on, every answer of a route is counted under its op with its latency from the
 *   route callback to the answer. `/metrics` answers what the main thread renders (it merges
 *   every thread); it needs a key of any role unless the node runs with `--metrics-open`.
 */

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { ErrorBody } from '../protocol/codes.js';
import { HTTP_BODY_BYTES_MAX } from '../protocol/limits.js';
import { parseJsonBody } from '../protocol/json.js';
import type { Op } from '../protocol/messages.js';
import type { ValidationLimits } from '../protocol/validate.js';
import { HTTP_IN_FLIGHT_MAX, HTTP_QUERY_BYTES_MAX } from './constants.js';
import { errorOf, httpStatusOf, statusLine } from './errors.js';
import { type HttpRoute, httpResultOf, ROUTES, type RouteInput } from './http-mapping.js';
import type { KeyIdentity, KeyRing } from './keys.js';
import type { Logger } from './logger.js';
import { type ThreadMetrics, TRANSPORT_HTTP } from './metrics.js';
import { type OperationContext, type Outcome, refusalOf, runOperation } from './operations.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus-text.js';

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
}

/** Per-request state that outlives the route callback. */
interface Pending {
  aborted: boolean;
  done: boolean;
  /** Where, under which op, and since when the answer is counted (null: not counted). */
  metrics: ThreadMetrics | null;
  op: Op | null;
  startMs: number;
}

export class HttpServer {
  private inFlight = 0;
  private readonly metrics: ThreadMetrics | null;

  constructor(private readonly options: HttpServerOptions) {
    this.metrics = options.metrics ?? null;
  }

  get unanswered(): number {
    return this.inFlight;
  }

  register(app: TemplatedApp): void {
    app.get('/healthz', (res) => send(res, 200, { status: 'ok' }));
    app.get('/readyz', (res) => this.readyz(res));
    app.get('/metrics', (res, req) => this.scrape(res, req));
    for (const route of ROUTES) {
      const handler = (res: HttpResponse, req: HttpRequest) => this.route(route, res, req);
      if (route.method === 'get') app.get(route.pattern, handler);
      else if (route.method === 'post') app.post(route.pattern, handler);
      else app.put(route.pattern, handler);
    }
    app.any('/*', (res, req) => {
      const message = `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`;
      sendError(res, errorOf('NOT_FOUND', message));
    });
  }

  private readyz(res: HttpResponse): void {
    const readiness = this.options.readiness();
    if (readiness.ready) {
      send(res, 200, { ready: true, ...readiness.detail });
      return;
    }
    const error = errorOf(readiness.code ?? 'NOT_READY', undefined, readiness.detail);
    send(res, 503, { error });
  }

  private scrape(res: HttpResponse, req: HttpRequest): void {
    const endpoint = this.options.metricsEndpoint ?? null;
    if (endpoint === null) {
      sendError(res, errorOf('NOT_FOUND', 'metrics are off (the node runs with --no-metrics)'));
      return;
    }
    if (!endpoint.open && this.options.keys.identify(req.getHeader('authorization')) === null) {
      sendError(res, errorOf('UNAUTHORIZED'));
      return;
    }
    const pending: Pending = {
      aborted: false,
      done: false,
      metrics: null,
      op: null,
      startMs: 0,
    };
    res.onAborted(() => {
      pending.aborted = true;
    });
    endpoint.render().then(
      (rendered) => {
        if (!rendered.ok) {
          finishError(res, pending, rendered.error);
          return;
        }
        if (pending.aborted || pending.done) return;
        pending.done = true;
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('content-type', PROMETHEUS_CONTENT_TYPE);
          res.end(rendered.text);
        });
      },
      () => finishError(res, pending, errorOf('INTERNAL')),
    );
  }

  private route(route: HttpRoute, res: HttpResponse, req: HttpRequest): void {
    const startMs = this.metrics === null ? 0 : this.metrics.now();
    // `req` is valid only during this callback: everything needed is read now.
    const authorization = req.getHeader('authorization');
    const query = req.getQuery() ?? '';
    const params = route.params.map((_, index) => req.getParameter(index));
    const contentLength = req.getHeader('content-length');
    const identity = this.options.keys.identify(authorization);
    if (identity === null) {
      this.refuseNow(res, route.op, errorOf('UNAUTHORIZED'), startMs);
      return;
    }
    if (query.length > HTTP_QUERY_BYTES_MAX) {
      this.refuseNow(
        res,
        route.op,
        errorOf('BAD_REQUEST', 'the query string is too long'),
        startMs,
      );
      return;
    }
    const input: RouteInput = { query, params, body: undefined };
    if (!route.hasBody) {
      this.run(route, input, identity, res, null, startMs);
      return;
    }
    if (contentLength !== '' && !(Number(contentLength) <= HTTP_BODY_BYTES_MAX)) {
      this.refuseNow(res, route.op, errorOf('BODY_TOO_LARGE', bodyLimitText()), startMs, true);
      return;
    }
    const pending: Pending = {
      aborted: false,
      done: false,
      metrics: this.metrics,
      op: route.op,
      startMs,
    };
    res.onAborted(() => {
      pending.aborted = true;
    });
    readBody(res, pending, (body) => {
      if (body === null) return;
      const parsed = parseJsonBody(body, HTTP_BODY_BYTES_MAX);
      if (!parsed.ok) {
        finishError(res, pending, parsed.error);
        return;
      }
      input.body = parsed.value;
      this.run(route, input, identity, res, pending, startMs);
    });
  }

  /** An error answered inside the route callback, before the op ran. */
  private refuseNow(
    res: HttpResponse,
    op: Op,
    error: ErrorBody,
    startMs: number,
    close = false,
  ): void {
    sendError(res, error, close);
    this.metrics?.observe(op, TRANSPORT_HTTP, error.code, startMs);
  }

  /**
   * Maps the route to an op, checks and runs it, and answers. `pending` is null when called
   * synchronously from a GET callback (no abort handler yet: one is added only if needed).
   */
  private run(
    route: HttpRoute,
    input: RouteInput,
    identity: KeyIdentity,
    res: HttpResponse,
    pending: Pending | null,
    startMs: number,
  ): void {
    const state = pending ?? {
      aborted: false,
      done: false,
      metrics: this.metrics,
      op: route.op,
      startMs,
    };
    const op = route.op;
    const refusal = refusalOf(this.options.context, op, identity);
    if (refusal !== null) {
      finishError(res, state, refusal);
      return;
    }
    const checked = route.toArgs(input, this.options.limits);
    if (!checked.ok) {
      finishError(res, state, checked.error);
      return;
    }
    if (this.inFlight >= HTTP_IN_FLIGHT_MAX) {
      finishError(res, state, errorOf('TOO_MANY_IN_FLIGHT'));
      return;
    }
    const outcome = runOperation(this.options.context, op, checked.args, identity);
    if (!(outcome instanceof Promise)) {
      finishOutcome(res, state, op, outcome);
      return;
    }
    if (pending === null) {
      res.onAborted(() => {
        state.aborted = true;
      });
    }
    this.inFlight++;
    outcome.then(
      (settled) => {
        this.inFlight--;
        finishOutcome(res, state, op, settled);
      },
      (error: unknown) => {
        this.inFlight--;
        this.options.logger.error('operation failed', { op, error });
        finishError(res, state, errorOf('INTERNAL'));
      },
    );
  }
}

function bodyLimitText(): string {
  return `the request body exceeds ${HTTP_BODY_BYTES_MAX} bytes`;
}

/**
 * Collects the body, copying each lent chunk. Calls `done(null)` after answering 413 itself
 * when the body grows past the limit (the connection is closed, so the rest is not read).
 */
function readBody(res: HttpResponse, pending: Pending, done: (body: Buffer | null) => void) {
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    if (pending.done || pending.aborted) return;
    size += chunk.byteLength;
    if (size > HTTP_BODY_BYTES_MAX) {
      chunks.length = 0;
      finishError(res, pending, errorOf('BODY_TOO_LARGE', bodyLimitText()), true);
      done(null);
      return;
    }
    // Copy: uWS neuters the chunk's ArrayBuffer when this callback returns.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
}

function finishOutcome(res: HttpResponse, pending: Pending, op: Op, outcome: Outcome): void {
  if (!outcome.ok) {
    finishError(res, pending, outcome.error);
    return;
  }
  const { status, body } = httpResultOf(op, outcome.value);
  finish(res, pending, status, body, false, null);
}

function finishError(res: HttpResponse, pending: Pending, error: ErrorBody, close = false) {
  finish(res, pending, httpStatusOf(error.code), { error }, close, error.code);
}

function finish(
  res: HttpResponse,
  pending: Pending,
  status: number,
  body: unknown,
  close: boolean,
  code: string | null,
): void {
  if (pending.aborted || pending.done) return;
  pending.done = true;
  res.cork(() => write(res, status, body, close));
  if (pending.op !== null)
    pending.metrics?.observe(pending.op, TRANSPORT_HTTP, code, pending.startMs);
}

function write(res: HttpResponse, status: number, body: unknown, close: boolean): void {
  res
    .writeStatus(statusLine(status))
    .writeHeader('content-type', 'application/json')
    .end(JSON.stringify(body), close);
}

/** Answers synchronously inside a route callback (uWS corks the callback already). */
function send(res: HttpResponse, status: number, body: unknown): void {
  write(res, status, body, false);
}

function sendError(res: HttpResponse, error: ErrorBody, close = false): void {
  write(res, httpStatusOf(error.code), { error }, close);
}
