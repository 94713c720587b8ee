import { describe, expect, it } from 'vitest';
import { SKU_REFS_MAX } from '../protocol/limits.js';
import { SkuTable } from './sku-table.js';

/** A catalogue that knows `ids` (index = position); counts its look-ups. */
function catalogue(ids: string[]) {
  const lookups: string[] = [];
  return {
    ids,
    lookups,
    skuIndexOf: (id: string) => {
      lookups.push(id);
      return ids.indexOf(id);
    },
  };
}

function resolve(
  table: SkuTable,
  known: ReturnType<typeof catalogue>,
  refs: number[],
  defines: [number, string][] = [],
) {
  const into = new Int32Array(refs.length).fill(99);
  const error = table.resolve(
    Int32Array.from(refs),
    defines.length === 0 ? undefined : Int32Array.from(defines.map(([ref]) => ref)),
    defines.length === 0 ? undefined : defines.map(([, id]) => id),
    known,
    into,
  );
  return { error, indexes: [...into] };
}

describe('SkuTable', () => {
  it('resolves defined refs to catalogue indexes, looking each id up once', () => {
    const table = new SkuTable();
    const known = catalogue(['milk', 'eggs', 'bread']);
    expect(
      resolve(
        table,
        known,
        [1, 0, 1],
        [
          [0, 'bread'],
          [1, 'milk'],
        ],
      ),
    ).toEqual({
      error: null,
      indexes: [0, 2, 0],
    });
    expect(resolve(table, known, [0, 1, 0])).toEqual({ error: null, indexes: [2, 0, 2] });
    expect(known.lookups).toEqual(['milk', 'bread']);
    expect(table.size).toBe(2);
  });

  it('answers -1 for an unknown SKU and looks it up again until the catalogue has it', () => {
    const table = new SkuTable();
    const known = catalogue(['milk']);
    expect(resolve(table, known, [0], [[0, 'tea']]).indexes).toEqual([-1]);
    expect(resolve(table, known, [0]).indexes).toEqual([-1]);
    known.ids.push('tea');
    expect(resolve(table, known, [0]).indexes).toEqual([1]);
    expect(resolve(table, known, [0]).indexes).toEqual([1]);
    expect(known.lookups).toEqual(['tea', 'tea', 'tea']);
  });

  it("refuses a ref no definition named, keeping none of the request's definitions", () => {
    const table = new SkuTable();
    const known = catalogue(['milk']);
    expect(resolve(table, known, [1], [[1, 'milk']]).error).toBeNull();
    const { error } = resolve(table, known, [0, 5], [[0, 'milk']]);
    expect(error).toMatchObject({ code: 'BAD_FIELD', field: 'skuRefs[1]' });
    expect(error?.message).toContain('ref 5 is not defined');
    expect(resolve(table, known, [0]).error).toMatchObject({ field: 'skuRefs[0]' });
    expect(resolve(table, known, [1]).error).toBeNull();
    expect(table.size).toBe(1);
    expect(resolve(table, known, [SKU_REFS_MAX - 1]).error).toMatchObject({ code: 'BAD_FIELD' });
  });

  it('refuses a definition that renames a ref, with nothing of the request applied', () => {
    const table = new SkuTable();
    const known = catalogue(['milk', 'eggs', 'tea']);
    expect(resolve(table, known, [0], [[0, 'milk']]).error).toBeNull();
    const renamed = resolve(
      table,
      known,
      [0, 1],
      [
        [1, 'eggs'],
        [0, 'tea'],
      ],
    );
    expect(renamed.error).toMatchObject({ code: 'BAD_FIELD', field: 'defineRefs[1]' });
    expect(renamed.error?.message).toContain("ref 0 is 'milk' on this connection, not 'tea'");
    // Ref 1's definition, valid on its own, was not applied either.
    expect(resolve(table, known, [1]).error).toMatchObject({ field: 'skuRefs[0]' });
    // Two definitions of one ref in one request must agree.
    const twice = resolve(
      table,
      known,
      [2],
      [
        [2, 'eggs'],
        [2, 'tea'],
      ],
    );
    expect(twice.error).toMatchObject({ field: 'defineRefs[1]' });
    // The same id again at the same ref is accepted (a client repeats unconfirmed ones).
    expect(resolve(table, known, [0], [[0, 'milk']]).error).toBeNull();
    expect(table.size).toBe(1);
  });

  it('grows to any ref below the limit, holes included', () => {
    const table = new SkuTable();
    const known = catalogue(['milk', 'eggs']);
    expect(
      resolve(
        table,
        known,
        [SKU_REFS_MAX - 1, 3],
        [
          [SKU_REFS_MAX - 1, 'eggs'],
          [3, 'milk'],
        ],
      ),
    ).toEqual({
      error: null,
      indexes: [1, 0],
    });
    expect(resolve(table, known, [4]).error).toMatchObject({ field: 'skuRefs[0]' });
  });
});
