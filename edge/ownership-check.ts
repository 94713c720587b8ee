/**
 * A worker thread's check of its node's region ownership (cluster/ownership.ts): writes are
 * refused with NOT_OWNER, naming the owner's URL, on a node that does not own its region, in
 * the thread that runs them, before anything changes, and again before an acknowledgement
 * leaves (a primary paused past its lease must not acknowledge anything after the pause).
 *
 * It imports only the shared-memory gate, so a worker never loads the NATS client.
 */

import { OwnershipGate } from '../cluster/gate/index.js';
import type { ErrorBody, RegionOwner } from '../protocol/index.js';
import type { ReplicationMode } from '../wal/index.js';
import { errorOf } from './errors.js';
import type { Logger } from './logger.js';
import type { DurableLog } from './operations.js';

/**
 * The warning a worker logs when acknowledgements it checked before its lease's deadline may
 * have been written after it (a pause fell between the check and the write; see AckFence).
 */
export const ACKS_ACROSS_DEADLINE =
  'acknowledgements checked before the lease deadline may have left after it (a pause between the check and the write)';

/**
 * The last ownership check before acknowledgements are written, and the look after the write.
 * A server asks `refusal()` as the last step before it hands acknowledgements to uWS (after
 * encoding them), then tells `written(count)`. In the next turn, once uWS has written them, the
 * fence looks again: if the node no longer owns its region, a pause may have fallen between the
 * check and the write, and those acknowledgements may have left after the deadline. They were
 * decided while the node owned its region (as an answer delayed on the network would be); the
 * fence names them in a warning (an upper bound: the deadline may also have passed after they
 * left). Nothing can take bytes back once written, so this is the accounting, not a guard.
 */
export class AckFence {
  private unconfirmed = 0;
  private scheduled = false;

  constructor(
    private readonly ownership: { refusal(): ErrorBody | null },
    private readonly logger: Logger,
  ) {}

  /** A server's fence: null on a standalone node (no ownership to check). */
  static of(
    ownership: { refusal(): ErrorBody | null } | null | undefined,
    logger: Logger,
  ): AckFence | null {
    return ownership === null || ownership === undefined ? null : new AckFence(ownership, logger);
  }

  /** NOT_OWNER when acknowledgements may no longer be written; null while they may. */
  refusal(): ErrorBody | null {
    return this.ownership.refusal();
  }

  /** `count` acknowledgements that `refusal()` allowed were just handed to uWS. */
  written(count: number): void {
    this.unconfirmed += count;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.lookAgain);
  }

  private readonly lookAgain = (): void => {
    this.scheduled = false;
    const acks = this.unconfirmed;
    this.unconfirmed = 0;
    if (acks === 0 || this.ownership.refusal() === null) return;
    this.logger.warn(ACKS_ACROSS_DEADLINE, { acknowledgements: acks });
  };
}

/** What a worker thread needs to check ownership (WorkerInit.cluster). */
export interface WorkerCluster {
  gate: SharedArrayBuffer;
  region: string;
  replication: ReplicationMode;
}

/** A worker's view of its node's ownership: refuses writes with NOT_OWNER when not owner. */
export class OwnershipCheck {
  private readonly gate: OwnershipGate;
  private owner: RegionOwner | null = null;

  constructor(private readonly cluster: WorkerCluster) {
    this.gate = new OwnershipGate(cluster.gate);
  }

  setOwner(owner: RegionOwner | null): void {
    this.owner = owner;
  }

  writable(): boolean {
    return this.gate.writable();
  }

  /** A standby serves reads: it is ready without owning the region. */
  serving(): boolean {
    return this.gate.roleName() !== 'deposed';
  }

  refusal(): ErrorBody | null {
    if (this.gate.writable()) return null;
    return this.notOwner();
  }

  notOwner(): ErrorBody {
    const owner = this.owner;
    const mine =
      owner !== null && this.gate.roleName() === 'primary' && owner.epoch === this.gate.epoch();
    return errorOf('NOT_OWNER', undefined, {
      region: this.cluster.region,
      owner: owner === null || mine ? null : owner.url,
      epoch: owner?.epoch ?? null,
    });
  }

  /**
   * The thread's durable log, checked again at acknowledgement: a write that became durable
   * after this node's deadline (a primary paused past its lease, say) is answered NOT_OWNER,
   * never acknowledged; its outcome is unknown to the client, which resends it to the new
   * owner by its order id. Under `async` this is what keeps a deposed primary from
   * acknowledging a local commit the stream never got; under `sync` such a write is in the
   * stream, and the new owner answers the resend with the order as it is.
   */
  guard<T extends DurableLog>(log: T): T {
    const gate = this.gate;
    const waitDurable = (ticket: number): Promise<void> =>
      log.waitDurable(ticket).then(() => {
        if (!gate.writable()) throw Object.assign(new Error('not the owner'), this.notOwner());
      });
    return Object.assign(Object.create(log) as T, { waitDurable });
  }
}
