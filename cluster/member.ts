/**
 * A node's membership of its region: it opens the log as a follower, matches it to the
 * region's stream (reconcile.ts), recovers its engine from it, follows the stream as a
 * standby (follower.ts), and takes the region over when the lease lapses:
 *
 *   1. claim the lease (`create` on the owners bucket, epoch = highest epoch seen + 1);
 *   2. apply the stream to its end;
 *   3. publish an epoch marker that expects the last message applied (sequence and id); if
 *      refused (the old primary's last publish landed meanwhile), catch up again and retry;
 *   4. write what was applied to the local log, raise the writer session past the stream's,
 *      start the writer with a replication queue and the shipper (shipper.ts) after the marker;
 *   5. only then accept writes (ownership.ts), expire overdue holds, seed a fresh region.
 *
 * A primary renews its lease (lease.ts); a renewal refused, a deadline passed, or a publish
 * the stream refuses (shipper.ts) deposes it: writes stop at once, waiters are rejected
 * (READ_ONLY, never acknowledged), and the host exits with EXIT_DEPOSED so a supervisor
 * restarts it, as a standby.
 *
 * Invariants: the writer never runs while the follower appends; the node accepts writes only
 * between step 5 and its deposition or shutdown; a clean shutdown releases the lease after
 * the shipper drained, so a standby takes over without waiting for the TTL.
 */

import { randomUUID } from 'node:crypto';
import type { KvWatchEntry } from '@nats-io/kv';
import { headers } from '@nats-io/transport-node';
import { Engine, type EngineConfig, type LogRecord } from '../engine/index.js';
import {
  ExitCodes,
  LOG_KIND_EPOCH,
  logStreamName,
  logSubject,
  type RegionDefinition,
  type RegionOwner,
  retrying,
  WATCH_RETRY,
} from '../protocol/index.js';
import {
  createReplicationBuffer,
  describeWalError,
  type DurabilityPolicy,
  LogRing,
  markFailed,
  openWal,
  type ReplicationMode,
  ReplicationQueue,
  WRITER_BATCH_BYTES_MAX,
  type Wal,
  type WalErrorBody,
  type WalLogger,
} from '../wal/index.js';
import {
  EXIT_DEPOSED,
  LOG_MESSAGE_OVERHEAD_BYTES,
  STANDBY_POLL_DIVISOR,
  STANDBY_POLL_MS_MIN,
  TAKEOVER_ATTEMPTS_MAX,
} from './constants.js';
import { Follower, type FollowerPosition, type FollowerStats } from './follower.js';
import { type ClusterConnection, connectCluster, ensureLogStream } from './jetstream.js';
import { decodeOwner, isRefusal, Lease } from './lease.js';
import { encodeMarker, logMessageId, writeHead } from './log-message.js';
import { createOwnershipBuffer, OwnershipGate, type RoleName } from './ownership.js';
import { reconcileWithStream } from './reconcile.js';
import { regionDefinition, sameDcs } from './region.js';
import { Shipper, type ShipperStats, type StreamPosition } from './shipper.js';

/** sysexits EX_DATAERR: the stream and this node's log cannot be followed any further. */
const EXIT_DATA_ERROR = ExitCodes.DATA_ERROR;
/** The primary rewrites its region's definition this often when its DCs changed. */
const REGION_PUBLISH_MS = 10_000;
/** A clean shutdown waits this long for the stream to acknowledge what was committed. */
const SHIP_DRAIN_MS_MAX = 5_000;
/**
 * A takeover waits at most this long for the follower to apply the stream's tail; a standby
 * that lags further (or whose follower stopped) gives the region up and restarts.
 */
const CATCH_UP_MS_MAX = 30_000;
/** Pause between two takeover attempts that found the stream moving. */
const TAKEOVER_RETRY_MS = 50;

export interface MemberOptions {
  region: string;
  /** Display name written into the region's definition. */
  regionName: string;
  servers: string[];
  replication: ReplicationMode;
  /** TTL of the owners bucket if this node creates it (an existing bucket's TTL wins). */
  leaseMs: number;
  nodeId?: string;
  logDir: string;
  policy: DurabilityPolicy;
  engineConfig: (stored: EngineConfig | null) => EngineConfig;
  clock: () => number;
  logger: WalLogger;
}

/** What the node hosting the member provides. */
export interface MemberHost {
  /** This node's WebSocket URL and HTTP base URL, as clients reach them. */
  url: string;
  httpUrl: string;
  /** A record applied from the stream while standby (the edge forwards catalogue records). */
  onRecord(record: LogRecord): void;
  /** The region's owner changed (null: none holds the lease). */
  onOwner(owner: RegionOwner | null): void;
  /** This node cannot serve writes any more: close and exit with `exitCode`. */
  onDeposed(reason: string, exitCode: number): void;
  /** Loads a fresh region's opening data (the demo network), after a first takeover. */
  seed(): Promise<void>;
}

