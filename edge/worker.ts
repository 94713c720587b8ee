/**
 * A worker thread of the edge node: one uWS app serving HTTP and WebSocket on the node's port
 * (every worker listens on the same port; the kernel spreads connections across them), with
 * its own engine attached to the shared stock and order memory and its own end of the log.
 *
 * Lifecycle, driven by the main thread (thread-messages.ts): attach → 'attached'; 'listen' →
 * 'listening' | 'listen-failed'; 'catalogue' records applied in order and acknowledged;
 * 'drain' → stop accepting, finish in-flight requests, 'drained'; 'close' → close every
 * connection and the app, then the thread exits by itself.
 *
 * Invariants: the listen socket and every WebSocket are closed before the thread ends (Node
 * aborts a worker that exits with uWS sockets open); nothing here exits the process.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { AVAILABILITY_SKUS_MAX } from '../engine/constants.js';
import { Engine, type EngineShared } from '../engine/index.js';
import { WireCodec } from '../protocol/codec.js';
import { WIRE_LIMITS } from '../protocol/limits.js';
import type { Op } from '../protocol/messages.js';
import { validateArgs } from '../protocol/validate.js';
import { UpsertForwarder } from './catalogue-sync.js';
import { CONGESTION_CHECK_INTERVAL_MS } from './constants.js';
import { HttpServer, type Readiness } from './http-server.js';
import { KeyRing } from './keys.js';
import { createLogger, type Logger } from './logger.js';
import type { OperationContext } from './operations.js';
import {
  type MainToWorker,
  STATE_READY,
  STATE_SHUTTING_DOWN,
  STATE_WORKERS_LISTENING,
  type WorkerInit,
  type WorkerToMain,
} from './thread-messages.js';
import { requireNativeUws, type UwsModule } from './uws.js';
import { attachThreadLog, type ThreadLog } from './wal-port.js';
import { type ArgsCheck, WsServer } from './ws-server.js';

/** Time between a WebSocket's close frame and forcing the app closed, at shutdown. */
const CLOSE_GRACE_MS = 250;
/** How often a draining worker checks whether its in-flight requests have finished. */
const DRAIN_POLL_MS = 5;

class EdgeWorker {
  private readonly state: Int32Array;
  private readonly log: ThreadLog;
  private readonly engine: Engine;
  private readonly forwarder: UpsertForwarder;
  private readonly ws: WsServer;
  private readonly http: HttpServer;
  private readonly app: TemplatedApp;
  private listenSocket: us_listen_socket | null = null;
  private congestionTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly init: WorkerInit,
    private readonly uws: UwsModule,
    logger: Logger,
    private readonly post: (message: WorkerToMain) => void,
  ) {
    this.state = new Int32Array(init.state);
    this.log = attachThreadLog(init.logShared as SharedArrayBuffer);
    this.engine = Engine.attach(init.engineShared as EngineShared, { log: this.log.shared });
    for (const record of init.catalogue) this.engine.applyCatalogue(record);
    this.forwarder = new UpsertForwarder(post);
    const limits = {
      linesPerOrderMax: this.engine.config.linesPerOrderMax,
      skusPerRequestMax: AVAILABILITY_SKUS_MAX,
    };
    const context: OperationContext = {
      engine: this.engine,
      log: this.log,
      forwardUpsert: this.forwarder.forward,
      clock: Date.now,
      nodeName: init.nodeName,
      limits: { ...WIRE_LIMITS, ...limits },
      shuttingDown: () => Atomics.load(this.state, STATE_SHUTTING_DOWN) === 1,
    };
    const checkArgs: ArgsCheck = (op: Op, args) => validateArgs(op, args, limits);
    const keys = new KeyRing(init.keys);
    this.ws = new WsServer({
      keys,
      context,
      codec: new WireCodec(),
      checkArgs,
      rateLimit: init.rateLimit,
      clock: Date.now,
      logger,
      acceptingConnections: () => Atomics.load(this.state, STATE_SHUTTING_DOWN) === 0,
    });
    this.http = new HttpServer({
      keys,
      context,
      limits,
      logger,
      readiness: () => this.readiness(),
    });
    this.app = uws.App();
    this.ws.register(this.app);
    this.http.register(this.app);
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
    if (!this.log.writable()) return { ready: false, code: 'READ_ONLY', detail };
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
        this.post({ type: 'catalogue-ack', sequence: message.sequence });
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
    this.ws.closeAll();
    setTimeout(() => {
      // Closes whatever is left: idle HTTP keep-alive sockets, WebSockets whose peer did not
      // answer the close frame. The JavaScript fallback has no app.close.
      const app = this.app as TemplatedApp & { close?: () => void };
      app.close?.();
      parentPort?.close();
    }, CLOSE_GRACE_MS);
  }
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
    post({ type: 'attached' });
  } catch (error) {
    post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
    port.close();
  }
}

main();
