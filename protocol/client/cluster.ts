/**
 * ClusterClient: the SDK for a cluster of regions (ARCHITECTURE.md, "Cluster"). It learns each
 * region's definition and owner from the cluster's NATS JetStream KV buckets (watching them),
 * keeps one InventoryClient per region owner, sends each call to the owner of its region
 * (by location: protocol/cluster.ts `regionForLocation`; by order id: the region the order was
 * placed in; by DC: the region holding the DC), and after a failover sends again what is safe
 * to send again.
 *
 * What is resent, to the region's new owner, within the call's timeout:
 * - anything refused with NOT_OWNER naming an owner (a standby's answer: nothing changed), or
 *   that never reached a node (CONNECT_FAILED);
 * - ops of OP_RESEND_SAFE (reads, and order ops, whose order id is the idempotency key on every
 *   node of a region: a standby has the idempotency record of every order it received from the
 *   stream) after CONNECTION_LOST, READ_ONLY, NOT_OWNER from a deposed primary, or TIMEOUT.
 * Anything else (a receive whose connection died, say) fails with its error, `maybeApplied` set.
 *
 * Invariants: at most one InventoryClient per region; a client whose node stopped owning the
 * region is dropped (and closed) before its replacement is used; the order → region memory is
 * bounded (ORDER_REGIONS_MAX, oldest forgotten first); every wait is bounded by the call's
 * timeout. The NATS client is loaded only by `connect` (plain InventoryClient users never load
 * it).
 */

import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  OWNERS_BUCKET,
  REGIONS_BUCKET,
  type RegionDefinition,
  type RegionOwner,
  regionForLocation,
} from '../cluster.js';
import { setMaxListeners } from 'node:events';
import { CLIENT_QUEUE_MAX, CLIENT_TIMEOUT_MS_DEFAULT, IN_FLIGHT_MAX } from '../limits.js';
import { retrying, WATCH_RETRY } from '../retry.js';
import {
  type AdjustArgs,
  type AvailabilityArgs,
  type AvailabilityResult,
  type BasketCheckResult,
  type BrowseArgs,
  type BrowseResult,
  type ChangeOrderArgs,
  type CheckBasketArgs,
  type ConfirmArgs,
  type ExtendArgs,
  OP_RESEND_SAFE,
  type Op,
  type OrderIdArgs,
  type OrderResult,
  type PlaceOrderArgs,
  type ReceiveArgs,
  type StockKeyArgs,
  type StockResult,
} from '../messages.js';
import { InventoryClient } from './client.js';
import { InventoryError } from './errors.js';
import type { CallOptions, ConnectOptions } from './session.js';

/** Orders whose region the client remembers for confirm, cancel and the other order ops. */
export const ORDER_REGIONS_MAX = 1 << 20;
/** A call is sent to a region this many times at most (one per owner it meets). */
const ROUTE_ATTEMPTS_MAX = 16;
/** Pause before asking again when the region has no (new) owner yet. */
const OWNER_POLL_MS = 100;
/** Codes after which a call may go to the region's next owner (see the file header). */
const MOVED_CODES: ReadonlySet<string> = new Set([
  'NOT_OWNER',
  'CONNECTION_LOST',
  'CONNECT_FAILED',
  'READ_ONLY',
  'SHUTTING_DOWN',
  'TIMEOUT',
  'CLOSED',
]);

export interface ClusterConnectOptions extends Omit<ConnectOptions, 'reconnect'> {
  /** NATS servers of the cluster (`nats://host:port`), whose KV buckets name the owners. */
  nats: string | string[];
}

interface Route {
  owner: RegionOwner;
  client: Promise<InventoryClient>;
  /**
   * Aborted when the route is dropped (its node no longer owns the region): calls still
   * waiting on it (a paused node answers nothing) move on to the new owner at once.
   */
  moved: AbortController;
}

function errorCode(error: unknown): string {
  return error instanceof InventoryError ? error.code : '';
}

