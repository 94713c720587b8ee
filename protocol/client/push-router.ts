/**
 * Routes kind-2 push messages to the handler registered for their subscription id. The
 * subscribe ops that hand out subscription ids build on this; until then nothing registers
 * and every push is counted as unrouted.
 */

export type PushHandler = (body: unknown) => void;

export class PushRouter {
  private readonly handlers = new Map<number, PushHandler>();
  /**
   * Pushes of subscriptions whose subscribe answer has arrived but whose handler is not set
   * yet. The answer settles a promise, and the handler is set when it runs (a microtask), but
   * the pushes that follow the answer in the same TCP read are dispatched before that: they
   * wait here, in order, and go to the handler when it is set. Bounded by PENDING_PUSHES_MAX.
   */
  private readonly pending = new Map<number, unknown[]>();
  /** Pushes that arrived for a subscription id with no handler (e.g. just unsubscribed). */
  unrouted = 0;

  /** Registers the handler for a subscription id, replacing any earlier one. */
  set(subscriptionId: number, handler: PushHandler, onHandlerError?: (error: unknown) => void) {
    this.handlers.set(subscriptionId, handler);
    const waiting = this.pending.get(subscriptionId);
    if (waiting === undefined) return;
    this.pending.delete(subscriptionId);
    for (const body of waiting) this.dispatch(subscriptionId, body, onHandlerError ?? rethrow);
  }

  /**
   * A subscribe answer for `subscriptionId` arrived: pushes for it are held until its handler
   * is set. Pushes before the answer belong to an earlier subscription and are not held.
   */
  expect(subscriptionId: number): void {
    if (!this.handlers.has(subscriptionId)) this.pending.set(subscriptionId, []);
  }

  /** Drops what is held for `subscriptionId` (its subscribe answer was not taken up). */
  forget(subscriptionId: number): void {
    this.pending.delete(subscriptionId);
  }

  delete(subscriptionId: number): boolean {
    this.pending.delete(subscriptionId);
    return this.handlers.delete(subscriptionId);
  }

  get size(): number {
    return this.handlers.size;
  }

  /** Hands a push to its handler; a throwing handler is reported and does not stop others. */
  dispatch(subscriptionId: number, body: unknown, onHandlerError: (error: unknown) => void): void {
    const handler = this.handlers.get(subscriptionId);
    if (handler === undefined) {
      const waiting = this.pending.get(subscriptionId);
      if (waiting !== undefined && waiting.length < PENDING_PUSHES_MAX) waiting.push(body);
      else this.unrouted++;
      return;
    }
    try {
      handler(body);
    } catch (error) {
      onHandlerError(error);
    }
  }

  clear(): void {
    this.handlers.clear();
    this.pending.clear();
  }
}

/** Pushes held for one subscription between its answer and its handler (a few at most). */
const PENDING_PUSHES_MAX = 1_024;

function rethrow(error: unknown): never {
  throw error;
}