export interface MemberStats {
  region: string;
  nodeId: string;
  role: RoleName;
  epoch: number;
  owner: RegionOwner | null;
  replication: ReplicationMode;
  follower: FollowerStats | null;
  shipper: ShipperStats | null;
  /** Milliseconds left before this primary stops accepting writes (0 when not primary). */
  leaseRemainingMs: number;
  takeovers: number;
  /** Milliseconds the last takeover took, from the lapse seen to writes accepted. */
  takeoverMsLast: number;
}

export class ClusterMember {
  readonly gate: OwnershipGate;
  readonly nodeId: string;
  private host: MemberHost | null = null;
  private follower: Follower | null = null;
  private shipper: Shipper | null = null;
  private lease: Lease | null = null;
  private queue: ReplicationQueue | null = null;
  private owner: RegionOwner | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private regionTimer: NodeJS.Timeout | null = null;
  private watch: { stop(): void } | null = null;
  private taking = false;
  private closing = false;
  private deposed = false;
  private takeovers = 0;
  private takeoverMsLast = 0;
  private published: RegionDefinition | null = null;
  /** First LSN this node's writer wrote (0 before a takeover). */
  private writerFrom = 0;

  private constructor(
    private readonly options: MemberOptions,
    private readonly connection: ClusterConnection,
    readonly wal: Wal,
    readonly engine: Engine,
    private readonly startPosition: FollowerPosition,
  ) {
    this.gate = new OwnershipGate(createOwnershipBuffer());
    this.nodeId = options.nodeId ?? randomUUID();
  }

  /** Connects, opens and matches the log to the stream, and recovers the engine from it. */
  static async open(options: MemberOptions): Promise<ClusterMember> {
    const connection = await connectCluster({
      servers: options.servers,
      name: `inventory ${options.region}`,
      leaseMs: options.leaseMs,
    });
    let wal: Wal | null = null;
    try {
      await ensureLogStream(connection, options.region);
      const batchBytes = connection.payloadBytesMax - LOG_MESSAGE_OVERHEAD_BYTES;
      const opened = await openWal({
        dataDir: options.logDir,
        engineConfig: options.engineConfig,
        policy: options.policy,
        writerBatchBytesMax: Math.min(WRITER_BATCH_BYTES_MAX, batchBytes),
        follower: true,
        clock: options.clock,
        randomId: randomUUID,
        logger: options.logger,
      });
      if (!opened.ok) throw new MemberOpenError(opened.error);
      wal = opened.value;
      const matched = await reconcileWithStream(
        wal,
        connection.jsm,
        options.region,
        options.logger,
      );
      const engine = Engine.create(wal.engineConfig, { clock: options.clock, log: wal.log });
      const recovered = wal.recoverFollower(engine);
      if (!recovered.ok) {
        throw new MemberOpenError(recovered.error);
      }
      const lsn = recovered.value.lastLsn;
      const session = lsn === 0 ? 0 : (wal.readStored(lsn)?.readUInt16LE(2) ?? 0);
      const start: FollowerPosition = {
        seq: matched.resumeSeq - 1,
        msgId: matched.lastMsgId,
        lsn,
        session,
        epoch: matched.epoch,
      };
      options.logger.log('info', 'cluster member opened', {
        region: options.region,
        replication: options.replication,
        leaseMs: connection.leaseMs,
        replicas: connection.replicas,
        ...start,
        truncated: matched.truncated,
      });
      return new ClusterMember(options, connection, wal, engine, start);
    } catch (error) {
      await wal?.close();
      await connection.close();
      throw error;
    }
  }

  get leaseMs(): number {
    return this.connection.leaseMs;
  }

  get role(): RoleName {
    return this.gate.roleName();
  }

  /** Starts following the stream, watching the owner, and taking over when it lapses. */
  async begin(host: MemberHost): Promise<void> {
    this.host = host;
    this.follower = new Follower({
      connection: this.connection,
      region: this.options.region,
      wal: this.wal,
      engine: this.engine,
      start: this.startPosition,
      logger: this.options.logger,
      onRecord: (record) => host.onRecord(record),
      onFatal: (reason) => this.depose(`following the stream: ${reason}`, EXIT_DATA_ERROR),
    });
    this.follower.start();
    await this.watchOwner();
    const every = Math.max(STANDBY_POLL_MS_MIN, this.leaseMs / STANDBY_POLL_DIVISOR);
    this.pollTimer = setInterval(() => void this.poll(), every);
    void this.poll();
  }

