/**
 * The availability JSON writer against `JSON.stringify`, the one it must equal byte for byte:
 * answers of a real engine on seeded random networks, then shapes and values the engine does
 * not make today (the writer must give up on them or still equal `JSON.stringify`).
 */

import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { describeSeed, Prng, seedFromEnv } from '../engine/testing/index.js';
import { BatchRunner } from './batch.js';
import { AvailabilityJsonWriter, availabilityColumnsBody } from './http-json.js';

const SEED = seedFromEnv();
const REPLAY = `replay with ${describeSeed(SEED)}`;
const WRITER_BYTES = 1024 * 1024;
const NETWORKS = 8;
const QUERIES_PER_NETWORK = 60;

/** The writer's bytes as text, or null when it gave up. */
function written(writer: AvailabilityJsonWriter, value: unknown): string | null {
  const bytes = writer.availability(value);
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}

/** Equal to JSON.stringify, or given up. Returns whether the writer wrote. */
function expectExact(writer: AvailabilityJsonWriter, value: unknown, label: string): boolean {
  const text = written(writer, value);
  if (text !== null) expect(text, label).toBe(JSON.stringify(value));
  return text !== null;
}

function randomNetwork(prng: Prng) {
  const centre = { lat: prng.uniform(-60, 60), lng: prng.uniform(-170, 170) };
  const dcCount = prng.range(1, 12);
  const skuCount = prng.range(1, 60);
  const engine = Engine.create({
    dcCapacity: dcCount,
    skuCapacity: skuCount,
    dcsPerShard: dcCount,
    orderCapacity: 64,
  });
  const by = { actor: 'test' };
  for (let dc = 0; dc < dcCount; dc++) {
    const location = {
      lat: centre.lat + prng.uniform(-0.05, 0.05),
      lng: centre.lng + prng.uniform(-0.05, 0.05),
    };
    const speedKmh = prng.pick([15, 20, 33.3]);
    const result = engine.upsertDc(
      { id: `dc-${dc}`, name: `DC ${dc}`, location, radiusKm: prng.uniform(2, 12), speedKmh },
      by,
    );
    expect(result.ok, REPLAY).toBe(true);
  }
  // Ids as clients pick them: plain, integer-like (JSON orders those first), and ones the
  // writer leaves to JSON.stringify (non-ASCII, a quote).
  const skus = Array.from({ length: skuCount }, (_, index) =>
    prng.chance(0.95)
      ? prng.pick([`sku-${index}`, `${1000 - index}`, `SKU_${index}.x`])
      : prng.pick([`thé-${index}`, `q"${index}`]),
  );
  const ids = [...new Set(skus)];
  for (const id of ids) engine.upsertSku({ id, name: id }, by);
  for (let dc = 0; dc < dcCount; dc++) {
    for (const id of ids) {
      if (prng.chance(0.6)) engine.receive(`dc-${dc}`, id, prng.range(1, 100_000), by);
    }
  }
  return { engine, centre, ids };
}

/** A customer location within about 10 km of a network's centre. */
function near(prng: Prng, centre: { lat: number; lng: number }) {
  return { lat: centre.lat + prng.uniform(-0.1, 0.1), lng: centre.lng + prng.uniform(-0.1, 0.1) };
}

