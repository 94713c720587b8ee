/**
 * A region's lease: the key `<region>` of the owners bucket, whose TTL is the lease. A node
 * claims a free region with `create` (refused while anyone holds it), renews with `update` on
 * the revision it holds (refused once anyone else wrote the key), and gives it up with a
 * `delete` on that revision when it stops cleanly, so a standby need not wait for the TTL.
 *
 * The write deadline (ownership.ts): after a renewal sent at monotonic time t succeeds, the
 * server stored it no earlier than t, so the key cannot expire before t + lease; the node
 * writes until t + lease − margin. A renewal that gets no answer leaves the deadline where it
 * was; once the deadline passes, the lease is lost (`onLost`), whatever the server did.
 *
 * Invariant: at most one node's deadline lies in the future at any moment (given clocks that
 * advance at the same rate within the margin): a claim succeeds only on an absent key, which
 * needs the previous holder's last write to be a lease old.
 */

import type { KV } from '@nats-io/kv';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { RegionOwner } from '../protocol/index.js';
import {
  LEASE_MARGIN_FRACTION,
  LEASE_MARGIN_MS_MIN,
  LEASE_RENEWALS_PER_LEASE,
} from './constants.js';
import type { OwnershipGate } from './ownership.js';

const NANOS_PER_MS = 1_000_000n;
/** JetStream API codes of a refused expectation: someone else wrote the key. */
const WRONG_LAST_SEQUENCE = 10071;

export interface LeaseOptions {
  kv: KV;
  owner: RegionOwner;
  leaseMs: number;
  gate: OwnershipGate;
  /** Called once when the lease is lost (refused renewal, or the deadline passed). */
  onLost: (reason: string) => void;
  nowNs?: () => bigint;
}

function encode(owner: RegionOwner): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(owner));
}

export function decodeOwner(bytes: Uint8Array): RegionOwner | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<RegionOwner>;
    if (typeof value?.nodeId !== 'string' || !Number.isSafeInteger(value.epoch)) return null;
    return value as RegionOwner;
  } catch {
    return null;
  }
}

export function isRefusal(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === WRONG_LAST_SEQUENCE;
}

export class Lease {
  private revision = 0;
  private timer: NodeJS.Timeout | null = null;
  private renewing = false;
  private lost = false;
  private readonly marginNs: bigint;
  private readonly leaseNs: bigint;
  private readonly nowNs: () => bigint;

  private constructor(private readonly options: LeaseOptions) {
    const marginMs = Math.max(LEASE_MARGIN_MS_MIN, options.leaseMs * LEASE_MARGIN_FRACTION);
    this.marginNs = BigInt(Math.round(marginMs)) * NANOS_PER_MS;
    this.leaseNs = BigInt(options.leaseMs) * NANOS_PER_MS;
    this.nowNs = options.nowNs ?? process.hrtime.bigint;
  }

  /** Claims the region; null when another node holds it. Starts renewing on success. */
  static async claim(options: LeaseOptions): Promise<Lease | null> {
    const lease = new Lease(options);
    const sent = lease.nowNs();
    try {
      lease.revision = await options.kv.create(options.owner.region, encode(options.owner));
    } catch (error) {
      if (isRefusal(error)) return null;
      throw error;
    }
    options.gate.extend(sent + lease.leaseNs - lease.marginNs);
    return lease;
  }

  /** Starts the renewals (every lease / LEASE_RENEWALS_PER_LEASE) and the deadline check. */
  start(): void {
    const every = Math.max(1, Math.floor(this.options.leaseMs / LEASE_RENEWALS_PER_LEASE));
    this.timer = setInterval(() => void this.tick(), every);
  }

  get epoch(): number {
    return this.options.owner.epoch;
  }

  private async tick(): Promise<void> {
    if (this.lost) return;
    if (this.nowNs() >= this.options.gate.deadlineNs()) {
      this.lose('the lease lapsed: no renewal succeeded in time');
      return;
    }
    if (this.renewing) return;
    this.renewing = true;
    const sent = this.nowNs();
    try {
      const { kv, owner } = this.options;
      this.revision = await kv.update(owner.region, encode(owner), this.revision);
      if (!this.lost) this.options.gate.extend(sent + this.leaseNs - this.marginNs);
    } catch (error) {
      if (isRefusal(error)) await this.recheck();
      // Otherwise (no answer, a lost connection): the deadline stays; the next tick retries.
    } finally {
      this.renewing = false;
    }
  }

  /**
   * A refused renewal: either an earlier renewal whose answer was lost did land (the key still
   * names us; adopt its revision), or someone else owns the region now.
   */
  private async recheck(): Promise<void> {
    const { kv, owner } = this.options;
    const entry = await kv.get(owner.region).catch(() => null);
    const current = entry === null || entry.operation !== 'PUT' ? null : decodeOwner(entry.value);
    if (current?.nodeId === owner.nodeId && current.epoch === owner.epoch) {
      this.revision = entry!.revision;
      return;
    }
    this.lose(
      current === null
        ? 'the lease key was removed'
        : `node ${current.nodeId} owns the region at epoch ${current.epoch}`,
    );
  }

  private lose(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.stop();
    this.options.gate.depose();
    this.options.onLost(reason);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Gives the region up at once (clean shutdown): a standby may claim it without waiting. */
  async release(): Promise<void> {
    this.stop();
    if (this.lost) return;
    this.lost = true;
    this.options.gate.depose();
    await this.options.kv
      .delete(this.options.owner.region, { previousSeq: this.revision })
      .catch(() => undefined);
  }
}
