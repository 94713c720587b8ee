/**
 * The node's own work per request, without the network and the disk: a protocol-v2 frame is
 * decoded and checked, its batch runs through the engine (orders append their records to a
 * real log ring), and the answer is encoded, exactly as a worker thread does it. Only the
 * socket and the log writer's commit are left out, so the figure is the CPU a node spends per
 * order or per query, the budget the wire targets are made of.
 *
 * The ring is drained in-line (as the writer would after a commit) so it never fills.
 */

import { BatchRunner } from '../edge/index.js';
import type { Engine } from '../engine/index.js';
import {
  f64ColumnOfNumbers,
  i32ColumnOfNumbers,
  MessageKinds,
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

function availabilityFrame(codec: WireCodec, skus: number, batch: number, perQuery: number) {
  const skuIds: string[] = [];
  for (let at = 0; at < batch * perQuery; at++) skuIds.push(`sku-${(at * 37) % skus}`);
  const args = {
    queries: batch,
    lat: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lat), batch),
    lng: f64ColumnOfNumbers(new Array(batch).fill(BENCH_CUSTOMER.lng), batch),
    skuCounts: i32ColumnOfNumbers(new Array(batch).fill(perQuery), batch),
    skus: skuIds,
    breakdown: true,
  };
  return codec.encodeRequests([[1, 'availabilityMany', args]]);
}

/** One frame as a worker runs it: decode, check, run, encode the answer frame. */
function runFrame(codec: WireCodec, runner: BatchRunner, bytes: Uint8Array, log: SharedLog) {
  const decoded = codec.decodeRequestFrame(bytes);
  if (!decoded.ok) throw new Error(`bench: ${decoded.message}`);
  const [id, op, args] = decoded.requests[0];
  const checked = validateArgs(op as 'placeOrders' | 'availabilityMany', args);
  if (!checked.ok) throw new Error(`bench: ${checked.error.message}`);
  const value =
    op === 'placeOrders'
      ? runner.placeOrders(checked.args as never, () => log.ring.tail())
      : runner.availabilityMany(checked.args as never);
  const answer: WireMessage[] = [[id, MessageKinds.OK, value]];
  codec.encodeMessages(answer);
}

export function nodePathCases(
  engine: Engine,
  skus: number,
  log: { log: SharedLog; drain(): void },
): { orders: NodePathCase; availability: NodePathCase } {
  const codec = new WireCodec();
  const runner = new BatchRunner(engine);
  const orderBatch = 64;
  const framesMax = 4096;
  let frames = orderFrames(codec, skus, orderBatch, framesMax, 'np0');
  let round = 0;
  let next = 0;
  const queryBatch = 16;
  const query = availabilityFrame(codec, skus, queryBatch, 20);
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
  };
}