  /**
   * Watches the region's owner key. Creating the watch is a JetStream API request, which times
   * out while the NATS cluster is slow to answer (a leader election, a loaded machine): retried
   * a few times, then the error stands, as a member that cannot reach the cluster must not start.
   */
  private async watchOwner(): Promise<void> {
    const region = this.options.region;
    const watch = await retrying(() => this.connection.owners.watch({ key: region }), {
      ...WATCH_RETRY,
      stopped: () => this.closing,
      onRetry: (error, attempt) =>
        this.options.logger.log('warn', 'could not watch the region owner; retrying', {
          region,
          attempt,
          error: String(error),
        }),
    });
    this.watch = watch;
    void (async () => {
      for await (const entry of watch as AsyncIterable<KvWatchEntry>) {
        const owner = entry.operation === 'PUT' ? decodeOwner(entry.value) : null;
        this.setOwner(owner);
      }
    })().catch(() => undefined);
  }

  private setOwner(owner: RegionOwner | null): void {
    this.owner = owner;
    this.host?.onOwner(owner);
  }

  /** A standby looks whether the lease lapsed; if so it tries to take the region over. */
  private async poll(): Promise<void> {
    if (this.taking || this.closing || this.deposed || this.gate.roleName() !== 'standby') return;
    let free: boolean;
    try {
      const entry = await this.connection.owners.get(this.options.region);
      free = entry === null || entry.operation !== 'PUT';
    } catch {
      return;
    }
    if (!free) return;
    if (this.owner !== null) this.setOwner(null);
    this.taking = true;
    const started = performance.now();
    try {
      if (await this.takeover()) {
        this.takeovers++;
        this.takeoverMsLast = Math.round(performance.now() - started);
        this.options.logger.log('info', 'took the region over', {
          region: this.options.region,
          epoch: this.gate.epoch(),
          takeoverMs: this.takeoverMsLast,
        });
      }
    } catch (error) {
      this.depose(`the takeover failed: ${String(error)}`, EXIT_DEPOSED);
    } finally {
      this.taking = false;
    }
  }

  /** Steps 1–5 of the header; false when another node claimed the region first. */
  private async takeover(): Promise<boolean> {
    const host = this.host!;
    const follower = this.follower!;
    const epoch = follower.position.epoch + 1;
    const owner: RegionOwner = {
      region: this.options.region,
      nodeId: this.nodeId,
      url: host.url,
      httpUrl: host.httpUrl,
      epoch,
      claimedAt: this.options.clock(),
    };
    const lease = await Lease.claim({
      kv: this.connection.owners,
      owner,
      leaseMs: this.leaseMs,
      gate: this.gate,
      onLost: (reason) => this.depose(`lost the lease: ${reason}`, EXIT_DEPOSED),
    });
    if (lease === null) return false;
    this.lease = lease;
    lease.start();
    const marker = await this.publishMarker(owner);
    await follower.stop();
    const fresh = follower.position.lsn === 0;
    const buffer = createReplicationBuffer(this.options.replication);
    const started = await this.wal.startWriting({
      sessionAtLeast: follower.position.session,
      replicationBuffer: buffer,
    });
    if (!started.ok) throw new Error(`${started.error.code}: ${started.error.message}`);
    this.queue = new ReplicationQueue(buffer);
    this.writerFrom = started.value;
    this.shipper = new Shipper({
      js: this.connection.js,
      region: this.options.region,
      epoch,
      wal: this.wal,
      ring: new LogRing(this.wal.ringBuffer),
      queue: this.queue,
      nextLsn: started.value,
      after: marker,
      messageBytesMax: this.connection.payloadBytesMax - LOG_MESSAGE_OVERHEAD_BYTES,
      onDeposed: (reason) => this.depose(`the stream refused this node: ${reason}`, EXIT_DEPOSED),
    });
    this.shipper.start();
    this.gate.becomePrimary(epoch);
    this.setOwner(owner);
    this.engine.expireDue();
    if (fresh) await host.seed();
    await this.publishRegion();
    this.regionTimer = setInterval(() => void this.publishRegion(), REGION_PUBLISH_MS);
    return true;
  }

