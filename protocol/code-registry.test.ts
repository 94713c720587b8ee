/**
 * The registry of codes against itself and against the sources: each code is registered once,
 * as a wire code or as another code, with a meaning; every code a source uses is registered,
 * and every registered code is used; exit statuses have one value and one meaning each, and
 * no program spells one as a number of its own.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CODE_REGISTRY,
  EXIT_CODE_MEANINGS,
  ExitCodes,
  exitCodeOf,
  isRegisteredCode,
  OtherCodes,
} from './code-registry.js';
import { ErrorCodes, LineCodes } from './codes.js';

const ROOT = resolve(import.meta.dirname, '..');
const LAYERS = ['protocol', 'engine', 'wal', 'cluster', 'edge', 'bench', 'loadtest', 'tools'];
/** The files that define codes rather than use them. */
const DEFINITIONS = ['protocol/codes.ts', 'protocol/code-registry.ts'];

/**
 * Words in SCREAMING case that sources spell and that are not codes: signals, errno names,
 * environment variables, HTTP methods, other systems' commands (Redis, SQL, NATS KV), and
 * names from the outside world. A new one is added here on purpose, or registered as a code.
 */
const NOT_CODE_PATTERNS = [/^SIG[A-Z]+$/, /^E[A-Z]+$/, /^INVENTORY_[A-Z_]+$/];
const NOT_CODES = new Set([
  // The older name of INVENTORY_ADMIN_KEY (wal/command-line.ts).
  'ADMIN_KEY',
  // HTTP methods, and the NATS KV operation.
  'GET',
  'POST',
  'PUT',
  'DELETE',
  // Redis commands and their arguments, PostgreSQL statements and settings (loadtest/compare).
  'ASC',
  'BYRADIUS',
  'DECRBY',
  'FROMLONLAT',
  'GEOSEARCH',
  'HMGET',
  'MGET',
  'WITHDIST',
  'PONG',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'UTF8',
  // Prometheus text's `# HELP`, a uWebSockets.js export, the comparison's verdicts.
  'HELP',
  'DISABLED',
  'PASS',
  'FAIL',
  // Place and brand names of the demo network and the load tests' metros.
  'DUMBO',
  'MDH',
  'MET',
  'MTR',
  'NIC',
]);

interface Source {
  path: string;
  text: string;
}

function* sourceFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.c?ts$/.test(name) && !name.endsWith('.test.ts')) yield path;
  }
}

function readSources(): Source[] {
  return LAYERS.flatMap((layer) =>
    [...sourceFiles(join(ROOT, layer))].map((file) => ({
      path: relative(ROOT, file),
      text: readFileSync(file, 'utf8'),
    })),
  );
}

const SOURCES = readSources();
const USERS = SOURCES.filter((source) => !DEFINITIONS.includes(source.path));

function isNotCode(word: string): boolean {
  return NOT_CODES.has(word) || NOT_CODE_PATTERNS.some((pattern) => pattern.test(word));
}

describe('the registry of codes', () => {
  it('lists each code once, as a wire code or another code, with a meaning', () => {
    const wire = Object.keys(ErrorCodes);
    const other = Object.keys(OtherCodes);
    expect(wire.filter((code) => other.includes(code))).toEqual([]);
    expect(Object.keys(CODE_REGISTRY).sort()).toEqual([...wire, ...other].sort());
    for (const [code, entry] of Object.entries(CODE_REGISTRY)) {
      expect(code, code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(entry.meaning.length, code).toBeGreaterThan(5);
      expect(entry.kind === 'wire', code).toBe(wire.includes(code));
      if (entry.exit !== null) expect(Object.keys(ExitCodes), code).toContain(entry.exit);
    }
    for (const code of Object.values(LineCodes)) expect(wire, code).toContain(code);
  });

  it('gives each exit status one value and one meaning', () => {
    const values = Object.values(ExitCodes);
    expect(new Set(values).size).toBe(values.length);
    expect(Object.keys(EXIT_CODE_MEANINGS).sort()).toEqual(Object.keys(ExitCodes).sort());
    for (const value of values)
      expect(Number.isInteger(value) && value >= 0 && value < 256).toBe(true);
    expect(exitCodeOf('DATA_DIR_LOCKED')).toBe(75);
    expect(exitCodeOf('BAD_USAGE')).toBe(64);
    expect(exitCodeOf('OUT_OF_STOCK')).toBeNull();
  });

  it('registers every code a source uses', () => {
    const unregistered: string[] = [];
    for (const { path, text } of USERS) {
      for (const [, word] of text.matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)) {
        if (!isRegisteredCode(word) && !isNotCode(word)) unregistered.push(`${path}: ${word}`);
      }
    }
    expect(unregistered).toEqual([]);
  });

  it('keeps its list of words that are not codes free of codes and in use', () => {
    const everything = USERS.map((source) => source.text).join('\n');
    for (const word of NOT_CODES) {
      expect(isRegisteredCode(word), word).toBe(false);
      expect(everything.includes(`'${word}'`), word).toBe(true);
    }
  });

  it('uses every code it registers', () => {
    const everything = USERS.map((source) => source.text).join('\n');
    const unused = Object.keys(CODE_REGISTRY).filter(
      (code) =>
        !everything.includes(`'${code}'`) &&
        !new RegExp(`\\b(ErrorCodes|LineCodes|WalCodes)\\.${code}\\b`).test(everything),
    );
    expect(unused).toEqual([]);
    const exitsUnused = Object.keys(ExitCodes).filter(
      (name) => !new RegExp(`\\bExitCodes\\.${name}\\b`).test(everything),
    );
    expect(exitsUnused).toEqual([]);
  });

  it('is where every exit status is spelled as a number', () => {
    const spelled: string[] = [];
    const patterns = [
      /\bEXIT_[A-Z_]+\s*=\s*\d/g,
      /\bexitCode\s*[=:]\s*\d/g,
      /process\.exit\(\s*(?![01]\s*\))\d+\s*\)/g,
    ];
    for (const { path, text } of USERS) {
      for (const pattern of patterns) {
        for (const match of text.matchAll(pattern)) spelled.push(`${path}: ${match[0]}`);
      }
    }
    expect(spelled).toEqual([]);
  });
});
