/**
 * The node's own work per request, without the network and the disk: a protocol-v2 frame is
 * decoded and checked, its batch runs through the engine (orders append their records to a
 * real log ring), and the answer is encoded, exactly as a worker thread does it. Only the
 * socket and the log writer's commit are left out, so the figure is the CPU a node spends per
 * order or per query, the budget the wire targets are made of.
 *
 * The ring is drained in-line (as the writer would after a commit) so it never fills.
 */

import { BatchRunner, SkuTable } from '../edge/index.js';
import type { Engine } from '../engine/index.js';
import {
  type AvailabilityManyArgs,
  f64ColumnOfNumbers,
  i32ColumnOfNumbers,
  MessageKinds,
  SKUS_PER_BATCH_MAX,
  validateArgs,
  WireCodec,
  type WireMessage,
} from '../protocol/index.js';
import { createRingBuffer, SharedLog } from '../wal/index.js';
import { BENCH_CUSTOMER } from './fixture.js';

export interface NodePathCase {
  /** Entries (orders or queries) one `run` handles. */
  entries: number;
  run(): void;
}

const RING_BYTES = 1 << 26;
/** The resolved SKU indexes of the frame being run (the WebSocket server keeps one too). */
const SKU_INDEX_SCRATCH = new Int32Array(SKUS_PER_BATCH_MAX);

/** A log over a ring nobody commits: `drain` frees what was appended, as a commit would. */
export function benchLog(): { log: SharedLog; drain(): void } {
  const log = new SharedLog(createRingBuffer({ capacityBytes: RING_BYTES, policy: 'none' }));
  return { log, drain: () => log.ring.release(log.ring.tail()) };
}

/**
 * Frames of `placeOrders` requests of `batch` 3-line commit orders with ids never used
 * before: made ahead, so the timed part is the node's work alone.
 */
function orderFrames(codec: WireCodec, skus: number, batch: number, frames: number, tag: string) {
  const made: Uint8Array[] = [];
  let sequence = 0;
  for (let frame = 0; frame < frames; frame++) {
    const orderIds: string[] = [];
    const lineSkus: string[] = [];
    for (let order = 0; order < batch; order++) {
      orderIds.push(`${tag}-${sequence}`);
      const first = (sequence * 3) % (skus - 3);
      lineSkus.push(`sku-${first}`, `sku-${first + 1}`, `sku-${first + 2}`);
      sequence++;
    }
    const args = {
      orders: batch,
      orderIds,
      lat: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lat), batch),
      lng: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lng), batch),
      lineCounts: i32ColumnOfNumbers(new Array(batch).fill(3), batch),
      skus: lineSkus,
      qty: i32ColumnOfNumbers(new Array(batch * 3).fill(1), batch * 3),
      mode: 'commit',
    };
    made.push(codec.encodeRequests([[frame + 1, 'placeOrders', args]]));
  }
  return made;
}

/**
 * An `availabilityMany` frame naming its SKUs by id, or by ref (`byRef`): refs into a table
 * where ref n is `sku-n`, defined ahead (as after a connection's first requests).
 */
function availabilityFrame(
  codec: WireCodec,
  skus: number,
  batch: number,
  perQuery: number,
  byRef: boolean,
) {
  const skuIndexes: number[] = [];
  for (let at = 0; at < batch * perQuery; at++) skuIndexes.push((at * 37) % skus);
  const args: Record<string, unknown> = {
    queries: batch,
    lat: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lat), batch),
    lng: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lng), batch),
    skuCounts: i32ColumnOfNumbers(new Array(batch).fill(perQuery), batch),
    breakdown: true,
  };
  if (byRef) args.skuRefs = i32ColumnOfNumbers(skuIndexes, skuIndexes.length);
  else args.skus = skuIndexes.map((index) => `sku-${index}`);
  return codec.encodeRequests([[1, 'availabilityMany', args]]);
}

/** A connection's SKU table holding `sku-n` at ref n, for n below `skus`. */
function definedTable(engine: Engine, skus: number): SkuTable {
  const table = new SkuTable();
  const refs = Int32Array.from({ length: skus }, (_, ref) => ref);
  const ids = Array.from({ length: skus }, (_, ref) => `sku-${ref}`);
  const into = new Int32Array(skus);
  const refused = table.resolve(refs, refs, ids, engine, into);
  if (refused !== null) throw new Error(`bench: ${refused.message}`);
  return table;
}

/**
 * One frame as a worker runs it: decode, check, resolve SKU refs through `table` (as the
 * WebSocket server does), run, encode the answer frame.
 */
function runFrame(
  codec: WireCodec,
  runner: BatchRunner,
  bytes: Uint8Array,
  log: SharedLog,
  table: SkuTable | null = null,
  engine: Engine | null = null,
) {
  const decoded = codec.decodeRequestFrame(bytes);
  if (!decoded.ok) throw new Error(`bench: ${decoded.message}`);
  const [id, op, args] = decoded.requests[0];
  const checked = validateArgs(op as 'placeOrders' | 'availabilityMany', args);
  if (!checked.ok) throw new Error(`bench: ${checked.error.message}`);
  const many = checked.args as AvailabilityManyArgs;
  if (table !== null && engine !== null && many.skuRefs !== undefined) {
    const refused = table.resolve(many.skuRefs, undefined, undefined, engine, SKU_INDEX_SCRATCH);
    if (refused !== null) throw new Error(`bench: ${refused.message}`);
    many.skuIndexes = SKU_INDEX_SCRATCH;
  }
  const value =
    op === 'placeOrders'
      ? runner.placeOrders(checked.args as never, () => log.ring.tail())
      : runner.availabilityMany(checked.args as never);
  const answer: WireMessage[] = [[id, MessageKinds.OK, value]];
  // As the WebSocket server encodes it: into the codec's buffer, copied by uWS's send.
  codec.encodeMessagesTransient(answer);
}

export function nodePathCases(
  engine: Engine,
  skus: number,
  log: { log: SharedLog; drain(): void },
): { orders: NodePathCase; availability: NodePathCase; availabilityByRef: NodePathCase } {
  const codec = new WireCodec();
  const runner = new BatchRunner(engine);
  const orderBatch = 64;
  const framesMax = 4096;
  let frames = orderFrames(codec, skus, orderBatch, framesMax, 'np0');
  let round = 0;
  let next = 0;
  const queryBatch = 16;
  const query = availabilityFrame(codec, skus, queryBatch, 20, false);
  const queryByRef = availabilityFrame(codec, skus, queryBatch, 20, true);
  const table = definedTable(engine, skus);
  return {
    orders: {
      entries: orderBatch,
      run() {
        if (next === frames.length) {
          // Fresh ids for the next round: placing an id twice answers "exists" instead.
          round++;
          frames = orderFrames(codec, skus, orderBatch, framesMax, `np${round}`);
          next = 0;
        }
        runFrame(codec, runner, frames[next++], log.log);
        log.drain();
      },
    },
    availability: {
      entries: queryBatch,
      run() {
        runFrame(codec, runner, query, log.log);
      },
    },
    availabilityByRef: {
      entries: queryBatch,
      run() {
        runFrame(codec, runner, queryByRef, log.log, table, engine);
      },
    },
  };
}
