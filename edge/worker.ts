/**
 * A worker thread of the edge node: one uWS app serving HTTP and WebSocket on the node's port
 * (every worker listens on the same port; the kernel spreads connections across them), with
 * its own engine attached to the shared stock and order memory and its own end of the log.
 *
 * Lifecycle, driven by the main thread (thread-messages.ts): attach → 'attached'; 'listen' →
 * 'listening' | 'listen-failed'; 'catalogue' records applied in order and acknowledged;
 * 'keys' → serve the new key set, close the connections of removed keys, 'keys-applied';
 * 'drain' → stop accepting, finish in-flight requests, 'drained'; 'close' → close every
 * connection and the app, then the thread exits by itself.
 *
 * Subscriptions: the engine reports every change this thread makes to a ChangeCollector; every
 * SUBSCRIPTION_TICK_MS the worker publishes the changed cells to the other threads, then lets
 * its SubscriptionHub push to its own subscribers what changed anywhere in the node.
 *
 * With TLS configured the app is an SSLApp over the files the main thread checked, so HTTP
 * and WebSocket are https:// and wss:// on the same port.
 *
 * Invariants: the listen socket and every WebSocket are closed before the thread ends (Node
 * aborts a worker that exits with uWS sockets open); nothing here exits the process; the
 * thread never sees a key, only digests.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { AVAILABILITY_SKUS_MAX, Engine, type EngineShared } from '../engine/index.js';
import {
  type ErrorBody,
  type Op,
  validateArgs,
  WIRE_LIMITS,
  WireCodec,
} from '../protocol/index.js';
import { BatchRunner } from './batch.js';
import { ConnectionLimits } from './connection-limits.js';
import { UpsertForwarder } from './catalogue-sync.js';
import { CatalogueView } from './catalogue-view.js';
import { ChangeCollector, FeedChannel, type FeedMessage } from './change-feed.js';
import {
  CHANGED_CELLS_PER_BATCH_MAX,
  CONGESTION_CHECK_INTERVAL_MS,
  METRICS_COLLECT_MS_MAX,
  METRICS_REQUESTS_PENDING_MAX,
  SUBSCRIPTION_TICK_MS,
} from './constants.js';
import { errorOf } from './errors.js';
import { HttpServer, type MetricsEndpoint, type Readiness } from './http-server.js';
import { type KeyTable, KeyRing } from './keys.js';
import { createLogger, type Logger } from './logger.js';
import { ThreadMetrics } from './metrics.js';
import { WorkerGauges, WorkerTotals } from './node-metrics.js';
import type { OperationContext } from './operations.js';
import { ORDER_EVENT_TYPES, OrderEventReader } from './order-event-ring.js';
import { SubscriptionHub } from './subscriptions.js';
import {
  type MainToWorker,
  STATE_READY,
  STATE_SHUTTING_DOWN,
  STATE_WORKERS_LISTENING,
  type WorkerInit,
  type WorkerToMain,
} from './thread-messages.js';
import { KeyRateLimiter, SharedKeyBuckets } from './rate-limiter.js';
import type { TlsOptions } from './tls.js';
import { requireNativeUws, type UwsModule } from './uws.js';
import { LogReader, ownThreadId } from '../wal/index.js';
import { OwnershipCheck } from './ownership-check.js';
import { attachThreadLog, type ThreadLog } from './wal-port.js';
import { type ArgsCheck, WsServer } from './ws-server.js';

/** Time between a WebSocket's close frame and forcing the app closed, at shutdown. */
const CLOSE_GRACE_MS = 250;
/** How often a draining worker checks whether its in-flight requests have finished. */
const DRAIN_POLL_MS = 5;
/** Extra wait over the main thread's collection deadline before a scrape gives up. */
const METRICS_ANSWER_GRACE_MS = 1_000;

type RenderedMetrics = { ok: true; text: string } | { ok: false; error: ErrorBody };

