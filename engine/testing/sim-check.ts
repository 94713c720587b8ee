/**
 * The simulator's checks of one round against the reference model: what the engine answered
 * and the records it appended, operation by operation.
 *
 * - `checkInProgramOrder`: one thread ran the round, so the engine's order is the program's.
 *   The model decides every operation itself, in that order; every answer and every record
 *   must be equal (records without the fingerprint, a hash only the engine computes).
 * - `checkInLogOrder`: several threads ran the round at once. The log's order (records sorted
 *   by ticket) is the linearization. Walking it, an operation on an order that decides only
 *   from the order (confirm, cancel, extend, fulfil, a look-up, a retry, an expiry) is decided
 *   by the model at its record and must be equal; a reservation (place, change) depends on
 *   what other threads had taken at that instant, so the model applies the engine's record
 *   after checking it is legal (lines served exactly, DCs in range, the ETA they imply, no
 *   more taken than is free) and the answer must be the order as the model then has it. An
 *   operation that appended nothing is checked just before its thread's next record: the
 *   order it saw is the one the model has there (only its own thread moves an order, apart
 *   from expiry, which does not change within a round); answers that depend on the counters
 *   (a refusal for stock, a stock read) are checked for their kind only.
 *
 * Either throws Mismatch with the operation, both answers and where they differ.
 */

import type { LogRecord } from '../log.js';
import type { OrderLineInput, PlaceOrderInput } from '../types.js';
import { type Model, ModelViolation, STOCK_REFUSALS } from './model.js';
import {
  type Answer,
  canonical,
  comparable,
  comparableRecord,
  differences,
  type Operation,
  runOperation,
} from './operations.js';
import { CONTESTED_PREFIX } from './sim-workload.js';

export interface Appended {
  ticket: number;
  record: LogRecord;
}

export interface Executed {
  operation: Operation;
  answer: Answer;
  records: Appended[];
  /** Where it ran, for reports (stream and position in the batch). */
  origin: string;
}

export class Mismatch extends Error {
  readonly code = 'SIMULATION_MISMATCH';
  /** Orders the mismatch is about: the report shows what happened to them before. */
  readonly orderIds: string[];

  constructor(
    readonly what: string,
    readonly details: string[],
    orderIds: string[] = [],
  ) {
    super(`${what}\n  ${details.join('\n  ')}`);
    const fromDetails = details.flatMap((line) =>
      [...line.matchAll(/\.orders\.([^.\s]+)/g)].map((match) => match[1]),
    );
    this.orderIds = [...new Set([...orderIds, ...fromDetails])];
  }
}

/** The order ids an operation and its records name. */
export function orderIdsOf(executed: Pick<Executed, 'operation' | 'records'>): string[] {
  const { operation } = executed;
  const ids = executed.records.flatMap((appended) =>
    'orderId' in appended.record ? [appended.record.orderId] : [],
  );
  if (operation.kind === 'place') ids.push(operation.input.orderId);
  else if ('orderId' in operation) ids.push(operation.orderId);
  return [...new Set(ids)];
}

type Refusal = { ok: false; error: { code: string } };

function refusalCode(answer: Answer): string | null {
  const plain = answer as Refusal | { ok: true };
  return plain !== null && typeof plain === 'object' && plain.ok === false
    ? plain.error.code
    : null;
}

function describe(executed: Executed): string[] {
  return [
    `operation (${executed.origin}): ${JSON.stringify(executed.operation)}`,
    `engine answered: ${canonical(executed.answer)}`,
  ];
}

function expectAnswer(
  executed: Executed,
  expected: Answer,
  why = 'engine and model answer differently',
): void {
  if (canonical(executed.answer) === canonical(expected)) return;
  throw new Mismatch(
    why,
    [
      ...describe(executed),
      `model answered:  ${canonical(expected)}`,
      ...differences(executed.answer, expected).map((line) => `engine ≠ model at ${line}`),
    ],
    orderIdsOf(executed),
  );
}

function expectRecords(executed: Executed, decided: LogRecord[]): void {
  const byOrder = (a: unknown, b: unknown) =>
    canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0;
  let written = executed.records.map((appended) => comparableRecord(appended.record));
  let expected = decided.map(comparableRecord);
  // A sweep's expiries come in the engine's bucket order, the model's in id order.
  if (executed.operation.kind === 'expire') {
    written = written.sort(byOrder);
    expected = expected.sort(byOrder);
  }
  if (canonical(written) === canonical(expected)) return;
  const ids = decided.flatMap((record) => ('orderId' in record ? [record.orderId] : []));
  throw new Mismatch(
    'engine and model log different records',
    [
      ...describe(executed),
      `engine records: ${canonical(written)}`,
      `model records:  ${canonical(expected)}`,
    ],
    [...orderIdsOf(executed), ...ids],
  );
}

/** What a record's operation asked for, so the model can check the record serves it. */
export function requestOf(operation: Operation): PlaceOrderInput | OrderLineInput[] | undefined {
  if (operation.kind === 'place') return operation.input;
  if (operation.kind === 'change') return operation.lines;
  return undefined;
}

/** Applies an engine record to the model; an illegal one is a Mismatch naming its operation. */
export function applyChecked(
  model: Model,
  record: LogRecord,
  executed: Executed | null,
  slack: boolean,
): void {
  try {
    model.applyRecord(record, executed === null ? undefined : requestOf(executed.operation), slack);
  } catch (error) {
    if (!(error instanceof ModelViolation)) throw error;
    const where = executed === null ? [] : describe(executed);
    const ids = [
      ...('orderId' in record ? [record.orderId] : []),
      ...(executed === null ? [] : orderIdsOf(executed)),
    ];
    throw new Mismatch(
      'the engine logged a record the model does not allow',
      [...where, error.message],
      ids,
    );
  }
}

