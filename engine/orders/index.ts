/**
 * Orders: placement with allocation, the lifecycle, expiry and replay on the shared order
 * table, and the order views of the object API. `OrderBook` is what the Engine uses.
 *
 *   parse.ts      the request: id, lines, limits, fingerprint
 *   place.ts      placement and the dry run
 *   lifecycle.ts  confirm, cancel, extend, change, fulfil, look up
 *   expiry.ts     lazy expiry and the sweep
 *   effects.ts    each transition's effect on stock and slot, shared by live and replay
 *   replay.ts     log records applied to a table
 *   slot.ts       orders in and out of slots: answers, snapshot fields, checks
 *   views.ts      answers as objects
 *   book.ts       the parts wired together
 */

export { OrderBook } from './book.js';
export type { OrderSnapshotFields } from './slot.js';
export { orderResultOf, orderViewOf, statusName } from './views.js';