/** This worker's /metrics scrapes waiting on the main thread. */
class MetricsRequests {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (rendered: RenderedMetrics) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly post: (message: WorkerToMain) => void) {}

  request(): Promise<RenderedMetrics> {
    if (this.waiting.size >= METRICS_REQUESTS_PENDING_MAX) {
      return Promise.resolve({ ok: false, error: errorOf('TOO_MANY_IN_FLIGHT') });
    }
    const requestId = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        resolve({ ok: false, error: errorOf('TIMEOUT', 'the metrics were not collected in time') });
      }, METRICS_COLLECT_MS_MAX + METRICS_ANSWER_GRACE_MS);
      // A scrape in flight never holds a closing thread open.
      timer.unref();
      this.waiting.set(requestId, { resolve, timer });
      this.post({ type: 'metrics-request', requestId });
    });
  }

  settle(requestId: number, text: string | null): void {
    const entry = this.waiting.get(requestId);
    if (entry === undefined) return;
    this.waiting.delete(requestId);
    clearTimeout(entry.timer);
    entry.resolve(text === null ? { ok: false, error: errorOf('INTERNAL') } : { ok: true, text });
  }

  get pending(): number {
    return this.waiting.size;
  }
}

class EdgeWorker {
  private readonly state: Int32Array;
  private readonly log: ThreadLog;
  /** A cluster node's region ownership (NOT_OWNER refusals); null standalone. */
  private readonly ownership: OwnershipCheck | null;
  private readonly engine: Engine;
  private readonly forwarder: UpsertForwarder;
  private readonly ws: WsServer;
  private readonly http: HttpServer;
  private readonly app: TemplatedApp;
  private readonly view: CatalogueView;
  private readonly collector: ChangeCollector;
  private readonly feed: FeedChannel;
  private readonly hub: SubscriptionHub;
  private readonly metrics: ThreadMetrics | null;
  private readonly metricsRequests: MetricsRequests;
  private readonly keys: KeyRing;
  private readonly keyLimits: KeyRateLimiter;
  private readonly tickTimer: NodeJS.Timeout;
  private listenSocket: us_listen_socket | null = null;
  private congestionTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly init: WorkerInit,
    private readonly uws: UwsModule,
    private readonly logger: Logger,
    private readonly post: (message: WorkerToMain) => void,
  ) {
    this.state = new Int32Array(init.state);
    this.log = attachThreadLog(init.logShared as SharedArrayBuffer);
    this.ownership = init.cluster === null ? null : new OwnershipCheck(init.cluster);
    this.engine = Engine.attach(init.engineShared as EngineShared, { log: this.log.shared });
    const config = this.engine.config;
    this.view = new CatalogueView(config.dcCapacity, config.skuCapacity);
    for (const record of init.catalogue) {
      this.engine.applyCatalogue(record);
      this.view.apply(record);
    }
    this.collector = new ChangeCollector(config.skuCapacity, CHANGED_CELLS_PER_BATCH_MAX, () =>
      this.publishCells(),
    );
    this.engine.setObserver(this.collector);
    this.feed = new FeedChannel(init.feedChannel, (message) => this.onFeed(message));
    this.metrics = init.metrics ? new ThreadMetrics(init.index) : null;
    this.metricsRequests = new MetricsRequests(post);
    this.forwarder = new UpsertForwarder(post);
    const limits = {
      linesPerOrderMax: this.engine.config.linesPerOrderMax,
      skusPerRequestMax: AVAILABILITY_SKUS_MAX,
    };
    const context: OperationContext = {
      engine: this.engine,
      log: this.ownership?.guard(this.log) ?? this.log,
      ownership: this.ownership,
      forwardUpsert: this.forwarder.forward,
      clock: Date.now,
      nodeName: init.nodeName,
      limits: { ...WIRE_LIMITS, ...limits },
      shuttingDown: () => Atomics.load(this.state, STATE_SHUTTING_DOWN) === 1,
      batch: new BatchRunner(this.engine),
      ticket: 0,
      invariantBroken: (error) => this.invariantBroken(error),
      faults: init.faults,
    };
    const checkArgs: ArgsCheck = (op: Op, args) => validateArgs(op, args, limits);
    const keys = new KeyRing(init.keyTable);
    this.keys = keys;
    this.keyLimits = new KeyRateLimiter(
      new SharedKeyBuckets(init.keyBuckets),
      init.keyRateLimit,
      init.threads,
      Date.now,
    );
    this.keyLimits.configure(init.keyTable);
    this.hub = new SubscriptionHub({
      engine: this.engine,
      view: this.view,
      events: new OrderEventReader(init.orderEvents),
      openLog: () => LogReader.open(init.logDir, init.durability),
      codec: new WireCodec(),
      publish: (topic, frame) => {
        this.app.publish(topic, frame, true, false);
      },
      clock: Date.now,
      maxMinutesDefault: config.maxMinutesDefault,
      bufferBytesMax: init.subscriberBufferBytesMax,
    });
    const metricsEndpoint: MetricsEndpoint | null = init.metrics
      ? { open: init.metricsOpen, render: () => this.metricsRequests.request() }
      : null;
    this.ws = new WsServer({
      keys,
      context,
      codec: new WireCodec(),
      checkArgs,
      rateLimit: init.rateLimit,
      clock: Date.now,
      logger,
      acceptingConnections: () => Atomics.load(this.state, STATE_SHUTTING_DOWN) === 0,
      subscriptions: this.hub,
      metrics: this.metrics,
      connections: new ConnectionLimits(init.connectionCounts, init.connectionCaps),
      keyLimits: this.keyLimits,
    });
    this.http = new HttpServer({
      keys,
      context,
      limits,
      logger,
      readiness: () => this.readiness(),
      metrics: this.metrics,
      metricsEndpoint,
      keyLimits: this.keyLimits,
    });
    this.app = createApp(uws, init.tls);
    this.ws.register(this.app);
    this.http.register(this.app);
    this.tickTimer = setInterval(() => this.tick(), SUBSCRIPTION_TICK_MS);
  }

  /** Sends this thread's changed cells to the other threads and to its own subscribers. */
  private publishCells(): void {
    const cells = this.collector.cells;
    if (cells.count === 0) return;
    const changed = cells.copy();
    cells.clear();
    this.feed.post({ type: 'cells', from: this.init.index, cells: changed });
    this.hub.cellsChanged(changed);
  }

  private tick(): void {
    try {
      this.publishCells();
      this.hub.tick(Date.now());
    } catch (error) {
      // A bug in the push path must not take the thread's requests down with it.
      this.logger.error('subscription tick failed', { error });
    }
  }

  private onFeed(message: FeedMessage): void {
    if (message.type === 'cells') this.hub.cellsChanged(message.cells);
    else this.hub.alertsReceived(message.alerts);
  }

  private metricsReport(collectId: number): void {
    if (this.metrics === null) return;
    const stats = this.hub.stats;
    const totals: Record<string, number> = {
      [WorkerTotals.pushes]: stats.pushes,
      [WorkerTotals.pushesSkipped]: stats.pushesSkipped,
      [WorkerTotals.subscribersCutOff]: stats.subscribersCutOff,
      [WorkerTotals.eventsReplayed]: stats.eventsReplayed,
      [WorkerTotals.connectionsOpened]: this.ws.connectionsOpened,
    };
    for (let index = 0; index < ORDER_EVENT_TYPES.length; index++) {
      totals[`events.${ORDER_EVENT_TYPES[index]}`] = this.collector.eventCounts[index];
    }
    const gauges: Record<string, number> = {
      [WorkerGauges.connections]: this.ws.connectionCount,
      [WorkerGauges.availability]: stats.availability,
      [WorkerGauges.lowStock]: stats.lowStock,
      [WorkerGauges.orders]: stats.orders,
    };
    const report = this.metrics.report(totals, gauges);
    this.post({ type: 'metrics-report', collectId, report });
  }

  /**
   * Stops this thread answering at once and tells the main thread, which stops the node: after
   * a broken invariant the shared state cannot be trusted, and the log is the truth to
   * recover from.
   */
  private invariantBroken(error: unknown): void {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.logger.error('invariant broken: stopping the node; a restart recovers from the log', {
      error: message,
    });
    this.post({ type: 'invariant', message });
  }

  private readiness(): Readiness {
    const detail = {
      workersListening: Atomics.load(this.state, STATE_WORKERS_LISTENING),
      workers: this.init.threads,
      durability: this.init.durability,
    };
    if (Atomics.load(this.state, STATE_SHUTTING_DOWN) === 1) {
      return { ready: false, code: 'SHUTTING_DOWN', detail };
    }
    // A cluster standby is ready: it serves reads, and answers writes with NOT_OWNER.
    const serving = this.ownership?.serving() ?? false;
    if (!this.log.writable() && !serving) return { ready: false, code: 'READ_ONLY', detail };
    const ready =
      Atomics.load(this.state, STATE_READY) === 1 && detail.workersListening === detail.workers;
    return ready ? { ready: true, detail } : { ready: false, code: 'NOT_READY', detail };
  }

  handle(message: MainToWorker): void {
    switch (message.type) {
      case 'listen':
        this.listen(message.port);
        return;
      case 'catalogue':
        this.engine.applyCatalogue(message.record);
        this.view.apply(message.record);
        this.hub.catalogueUpdated();
        this.post({ type: 'catalogue-ack', sequence: message.sequence });
        return;
      case 'keys':
        this.keysChanged(message.table);
        return;
      case 'metrics-collect':
        this.metricsReport(message.collectId);
        return;
      case 'metrics-text':
        this.metricsRequests.settle(message.requestId, message.text);
        return;
      case 'cluster-owner':
        this.ownership?.setOwner(message.owner);
        return;
      case 'upsert-result':
        this.forwarder.settle(message.requestId, message.outcome);
        return;
      case 'drain':
        this.drain(message.deadlineMs);
        return;
      case 'close':
        this.close();
        return;
    }
  }

  /** Serves a reloaded key set: removed keys stop working now, their connections close. */
  private keysChanged(table: KeyTable): void {
    this.keys.load(table);
    this.keyLimits.configure(table);
    const closed = this.ws.keysChanged();
    if (closed > 0) this.logger.info('closed connections of removed keys', { closed });
    this.post({ type: 'keys-applied', generation: table.generation, closed });
  }

  private listen(port: number): void {
    this.app.listen(this.init.host, port, (socket) => {
      if (socket === false) {
        this.post({ type: 'listen-failed', port });
        return;
      }
      this.listenSocket = socket;
      this.congestionTimer = setInterval(
        () => this.ws.checkCongestion(Date.now()),
        CONGESTION_CHECK_INTERVAL_MS,
      );
      this.post({ type: 'listening', port: this.uws.us_socket_local_port(socket as never) });
    });
  }

  private stopListening(): void {
    if (this.listenSocket !== null) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  private unanswered(): number {
    return this.ws.unanswered + this.http.unanswered + this.forwarder.pending;
  }

  /** Stops accepting connections and reports once every accepted request is answered. */
  private drain(deadlineMs: number): void {
    this.stopListening();
    const check = (): void => {
      const unanswered = this.unanswered();
      if (unanswered === 0 || Date.now() >= deadlineMs) {
        this.post({ type: 'drained', unanswered });
        return;
      }
      setTimeout(check, DRAIN_POLL_MS);
    };
    check();
  }

  /** Closes every connection, then the app; the thread then ends with an empty event loop. */
  private close(): void {
    this.stopListening();
    if (this.congestionTimer !== null) clearInterval(this.congestionTimer);
    clearInterval(this.tickTimer);
    this.feed.close();
    this.ws.closeAll();
    this.hub.close().catch(() => undefined);
    setTimeout(() => {
      // Closes whatever is left: idle HTTP keep-alive sockets, WebSockets whose peer did not
      // answer the close frame. The JavaScript fallback has no app.close.
      const app = this.app as TemplatedApp & { close?: () => void };
      app.close?.();
      parentPort?.close();
    }, CLOSE_GRACE_MS);
  }
}

