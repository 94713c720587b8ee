/**
 * Routes kind-2 push messages to the handler registered for their subscription id. The
 * subscribe ops that hand out subscription ids build on this; until then nothing registers
 * and every push is counted as unrouted.
 */

export type PushHandler = (body: unknown) => void;

export class PushRouter {
  private readonly handlers = new Map<number, PushHandler>();
  /** Pushes that arrived for a subscription id with no handler (e.g. just unsubscribed). */
  unrouted = 0;

  /** Registers the handler for a subscription id, replacing any earlier one. */
  set(subscriptionId: number, handler: PushHandler): void {
    this.handlers.set(subscriptionId, handler);
  }

  delete(subscriptionId: number): boolean {
    return this.handlers.delete(subscriptionId);
  }

  get size(): number {
    return this.handlers.size;
  }

  /** Hands a push to its handler; a throwing handler is reported and does not stop others. */
  dispatch(subscriptionId: number, body: unknown, onHandlerError: (error: unknown) => void): void {
    const handler = this.handlers.get(subscriptionId);
    if (handler === undefined) {
      this.unrouted++;
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
  }
}
