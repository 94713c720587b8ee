/**
 * The reference scale: builds a network of 10,000 DCs × 100,000 SKUs (by default), loads
 * stock, then serves availability and orders from it, printing the memory used and the time
 * each phase took.
 *
 *   npm run bench:scale
 *   npm run bench:scale -- --dcs 10000 --skus 100000 --stocked 0.02 --seconds 3
 *
 * DCs sit on a grid of metro areas (50 metros × 200 DCs by default), 4–6 km delivery radius,
 * so a customer is served by a handful of DCs, as in a dense city. `--stocked` is the share of
 * the catalogue each DC carries (a dark store carries a few thousand SKUs).
 */

import { DcHits, Engine, resolveConfig, sharedBytes } from '../engine/index.js';
import { Prng } from '../engine/testing/index.js';
import { parseCommandLine, runMain, showUsage } from '../wal/index.js';

const GiB = 1024 ** 3;

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

function memory(label: string): void {
  const usage = process.memoryUsage();
  console.log(
    `  memory ${label}: rss ${mib(usage.rss)}, heap ${mib(usage.heapUsed)}, ` +
      `array buffers ${mib(usage.arrayBuffers)}`,
  );
}

function timed<T>(label: string, run: () => T): T {
  const started = performance.now();
  const result = run();
  console.log(`  ${label}: ${((performance.now() - started) / 1000).toFixed(2)} s`);
  return result;
}

const USAGE = `Usage: npm run bench:scale -- [options]

  --dcs <n>              DCs (default 10000)
  --skus <n>             SKUs (default 100000)
  --metros <n>           metro areas the DCs are spread over (default 50)
  --stocked <share>      share of the catalogue each DC carries (default 0.02)
  --seconds <s>          seconds of availability queries and of orders (default 3)
  --seed <n>             network and workload seed (default 7)
  -h, --help             this text
`;

const FLAGS = {
  dcs: { type: 'string', default: '10000' },
  skus: { type: 'string', default: '100000' },
  metros: { type: 'string', default: '50' },
  stocked: { type: 'string', default: '0.02' },
  seconds: { type: 'string', default: '3' },
  seed: { type: 'string', default: '7' },
} as const;

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  const dcs = Number(values.dcs);
  const skus = Number(values.skus);
  const metros = Number(values.metros);
  const stocked = Number(values.stocked);
  const seconds = Number(values.seconds);
  const prng = new Prng(Number(values.seed));
  const config = {
    dcCapacity: dcs,
    skuCapacity: skus,
    dcsPerShard: Math.max(1, Math.min(dcs, Math.floor(GiB / (skus * 8)))),
    orderCapacity: 1 << 20,
  };
  const bytes = sharedBytes(resolveConfig(config));
  console.log(
    `scale: ${dcs.toLocaleString()} DCs × ${skus.toLocaleString()} SKUs, node ${process.version}`,
  );
  console.log(
    `  shared memory reserved: stock ${mib(bytes.stock)} (8 bytes per DC × SKU), orders ${mib(bytes.orders)}`,
  );
  memory('at start');
  const engine = timed('allocate shared memory', () => Engine.create(config));
  const admin = { actor: 'scale-bench' };
  // Metro centres across a 20° × 20° box; DCs scattered within ~15 km of their metro's centre.
  const centres = Array.from({ length: metros }, () => ({
    lat: prng.uniform(5, 25),
    lng: prng.uniform(70, 90),
  }));
  const locations = timed('add DCs', () => {
    const placed = [];
    for (let dc = 0; dc < dcs; dc++) {
      const centre = centres[dc % metros];
      const location = {
        lat: centre.lat + prng.uniform(-0.12, 0.12),
        lng: centre.lng + prng.uniform(-0.12, 0.12),
      };
      const result = engine.upsertDc(
        { id: `dc-${dc}`, name: `DC ${dc}`, location, radiusKm: prng.uniform(4, 6) },
        admin,
      );
      if (!result.ok) throw new Error(result.error.message);
      placed.push(location);
    }
    return placed;
  });
  timed('add SKUs', () => {
    for (let sku = 0; sku < skus; sku++) {
      const result = engine.upsertSku(
        { id: `sku-${sku}`, name: `SKU ${sku}`, category: `c${sku % 40}` },
        admin,
      );
      if (!result.ok) throw new Error(result.error.message);
    }
  });
  const perDc = Math.max(1, Math.round(skus * stocked));
  const step = Math.max(1, Math.floor(skus / perDc));
  // Each DC carries an evenly spread slice of the catalogue starting at its own offset.
  const firsts = Array.from({ length: dcs }, () => prng.int(skus));
  timed(
    `load stock (${perDc.toLocaleString()} SKUs per DC, ${(dcs * perDc).toLocaleString()} receipts)`,
    () => {
      for (let dc = 0; dc < dcs; dc++) {
        for (let at = 0; at < perDc; at++) {
          const sku = (firsts[dc] + at * step) % skus;
          engine.receive(`dc-${dc}`, `sku-${sku}`, 1 + prng.int(200), admin);
        }
      }
    },
  );
  memory('after load');

  const hits = new DcHits();
  let served = 0;
  let queried = 0;
  const skuIds = Array.from({ length: 20 }, () => `sku-${prng.int(skus)}`);
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const near = locations[prng.int(dcs)];
    const location = {
      lat: near.lat + prng.uniform(-0.02, 0.02),
      lng: near.lng + prng.uniform(-0.02, 0.02),
    };
    served += engine.resolveDcs(location, 60, hits);
    const result = engine.availability(location, skuIds);
    if (!result.ok) throw new Error(result.error.code);
    queried++;
  }
  console.log(
    `  availability (20 SKUs, new location each time, geo cache cold): ${Math.round(queried / seconds).toLocaleString()} queries/s, ` +
      `${(served / queried).toFixed(1)} DCs in range on average`,
  );
  let placed = 0;
  let refused = 0;
  const orderDeadline = performance.now() + seconds * 1000;
  for (let n = 0; performance.now() < orderDeadline; n++) {
    const dc = prng.int(dcs);
    const location = locations[dc];
    // Three SKUs this DC carries, so most orders can be filled.
    const at = prng.int(Math.max(1, perDc - 2));
    const sku = (k: number) => `sku-${(firsts[dc] + (at + k) * step) % skus}`;
    const result = engine.placeOrder({
      orderId: `scale-${n}`,
      location,
      lines: [
        { sku: sku(0), qty: 1 },
        { sku: sku(1), qty: 1 },
        { sku: sku(2), qty: 1 },
      ],
      mode: 'hold',
      policy: 'split',
    });
    if (result.ok) {
      placed++;
      engine.cancel(`scale-${n}`);
    } else refused++;
  }
  console.log(
    `  3-line split orders at random DCs' doors: ${Math.round((placed + refused) / seconds).toLocaleString()} orders/s ` +
      `(${placed.toLocaleString()} placed and cancelled, ${refused.toLocaleString()} refused for stock)`,
  );
  memory('at end');
  return 0;
}

runMain(main, USAGE);