/**
 * The thread's uWS app: an SSLApp over the checked files with TLS, a plain App otherwise.
 * Every SSLApp option is given (uWS reads the files itself, once, here).
 */
function createApp(uws: UwsModule, tls: TlsOptions | null): TemplatedApp {
  if (tls === null) return uws.App();
  return uws.SSLApp({
    cert_file_name: tls.certFile,
    key_file_name: tls.keyFile,
    // An empty passphrase is what an unencrypted key needs: OpenSSL never asks for it.
    passphrase: tls.passphrase ?? '',
    ssl_prefer_low_memory_usage: false,
  });
}

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('edge/worker.js must run as a worker thread');
  const init = workerData as WorkerInit;
  const logger = createLogger({
    level: init.logLevel,
    clock: Date.now,
    fields: { thread: `worker-${init.index}` },
  });
  const post = (message: WorkerToMain) => port.postMessage(message);
  try {
    const { uws } = requireNativeUws(init.allowJsFallback);
    const worker = new EdgeWorker(init, uws, logger, post);
    port.on('message', (message: MainToWorker) => {
      try {
        worker.handle(message);
      } catch (error) {
        logger.error('worker message failed', { type: message.type, error });
        post({ type: 'fatal', message: String(error) });
      }
    });
    post({ type: 'attached', threadId: ownThreadId() });
  } catch (error) {
    post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
    port.close();
  }
}

main();
