/**
 * The scenario suite of engine/testing/cases.ts, run against every implementation of the
 * engine's operations (the real Engine and the reference model): each must give the answers
 * the scenarios expect, keep its own invariants, and the two must agree answer for answer and
 * end in the same state.
 */

import { describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { Engine } from './engine.js';
import { CASE_CLOCK_START, CASE_CONFIG, CASE_NETWORK, CASES, type Case } from './testing/cases.js';
import { Model } from './testing/model.js';
import { compareWithModel } from './testing/model-compare.js';
import { canonical, differences, type OperationsApi, runOperation } from './testing/operations.js';

interface Subject {
  api: OperationsApi;
  clock: { now: number };
  problems(): string[];
}

const IMPLEMENTATIONS: Record<string, () => Subject> = {
  model: () => {
    const clock = { now: CASE_CLOCK_START };
    const model = new Model(resolveConfig(CASE_CONFIG), () => clock.now);
    return { api: model, clock, problems: () => model.problems() };
  },
  engine: () => {
    const clock = { now: CASE_CLOCK_START };
    const engine = Engine.create(CASE_CONFIG, { clock: () => clock.now });
    return { api: engine, clock, problems: () => engine.checkInvariants() };
  },
};

const cases = CASES.map((scenario): [string, Case] => [scenario.name, scenario]);

function setUp(subject: Subject): void {
  for (const operation of CASE_NETWORK) {
    expect(runOperation(subject.api, operation), JSON.stringify(operation)).toMatchObject({
      ok: true,
    });
  }
}

describe.each(Object.keys(IMPLEMENTATIONS))('%s', (name) => {
  it.each(cases)('%s', (_, scenario) => {
    const subject = IMPLEMENTATIONS[name]();
    setUp(subject);
    scenario.steps.forEach((step, index) => {
      subject.clock.now += step.advanceMs ?? 0;
      if (step.op === undefined) return;
      const answer = runOperation(subject.api, step.op);
      if (step.expect === undefined) return;
      expect(answer, `step ${index}: ${JSON.stringify(step.op)}`).toMatchObject(
        step.expect as object,
      );
    });
    expect(subject.problems()).toEqual([]);
  });
});

describe('the model and the engine agree', () => {
  it.each(cases)('%s', (_, scenario) => {
    const clock = { now: CASE_CLOCK_START };
    const engine = Engine.create(CASE_CONFIG, { clock: () => clock.now });
    const model = new Model(resolveConfig(CASE_CONFIG), () => clock.now);
    const steps = [...CASE_NETWORK.map((op) => ({ op, advanceMs: 0 })), ...scenario.steps];
    steps.forEach((step, index) => {
      clock.now += step.advanceMs ?? 0;
      if (step.op === undefined) return;
      const fromEngine = runOperation(engine, step.op);
      const fromModel = runOperation(model, step.op);
      const context = `step ${index}: ${JSON.stringify(step.op)}: engine ≠ model at`;
      expect(
        canonical(fromEngine) === canonical(fromModel) ? [] : differences(fromEngine, fromModel),
        context,
      ).toEqual([]);
    });
    expect(compareWithModel(engine, model)).toEqual([]);
  });
});
