/**
 * Runs the full order path (place + cancel) in a loop for a CPU profile:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof dist/bench/profile-orders.js [orders]
 */

import { BENCH_CUSTOMER, benchNetwork } from './fixture.js';

const orders = Number(process.argv[2] ?? 1_000_000);
const engine = benchNetwork({ dcs: 10, skus: 2000 });
const started = performance.now();
for (let n = 0; n < orders; n++) {
  const orderId = `bench-${n}`;
  const sku = (n * 3) % 1997;
  const placed = engine.placeOrder({
    orderId,
    location: BENCH_CUSTOMER,
    lines: [
      { sku: `sku-${sku}`, qty: 1 },
      { sku: `sku-${sku + 1}`, qty: 1 },
      { sku: `sku-${sku + 2}`, qty: 1 },
    ],
    mode: 'commit',
  });
  if (!placed.ok) throw new Error(placed.error.code);
  engine.cancel(orderId);
}
const seconds = (performance.now() - started) / 1000;
console.log(
  `${orders} place+cancel in ${seconds.toFixed(2)} s: ${Math.round(orders / seconds)} orders/s`,
);