/** One thread's round: the model decides every operation; answers and records must be equal. */
export function checkInProgramOrder(
  model: Model,
  executed: readonly Executed[],
  crashing: boolean,
): void {
  for (const item of executed) {
    // After the writer died the engine refuses changes; from the first refusal, so does the model.
    if (crashing && refusalCode(item.answer) === 'READ_ONLY') model.writable = false;
    const expected = runOperation(model, item.operation);
    const decided = model.takeRecords();
    // A sweep's records say which holds differ; its answer only how many.
    if (item.operation.kind === 'expire') expectRecords(item, decided);
    expectAnswer(item, expected);
    expectRecords(item, decided);
  }
}

/** Every record of a round with the operation that appended it, in the log's order. */
export function logOrder(
  lanes: readonly (readonly Executed[])[],
): { lane: number; index: number; appended: Appended }[] {
  const all: { lane: number; index: number; appended: Appended }[] = [];
  lanes.forEach((executed, lane) => {
    executed.forEach((item, index) => {
      for (const appended of item.records) all.push({ lane, index, appended });
    });
  });
  // Tickets are int32 ring positions: compare them wrap-safely (a round spans far less than 2^31).
  return all.sort((a, b) => (a.appended.ticket - b.appended.ticket) | 0);
}

/** Several threads' round, checked along the log's order (see the file's header). */
export function checkInLogOrder(
  model: Model,
  lanes: readonly (readonly Executed[])[],
  now: number,
): void {
  const next = lanes.map(() => 0);
  const catchUp = (lane: number, until: number) => {
    while (next[lane] < until) {
      const item = lanes[lane][next[lane]++];
      if (item.records.length === 0) checkWithoutRecords(model, item, now);
    }
  };
  for (const { lane, index, appended } of logOrder(lanes)) {
    catchUp(lane, index);
    if (next[lane] === index) next[lane]++;
    applyInLogOrder(model, lanes[lane][index], appended);
  }
  for (let lane = 0; lane < lanes.length; lane++) catchUp(lane, lanes[lane].length);
  for (const item of lanes.flat()) {
    if (item.operation.kind !== 'expire') continue;
    expectAnswer(item, { expired: item.records.length }, 'a sweep counts other than it logged');
  }
  model.clearSlack();
}

function applyInLogOrder(model: Model, executed: Executed, appended: Appended): void {
  const { operation } = executed;
  const { record } = appended;
  if (operation.kind === 'expire' || operation.kind === 'receive' || operation.kind === 'adjust') {
    applyChecked(model, record, executed, true);
    return;
  }
  if (record.type === 'place' || record.type === 'change') {
    applyChecked(model, record, executed, true);
    const order = model.order(record.orderId)!;
    const created = record.type === 'place';
    expectAnswer(executed, comparable({ ok: true, created, order: model.view(order) }));
    return;
  }
  // A transition of the order alone: the model decides it here, exactly.
  const expected = runOperation(model, operation);
  expectAnswer(executed, expected);
  expectRecords({ ...executed, records: [appended] }, model.takeRecords());
}

/** An operation that appended nothing, at its place in its thread's order. */
function checkWithoutRecords(model: Model, executed: Executed, now: number): void {
  const { operation } = executed;
  switch (operation.kind) {
    case 'stock':
    case 'availability':
    case 'check': {
      // Reads of counters other threads are moving: only the kind of answer is certain.
      const expected = runOperation(model, operation);
      const kind = (answer: Answer) => {
        const code = refusalCode(answer);
        return code === null || STOCK_REFUSALS.includes(code as never) ? 'ok or stock' : code;
      };
      if (kind(executed.answer) !== kind(expected)) expectAnswer(executed, expected);
      return;
    }
    case 'expire':
      expectAnswer(executed, { expired: 0 });
      return;
    case 'place':
      checkPreview(
        model,
        executed,
        model.previewPlacement(operation.input),
        operation.input.orderId,
        now,
      );
      return;
    case 'change':
      checkPreview(
        model,
        executed,
        model.previewChange(operation.orderId, operation.lines),
        operation.orderId,
        now,
      );
      return;
    default: {
      const expected = runOperation(model, operation);
      const decided = model.takeRecords();
      if (decided.length > 0) {
        throw new Mismatch(
          'the engine changed nothing where the model did',
          [
            ...describe(executed),
            `model answered: ${canonical(expected)}`,
            `model records: ${canonical(decided.map(comparableRecord))}`,
          ],
          orderIdsOf(executed),
        );
      }
      expectAnswer(executed, expected);
    }
  }
}

function checkPreview(
  model: Model,
  executed: Executed,
  preview: ReturnType<Model['previewPlacement']>,
  orderId: string,
  now: number,
): void {
  if (preview === 'expires') {
    throw new Mismatch(
      'the engine answered without expiring a due hold',
      describe(executed),
      orderIdsOf(executed),
    );
  }
  const code = refusalCode(executed.answer);
  const forStock = code !== null && STOCK_REFUSALS.includes(code as never);
  if (preview === 'allocate') {
    if (forStock) return;
    throw new Mismatch(
      'a reservation that logged nothing must be refused for stock',
      describe(executed),
      orderIdsOf(executed),
    );
  }
  // Another thread may have created a contested id after this one found it absent.
  if (forStock && model.order(orderId)?.createdAt === now && orderId.startsWith(CONTESTED_PREFIX))
    return;
  expectAnswer(executed, comparable(preview));
}
