/**
 * Orders as objects: the object API's results and the wire's v1 `OrderView`, read back from
 * the typed answers (answers.ts) the order operations write. Nothing here touches the table.
 */

import { type OrderAnswers, RESULT_CREATED, RESULT_REFUSED } from '../answers.js';
import { assert } from '../assert.js';
import type { EngineContext } from '../context.js';
import { STATE_HELD } from '../reservation/order-slot.js';
import type { OrderResult, OrderStatus, OrderView } from '../types.js';

/** Status names by STATE_* value; a free slot (STATE_FREE) holds no order and has none. */
const STATUS_NAMES: readonly (OrderStatus | null)[] = [
  null,
  'held',
  'confirmed',
  'cancelled',
  'expired',
  'fulfilled',
];

/** The status of an order whose slot is in `state`; a free slot has none, so asking is a bug. */
export function statusName(state: number): OrderStatus {
  const status = STATUS_NAMES[state];
  assert(status !== undefined && status !== null, 'a status asked of a slot without an order');
  return status;
}

/** The answer at `at` of `answers` as the object API's result. */
export function orderResultOf(
  answers: OrderAnswers,
  at: number,
  context: EngineContext,
): OrderResult {
  if (answers.result[at] === RESULT_REFUSED) return { ok: false, error: answers.errors[at]! };
  return {
    ok: true,
    created: answers.result[at] === RESULT_CREATED,
    order: orderViewOf(answers, at, context),
  };
}

/** An answered order as the wire's v1 `OrderView`. */
export function orderViewOf(answers: OrderAnswers, at: number, context: EngineContext): OrderView {
  const { catalogue } = context;
  const allocation = [];
  const first = answers.allocationStart[at];
  for (let entry = first; entry < first + answers.allocationCount[at]; entry++) {
    allocation.push({
      sku: catalogue.skus[answers.allocationSku[entry]].id,
      dc: catalogue.dcs[answers.allocationDc[entry]].id,
      qty: answers.allocationQty[entry],
    });
  }
  const state = answers.state[at];
  const view: OrderView = {
    orderId: answers.orderIds[at],
    status: statusName(state),
    mode: answers.commit[at] === 1 ? 'commit' : 'hold',
    policy: answers.split[at] === 1 ? 'split' : 'single-dc',
    location: { lat: answers.lat[at], lng: answers.lng[at] },
    allocation,
    etaMinutes: answers.etaTenths[at] / 10,
    createdAt: answers.createdAt[at],
    updatedAt: answers.updatedAt[at],
  };
  if (state === STATE_HELD) view.expiresAt = answers.expiresAt[at];
  return view;
}