describe(`AvailabilityJsonWriter (${describeSeed(SEED)})`, () => {
  it('writes what JSON.stringify writes for real engine answers', () => {
    const prng = new Prng(SEED, 1);
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    let wrote = 0;
    let answers = 0;
    for (let network = 0; network < NETWORKS; network++) {
      const { engine, centre, ids } = randomNetwork(prng);
      for (let query = 0; query < QUERIES_PER_NETWORK; query++) {
        const count = prng.range(1, Math.min(ids.length + 2, 40));
        const skus = Array.from({ length: count }, () =>
          prng.chance(0.9) ? prng.pick(ids) : `unknown-${prng.int(5)}`,
        );
        const location = near(prng, centre);
        const result = engine.availability(location, skus, undefined, prng.chance(0.8));
        if (!result.ok) continue;
        const { ok: _ok, ...value } = result;
        answers++;
        const asciiOnly = skus.every((sku) => /^[\x20-\x7e]*$/.test(sku) && !sku.includes('"'));
        const label = `${REPLAY}: network ${network} query ${query}`;
        const exact = expectExact(writer, value, label);
        if (exact) wrote++;
        else expect(asciiOnly, `${label}: gave up on a plain answer`).toBe(false);
      }
    }
    expect(answers, REPLAY).toBeGreaterThan(NETWORKS * QUERIES_PER_NETWORK * 0.5);
    // Most answers take the fast path: the test would notice if it never did.
    expect(wrote, REPLAY).toBeGreaterThan(answers * 0.2);
  });

  it('writes the same JSON from the typed columns, or gives up where keys would move', () => {
    const prng = new Prng(SEED, 3);
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    let fromColumns = 0;
    let answers = 0;
    for (let network = 0; network < NETWORKS; network++) {
      const { engine, centre, ids } = randomNetwork(prng);
      const runner = new BatchRunner(engine);
      for (let query = 0; query < QUERIES_PER_NETWORK; query++) {
        // Half the queries as a search page asks: distinct ids, none integer-like.
        const named = ids.filter((id) => !/^[0-9]+$/.test(id));
        const pool = named.length > 0 && prng.chance(0.5) ? named : ids;
        const count = prng.range(1, Math.min(pool.length + 2, 40));
        const skus = prng.chance(0.5)
          ? [...pool].sort(() => prng.uniform(-1, 1)).slice(0, count)
          : Array.from({ length: count }, () =>
              prng.chance(0.9) ? prng.pick(pool) : `unknown-${prng.int(5)}`,
            );
        if (skus.length === 0) continue;
        const { lat, lng } = near(prng, centre);
        const breakdown = prng.chance(0.8);
        const result = engine.availability({ lat, lng }, skus, undefined, breakdown);
        const columns = runner.availabilityOne({ lat, lng, skus, breakdown });
        expect('code' in columns, REPLAY).toBe(!result.ok);
        if (!result.ok || 'code' in columns) continue;
        answers++;
        const { ok: _ok, ...value } = result;
        const bytes = writer.columns(columns, skus);
        const label = `${REPLAY}: network ${network} query ${query}`;
        const plain = skus.every((sku) => /^[\x20-\x7e]*$/.test(sku) && !sku.includes('"'));
        const reordered =
          new Set(skus).size !== skus.length || skus.some((sku) => /^(0|[1-9][0-9]*)$/.test(sku));
        if (bytes === null) {
          expect(plain && !reordered, `${label}: gave up on a plain answer`).toBe(false);
          continue;
        }
        fromColumns++;
        expect(Buffer.from(bytes).toString('utf8'), label).toBe(JSON.stringify(value));
      }
    }
    expect(answers, REPLAY).toBeGreaterThan(NETWORKS * QUERIES_PER_NETWORK * 0.5);
    expect(fromColumns, REPLAY).toBeGreaterThan(answers * 0.1);
  });

  it('writes form=columns as JSON.stringify writes its body, which agrees with the objects', () => {
    const prng = new Prng(SEED, 4);
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    let written = 0;
    let compared = 0;
    for (let network = 0; network < NETWORKS; network++) {
      const { engine, centre, ids } = randomNetwork(prng);
      const runner = new BatchRunner(engine);
      for (let query = 0; query < QUERIES_PER_NETWORK; query++) {
        const count = prng.range(0, Math.min(ids.length + 2, 40));
        const skus = Array.from({ length: count }, () =>
          prng.chance(0.9) ? prng.pick(ids) : `unknown-${prng.int(5)}`,
        );
        const { lat, lng } = near(prng, centre);
        const breakdown = prng.chance(0.8);
        const columns = runner.availabilityOne({ lat, lng, skus, breakdown });
        if ('code' in columns) continue;
        const label = `${REPLAY}: network ${network} query ${query}`;
        const body = availabilityColumnsBody(columns, skus.length);
        const bytes = writer.columnsForm(columns, skus.length);
        const plain = body.dcs.every(
          (id) => /^[\x20-\x7e]*$/.test(id) && !id.includes('"') && !id.includes('\\'),
        );
        expect(bytes === null, `${label}: gave up on plain DC ids`).toBe(!plain);
        if (bytes !== null) {
          written++;
          expect(Buffer.from(bytes).toString('utf8'), label).toBe(JSON.stringify(body));
        }
        // The body says what the object answer says, SKU by SKU and DC by DC.
        const result = engine.availability({ lat, lng }, skus, undefined, breakdown);
        if (!result.ok) continue;
        compared++;
        expect(body.available.length, label).toBe(skus.length);
        expect(body.dcs.length, label).toBe(result.dcsInRange);
        expect(body.perDc === null, label).toBe(!breakdown);
        skus.forEach((sku, index) => {
          const entry = result.skus[sku];
          expect(body.available[index], label).toBe(entry.unknown ? -1 : entry.available);
          expect(body.etaMinutes[index], label).toBe(entry.etaMinutes);
          if (body.perDc === null) return;
          const row = body.perDc.slice(index * body.dcs.length, (index + 1) * body.dcs.length);
          const expected = body.dcs.map(
            (dc) => entry.dcs.find((hit) => hit.dc === dc)?.available ?? 0,
          );
          expect(row, label).toEqual(expected);
          for (const hit of entry.dcs) {
            expect(body.dcEtaMinutes[body.dcs.indexOf(hit.dc)], label).toBe(hit.etaMinutes);
          }
        });
      }
    }
    expect(compared, REPLAY).toBeGreaterThan(NETWORKS * QUERIES_PER_NETWORK * 0.5);
    expect(written, REPLAY).toBeGreaterThan(compared * 0.5);
  });

  it('writes form=columns counts of every size, and gives up past its buffer', () => {
    const prng = new Prng(SEED, 5);
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    const i32 = (values: number[]) => new Uint8Array(Int32Array.from(values).buffer);
    const counts = [0, 9, 10, 99, 100, 999, 1000, 65_535, 2 ** 31 - 1];
    for (let round = 0; round < 200; round++) {
      const skuCount = prng.range(0, 8);
      const dcCount = prng.range(0, 5);
      const draw = () => (prng.chance(0.3) ? prng.pick(counts) : prng.int(2 ** 31 - 1));
      const columns = {
        dcCounts: i32([dcCount]),
        dcs: Array.from({ length: dcCount }, (_, index) => `dc-${index}`),
        dcIndex: i32(Array.from({ length: dcCount }, (_, index) => index)),
        dcEtaTenths: i32(Array.from({ length: dcCount }, () => prng.int(14_400))),
        available: i32(Array.from({ length: skuCount }, () => (prng.chance(0.1) ? -1 : draw()))),
        etaTenths: i32(Array.from({ length: skuCount }, () => prng.int(14_400) - 1)),
        perDc: prng.chance(0.2) ? null : i32(Array.from({ length: skuCount * dcCount }, draw)),
      };
      const bytes = writer.columnsForm(columns, skuCount);
      const body = availabilityColumnsBody(columns, skuCount);
      expect(bytes, REPLAY).not.toBeNull();
      expect(Buffer.from(bytes!).toString('utf8'), REPLAY).toBe(JSON.stringify(body));
    }
    const small = new AvailabilityJsonWriter(1024);
    const wide = {
      dcCounts: i32([4]),
      dcs: ['a', 'b', 'c', 'd'],
      dcIndex: i32([0, 1, 2, 3]),
      dcEtaTenths: i32([1, 2, 3, 4]),
      available: i32(Array.from({ length: 40 }, () => 1)),
      etaTenths: i32(Array.from({ length: 40 }, () => 1)),
      perDc: i32(Array.from({ length: 160 }, () => 1)),
    };
    expect(small.columnsForm(wide, 40)).toBeNull();
    expect(small.columnsForm({ ...wide, available: i32([5]), perDc: null }, 1)).not.toBeNull();
    // DC ids that need escapes are left to JSON.stringify.
    for (const id of ['a"b', 'a\\b', 'thé', 'a\nb']) {
      expect(writer.columnsForm({ ...wide, dcs: ['a', 'b', id, 'd'] }, 40), id).toBeNull();
    }
  });

  it('writes numbers as JSON does, or gives up', () => {
    const prng = new Prng(SEED, 2);
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    const special = [0, -0, 1, 9, 10, 99, 100, 0.1, 0.5, 14.6, 59.9, 1e14 + 0.5, 1e15 - 1, 1e15];
    const more = [1e21, 1e-7, -3, -0.5, 2 ** 53, Number.NaN, Infinity, -Infinity, 123.456];
    const values: number[] = [...special, ...more];
    for (let index = 0; index < 2_000; index++) {
      values.push(
        prng.pick([
          prng.int(1_000_000),
          Math.round(prng.uniform(0, 1440) * 10) / 10,
          prng.uniform(-1e6, 1e6),
          prng.uniform(0, 1) * 10 ** prng.range(-10, 25),
        ]),
      );
    }
    for (const number of values) {
      const value = {
        skus: {
          a: {
            available: number,
            etaMinutes: number,
            dcs: [{ dc: 'd', available: 1, etaMinutes: number }],
          },
        },
      };
      expect(written(writer, value), `${REPLAY}: ${number}`).toBe(JSON.stringify(value));
    }
  });

  it('gives up on anything it does not know, never writing something else', () => {
    const writer = new AvailabilityJsonWriter(WRITER_BYTES);
    const entry = () => ({
      available: 1,
      etaMinutes: 2.5,
      dcs: [{ dc: 'd', available: 1, etaMinutes: 2.5 }],
    });
    const withToJson = { skus: { a: entry() }, toJSON: () => 'x' };
    class Answer {
      skus = { a: entry() };
    }
    const polluted = Object.create({ inherited: 1 });
    polluted.skus = { a: entry() };
    const nullPrototype = Object.assign(Object.create(null), { a: entry(), toJSON: entry() });
    const cases: [string, unknown][] = [
      ['not an object', 'skus'],
      ['null', null],
      ['an array', [entry()]],
      ['no skus', {}],
      ['another key', { skus: {}, more: 1 }],
      ['skus not an object', { skus: 3 }],
      ['an unknown entry key', { skus: { a: { ...entry(), lowStock: true } } }],
      ['an unknown DC key', { skus: { a: { ...entry(), dcs: [{ dc: 'd', shelf: 3 }] } } }],
      ['a string where a number goes', { skus: { a: { ...entry(), available: '1' } } }],
      ['undefined, which JSON skips', { skus: { a: { ...entry(), etaMinutes: undefined } } }],
      ['dcs not an array', { skus: { a: { ...entry(), dcs: {} } } }],
      ['a DC id that is not a string', { skus: { a: { ...entry(), dcs: [{ dc: 7 }] } } }],
      ['unknown not a boolean', { skus: { a: { ...entry(), unknown: 1 } } }],
      ['a toJSON method', withToJson],
      ['a class instance', new Answer()],
      ['an inherited key', polluted],
      ['escapes in an id', { skus: { 'a\\b': entry(), 'c\nd': entry() } }],
      ['non-ASCII ids', { skus: { é: entry(), '\ud800': entry() } }],
      ['an id past 64 characters', { skus: { [`x${'y'.repeat(64)}`]: entry() } }],
    ];
    for (const [label, value] of cases) {
      expect(written(writer, value), label).toBeNull();
    }
    // Keys JSON orders first (integer-like), a SKU named toJSON, booleans: written exactly.
    const exact: unknown[] = [
      { skus: { b: entry(), '10': entry(), '2': entry(), toJSON: entry() } },
      { skus: nullPrototype },
      { skus: { a: { ...entry(), unknown: true }, c: { unknown: false, available: 0, dcs: [] } } },
      { skus: {} },
      { skus: { a: { available: 0, etaMinutes: null, dcs: [] } } },
    ];
    for (const value of exact) {
      expect(written(writer, value)).toBe(JSON.stringify(value));
    }
  });

  it('gives up on an answer larger than its buffer, and reuses the buffer after', () => {
    const writer = new AvailabilityJsonWriter(4 * 1024);
    const dcs = Array.from({ length: 20 }, (_, index) => ({
      dc: `dc-${index}`,
      available: index,
      etaMinutes: 3.5,
    }));
    const skus: Record<string, unknown> = {};
    for (let index = 0; index < 10; index++)
      skus[`sku-${index}`] = { available: 1, etaMinutes: 3.5, dcs };
    expect(written(writer, { skus })).toBeNull();
    const small = { skus: { a: { available: 1, etaMinutes: 3.5, dcs: dcs.slice(0, 2) } } };
    const first = writer.availability(small);
    expect(first && Buffer.from(first).toString()).toBe(JSON.stringify(small));
    // Borrowed: the next answer overwrites the bytes of the previous one.
    const other = { skus: { b: { available: 2, etaMinutes: 4, dcs: [] } } };
    expect(written(writer, other)).toBe(JSON.stringify(other));
  });
});