export class ClusterClient {
  private readonly regions = new Map<string, RegionDefinition>();
  /** `regions`' values, for routing (rebuilt when a definition changes). */
  private regionList: RegionDefinition[] = [];
  private readonly owners = new Map<string, RegionOwner>();
  private readonly routes = new Map<string, Route>();
  private readonly orderRegions = new Map<string, string>();
  private readonly dcRegions = new Map<string, string>();
  private readonly watches: { stop(): void }[] = [];
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: ClusterConnectOptions,
  ) {}

  /** Connects to the cluster's NATS servers and loads the regions and their owners. */
  static async connect(options: ClusterConnectOptions): Promise<ClusterClient> {
    const { connect } = await import('@nats-io/transport-node');
    const { Kvm } = await import('@nats-io/kv');
    const servers = Array.isArray(options.nats) ? options.nats : [options.nats];
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const client = new ClusterClient(nc, options);
    try {
      const kvm = new Kvm(nc);
      const owners = await kvm.open(OWNERS_BUCKET);
      const regions = await kvm.open(REGIONS_BUCKET);
      await client.load(owners, (key, value) => client.ownerChanged(key, value));
      await client.load(regions, (key, value) => client.regionChanged(key, value));
    } catch (error) {
      await nc.close();
      throw error;
    }
    return client;
  }

  /** Reads every key of `kv`, then watches it for changes. */
  private async load(kv: KV, apply: (key: string, value: Uint8Array | null) => void) {
    // Creating a watch is a JetStream API request: it times out while the NATS cluster is slow
    // to answer (a leader election, a loaded machine), and works once it answers again.
    const watch = await retrying(() => kv.watch(), {
      ...WATCH_RETRY,
      stopped: () => this.closed,
    });
    this.watches.push(watch);
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      apply(key, entry === null || entry.operation !== 'PUT' ? null : entry.value);
    }
    void (async () => {
      for await (const entry of watch) {
        apply(entry.key, entry.operation === 'PUT' ? entry.value : null);
      }
    })().catch(() => undefined);
  }

  private ownerChanged(region: string, value: Uint8Array | null): void {
    const owner = value === null ? null : parse<RegionOwner>(value);
    if (owner === null || typeof owner.url !== 'string' || !Number.isSafeInteger(owner.epoch)) {
      return;
    }
    const known = this.owners.get(region);
    if (known !== undefined && known.epoch > owner.epoch) return;
    this.owners.set(region, owner);
    const route = this.routes.get(region);
    if (route !== undefined && route.owner.url !== owner.url) this.drop(region, route);
  }

  private regionChanged(region: string, value: Uint8Array | null): void {
    const definition = value === null ? null : parse<RegionDefinition>(value);
    if (definition === null || !Array.isArray(definition.dcs)) return;
    this.regions.set(region, definition);
    this.regionList = [...this.regions.values()];
    for (const dc of definition.dcs) this.dcRegions.set(dc.id, region);
  }

  /** The region definitions known, by id. */
  get regionDefinitions(): ReadonlyMap<string, RegionDefinition> {
    return this.regions;
  }

  /** The owners known, by region. */
  get regionOwners(): ReadonlyMap<string, RegionOwner> {
    return this.owners;
  }

  /** The region of a location, by the cluster's routing rule; null when none is known. */
  regionOf(location: { lat: number; lng: number }): string | null {
    return regionForLocation(this.regionList, location);
  }

  private regionOrFail(region: string | null | undefined, what: string): string {
    if (region === null || region === undefined) {
      throw new InventoryError('BAD_REQUEST', `no region is known for ${what}`);
    }
    return region;
  }

  private remember(orderId: string, region: string): void {
    this.orderRegions.delete(orderId);
    this.orderRegions.set(orderId, region);
    if (this.orderRegions.size > ORDER_REGIONS_MAX) {
      const oldest = this.orderRegions.keys().next().value;
      if (oldest !== undefined) this.orderRegions.delete(oldest);
    }
  }

  private orderRegion(orderId: string, options?: ClusterCallOptions): string {
    return this.regionOrFail(options?.region ?? this.orderRegions.get(orderId), `order ${orderId}`);
  }

  /** The client of the region's current owner, connecting when needed. */
  private route(region: string): Route | null {
    const owner = this.owners.get(region);
    if (owner === undefined) return null;
    const known = this.routes.get(region);
    if (known !== undefined && known.owner.url === owner.url) return known;
    if (known !== undefined) this.drop(region, known);
    const client = InventoryClient.connect(owner.url, { ...this.options, reconnect: false });
    client.catch(() => undefined);
    const moved = new AbortController();
    // Every call waiting on this owner listens to `moved`: as many as the client holds.
    setMaxListeners(IN_FLIGHT_MAX + CLIENT_QUEUE_MAX, moved.signal);
    const route = { owner, client, moved };
    this.routes.set(region, route);
    return route;
  }

  private drop(region: string, route: Route): void {
    if (this.routes.get(region) === route) this.routes.delete(region);
    route.moved.abort();
    route.client
      .then((client) => void client.close().catch(() => undefined))
      .catch(() => undefined);
  }

  /**
   * Sends `op` to the owner of `region`, and to its next owners after a failover while the
   * rules of the file header allow, within the call's timeout.
   */
  private async send<T>(
    region: string,
    op: Op,
    run: (client: InventoryClient, options: CallOptions) => Promise<T>,
    options?: CallOptions,
  ): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.options.timeoutMs ?? CLIENT_TIMEOUT_MS_DEFAULT;
    const deadline = performance.now() + timeoutMs;
    let last: unknown = null;
    /** Whether an earlier attempt may have applied the request (reported with the failure). */
    let maybeApplied = false;
    for (let attempt = 0; attempt < ROUTE_ATTEMPTS_MAX; attempt++) {
      if (this.closed) throw new InventoryError('CLOSED', 'the cluster client is closed');
      const left = deadline - performance.now();
      if (left <= 0) break;
      const route = this.route(region);
      if (route === null) {
        await pause(Math.min(OWNER_POLL_MS, left));
        continue;
      }
      const signal =
        options?.signal === undefined
          ? route.moved.signal
          : AbortSignal.any([options.signal, route.moved.signal]);
      try {
        const client = await route.client;
        return await run(client, { signal, timeoutMs: Math.ceil(left) });
      } catch (error) {
        last = withMaybeApplied(error, maybeApplied);
        maybeApplied ||= error instanceof InventoryError ? error.maybeApplied : true;
        if (options?.signal?.aborted === true) throw last;
        // Aborted because the region moved: as if the connection to the old owner was lost.
        const moved = route.moved.signal.aborted && errorCode(error) === 'ABORTED';
        if (!(moved ? OP_RESEND_SAFE[op] : this.mayResend(op, error))) throw last;
        this.drop(region, route);
        // Wait for the watch to name a new owner (or the old one to come back).
        await pause(Math.min(OWNER_POLL_MS, Math.max(0, deadline - performance.now())));
      }
    }
    if (last !== null) throw withMaybeApplied(last, maybeApplied);
    throw new InventoryError('TIMEOUT', `region ${region} had no reachable owner in time`, {
      maybeApplied,
    });
  }

  private mayResend(op: Op, error: unknown): boolean {
    const code = errorCode(error);
    if (!MOVED_CODES.has(code)) return false;
    if (code === 'CONNECT_FAILED') return true;
    // A standby's refusal names the owner (or null): the request changed nothing.
    const details = (error as InventoryError).details;
    if (code === 'NOT_OWNER' && details !== undefined && 'owner' in details) return true;
    return OP_RESEND_SAFE[op];
  }

  availability(args: AvailabilityArgs, options?: ClusterCallOptions): Promise<AvailabilityResult> {
    const region = this.regionOrFail(options?.region ?? this.regionOf(args), 'the location');
    return this.send(region, 'availability', (c, o) => c.availability(args, o), options);
  }

  browse(args: BrowseArgs, options?: ClusterCallOptions): Promise<BrowseResult> {
    const region = this.regionOrFail(options?.region ?? this.regionOf(args), 'the location');
    return this.send(region, 'browse', (c, o) => c.browse(args, o), options);
  }

  checkBasket(args: CheckBasketArgs, options?: ClusterCallOptions): Promise<BasketCheckResult> {
    const region = this.regionOrFail(
      options?.region ?? this.regionOf(args.location),
      'the location',
    );
    return this.send(region, 'checkBasket', (c, o) => c.checkBasket(args, o), options);
  }

  /** Places an order in the region of its location; later order ops find it there. */
  placeOrder(args: PlaceOrderArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.regionOrFail(
      options?.region ?? this.regionOf(args.location),
      'the location',
    );
    this.remember(args.orderId, region);
    return this.send(region, 'placeOrder', (c, o) => c.placeOrder(args, o), options);
  }

  confirm(args: ConfirmArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'confirm', (c, o) => c.confirm(args, o), options);
  }

  cancel(args: OrderIdArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'cancel', (c, o) => c.cancel(args, o), options);
  }

  extend(args: ExtendArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'extend', (c, o) => c.extend(args, o), options);
  }

  changeOrder(args: ChangeOrderArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'changeOrder', (c, o) => c.changeOrder(args, o), options);
  }

  fulfil(args: OrderIdArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'fulfil', (c, o) => c.fulfil(args, o), options);
  }

  getOrder(args: OrderIdArgs, options?: ClusterCallOptions): Promise<OrderResult> {
    const region = this.orderRegion(args.orderId, options);
    return this.send(region, 'getOrder', (c, o) => c.getOrder(args, o), options);
  }

  receive(args: ReceiveArgs, options?: ClusterCallOptions): Promise<StockResult> {
    const region = this.regionOrFail(options?.region ?? this.dcRegions.get(args.dc), args.dc);
    return this.send(region, 'receive', (c, o) => c.receive(args, o), options);
  }

  adjust(args: AdjustArgs, options?: ClusterCallOptions): Promise<StockResult> {
    const region = this.regionOrFail(options?.region ?? this.dcRegions.get(args.dc), args.dc);
    return this.send(region, 'adjust', (c, o) => c.adjust(args, o), options);
  }

  getStock(args: StockKeyArgs, options?: ClusterCallOptions): Promise<StockResult> {
    const region = this.regionOrFail(options?.region ?? this.dcRegions.get(args.dc), args.dc);
    return this.send(region, 'getStock', (c, o) => c.getStock(args, o), options);
  }

  /** Closes every region's client and the NATS connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watch of this.watches) watch.stop();
    const clients = [...this.routes.values()].map((route) =>
      route.client.then((client) => client.close()).catch(() => undefined),
    );
    this.routes.clear();
    await Promise.all(clients);
    await this.nc.close();
  }
}

/** Per-call options of the cluster client: a region may be named instead of looked up. */
export interface ClusterCallOptions extends CallOptions {
  region?: string;
}

/** The error, marked maybeApplied when an earlier attempt of the same call may have applied. */
function withMaybeApplied(error: unknown, earlier: boolean): unknown {
  if (!earlier || !(error instanceof InventoryError) || error.maybeApplied) return error;
  return new InventoryError(error.code, error.message, {
    details: error.details,
    lines: error.lines,
    maybeApplied: true,
    cause: error,
  });
}

function parse<T>(bytes: Uint8Array): T | null {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    return null;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