  /** Catches up with the stream and publishes the epoch marker after its last message. */
  private async publishMarker(owner: RegionOwner): Promise<StreamPosition> {
    const follower = this.follower!;
    const subject = logSubject(this.options.region);
    for (let attempt = 1; attempt <= TAKEOVER_ATTEMPTS_MAX; attempt++) {
      if (this.deposed) throw new Error('deposed during the takeover');
      const info = await this.connection.jsm.streams.info(logStreamName(this.options.region));
      await this.caughtUp(info.state.last_seq);
      const position = follower.position;
      const head = headers();
      const firstLsn = position.lsn + 1;
      writeHead(head, {
        region: this.options.region,
        epoch: owner.epoch,
        kind: LOG_KIND_EPOCH,
        firstLsn,
        records: 0,
      });
      const msgId = logMessageId({
        region: this.options.region,
        epoch: owner.epoch,
        kind: LOG_KIND_EPOCH,
        firstLsn,
      });
      const expect: { lastSequence: number; lastMsgID?: string } = { lastSequence: position.seq };
      if (position.msgId !== '') expect.lastMsgID = position.msgId;
      const payload = encodeMarker({
        nodeId: owner.nodeId,
        url: owner.url,
        epoch: owner.epoch,
        lastLsn: position.lsn,
        lastSession: position.session,
      });
      try {
        const ack = await this.connection.js.publish(subject, payload, {
          msgID: msgId,
          headers: head,
          expect,
        });
        await this.caughtUp(ack.seq);
        return { seq: ack.seq, msgId };
      } catch (error) {
        if (!isRefusal(error)) throw error;
        // A message landed after the one we applied: apply it too, then try again.
        await new Promise((done) => setTimeout(done, TAKEOVER_RETRY_MS));
      }
    }
    throw new Error(`the stream kept moving: no marker after ${TAKEOVER_ATTEMPTS_MAX} attempts`);
  }

  /** Waits for the follower to apply `seq`, bounded: a follower that stopped never will. */
  private caughtUp(seq: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, fail) => {
      timer = setTimeout(
        () => fail(new Error(`the stream was not applied up to ${seq} in time`)),
        CATCH_UP_MS_MAX,
      );
    });
    return Promise.race([this.follower!.caughtUp(seq), limit]).finally(() => clearTimeout(timer));
  }

  /** Writes the region's definition (its DCs and area) when it changed. */
  private async publishRegion(): Promise<void> {
    if (this.gate.roleName() !== 'primary') return;
    const definition = regionDefinition(
      this.options.region,
      this.options.regionName,
      this.engine.catalogueRecords(),
      this.options.clock(),
    );
    if (sameDcs(this.published, definition)) return;
    try {
      await this.connection.regions.put(this.options.region, JSON.stringify(definition));
      this.published = definition;
    } catch (error) {
      this.options.logger.log('warn', 'could not publish the region definition', {
        error: String(error),
      });
    }
  }

  /** Writes stop now and for good; the host closes the node and exits with `exitCode`. */
  private depose(reason: string, exitCode: number): void {
    if (this.deposed || this.closing) return;
    this.deposed = true;
    this.gate.depose();
    markFailed(new LogRing(this.wal.ringBuffer), 'WRITER_FENCED');
    this.lease?.stop();
    this.options.logger.log('error', 'stopped accepting writes: this node is deposed', {
      region: this.options.region,
      epoch: this.gate.epoch(),
      reason,
      exitCode,
    });
    this.host?.onDeposed(reason, exitCode);
  }

  /** LSN of the last record this node holds durably: the follower's, or the writer's. */
  durableLsn(): number {
    if (this.queue === null) return this.follower?.position.lsn ?? this.startPosition.lsn;
    return Math.max(this.wal.log.durableLsn(), this.writerFrom - 1);
  }

  /** Sequence the stream acknowledged and the local log holds: the snapshots' limit. */
  snapshotLsn(): number {
    if (this.queue !== null) return this.queue.shippedLsn();
    return 0;
  }

  stats(): MemberStats {
    const deadline = this.gate.deadlineNs();
    const remaining = Number(deadline - process.hrtime.bigint()) / 1e6;
    return {
      region: this.options.region,
      nodeId: this.nodeId,
      role: this.gate.roleName(),
      epoch: this.gate.epoch(),
      owner: this.owner,
      replication: this.options.replication,
      follower: this.shipper === null ? (this.follower?.stats() ?? null) : null,
      shipper: this.shipper?.current() ?? null,
      leaseRemainingMs: this.gate.roleName() === 'primary' ? Math.max(0, remaining) : 0,
      takeovers: this.takeovers,
      takeoverMsLast: this.takeoverMsLast,
    };
  }

  /**
   * Stops: a primary drains its writer and shipper, then gives the lease up; a standby writes
   * what it applied. Then the log and the connection close.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.regionTimer !== null) clearInterval(this.regionTimer);
    this.watch?.stop();
    while (this.taking) await new Promise((done) => setTimeout(done, TAKEOVER_RETRY_MS));
    await this.wal.stopWriter();
    await this.shipper?.stop(this.deposed ? 0 : SHIP_DRAIN_MS_MAX);
    if (!this.deposed) await this.lease?.release();
    this.lease?.stop();
    await this.follower?.stop();
    await this.wal.close();
    await this.connection.close();
  }
}

/**
 * The data directory refused the node at start: carries the log's code (DATA_DIR_LOCKED,
 * CONFIG_TOO_SMALL, ...) and exit status, as a node alone reports them.
 */
export class MemberOpenError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(error: WalErrorBody) {
    super(describeWalError(error));
    this.code = error.code;
    this.exitCode = error.exitCode;
  }
}
