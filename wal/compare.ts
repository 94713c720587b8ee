/**
 * Structural comparison of two engine states (plain objects, arrays, typed arrays, numbers,
 * strings, null), listing where they differ by path. `verify` uses it to compare a replayed
 * state with a snapshot.
 *
 * Invariant: at most `max` differences are listed (a broken state differs everywhere).
 */

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || ArrayBuffer.isView(value);
}

function show(value: unknown): string {
  if (isArrayLike(value)) return `[${value.length} items]`;
  if (typeof value === 'object' && value !== null) return '{…}';
  return JSON.stringify(value) ?? String(value);
}

export function diffValues(a: unknown, b: unknown, max: number): string[] {
  const out: string[] = [];
  walk(a, b, '$', out, max);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: string[], max: number): void {
  if (out.length >= max || Object.is(a, b)) return;
  if (isArrayLike(a) && isArrayLike(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} ≠ ${b.length}`);
    const length = Math.min(a.length, b.length);
    for (let i = 0; i < length && out.length < max; i++) {
      walk((a as ArrayLike<unknown>)[i], (b as ArrayLike<unknown>)[i], `${path}[${i}]`, out, max);
    }
    return;
  }
  if (
    typeof a === 'object' &&
    typeof b === 'object' &&
    a !== null &&
    b !== null &&
    !isArrayLike(a) &&
    !isArrayLike(b)
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of [...keys].sort()) {
      walk(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        `${path}.${key}`,
        out,
        max,
      );
    }
    return;
  }
  out.push(`${path}: ${show(a)} ≠ ${show(b)}`);
}
