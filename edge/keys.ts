/**
 * API keys and roles: loading a key file or an environment variable, generating the demo's
 * keys, telling which role a presented key has, and giving each key a stable slot in the
 * node's per-key shared counters across reloads.
 *
 * A key file names, per role, one key or a list of entries; an entry is a plain key (its id is
 * `<role>-key-<n>`), `{ "id", "key" }`, or `{ "id", "sha256" }` holding only the SHA-256 digest
 * of the key (hex), so that a leaked file does not leak access. An object entry may override
 * the node's per-key limits (`requestsPerSecond`, `burst`, `connectionsMax`).
 *
 * Invariants: a key is compared only through SHA-256 digests and `timingSafeEqual`, against
 * every configured digest, so neither the match position nor a common prefix shows in the
 * timing (a digest from the file is compared exactly like the digest of a plain key); keys are
 * never logged and never leave the main thread (worker threads get digests); ids are unique in
 * a key set and so are keys; a key file is written with mode 0600; a key set always has at
 * least one key and every plain key is KEY_LENGTH_MIN..KEY_LENGTH_MAX printable characters. A
 * key keeps its slot while it stays in the key set (same id, role and key); a removed key's
 * slot is reused only once every worker has dropped the key and its connections are closed.
 */

import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { isRole, type Role } from '../protocol/index.js';
import { CONNECTION_KEYS_MAX } from './connection-limits.js';
import {
  CONNECTIONS_MAX,
  KEY_BYTES,
  KEY_LENGTH_MAX,
  KEY_LENGTH_MIN,
  KEYS_PER_ROLE_MAX,
  RATE_REQUESTS_PER_SECOND_MAX,
} from './constants.js';
import { KEY_BURST_MAX } from './rate-limiter.js';

export const ROLES: readonly Role[] = ['reader', 'orderer', 'admin'];

/** A key id: what logs, metrics and the change log name a key by. */
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** A SHA-256 digest in hex. */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** The fields an object entry may have; any other is refused as a likely typo. */
const ENTRY_FIELDS = new Set([
  'id',
  'key',
  'sha256',
  'requestsPerSecond',
  'burst',
  'connectionsMax',
]);

/** One key per role, as the demo writes and prints them. */
export type DemoKeys = Record<Role, string>;

/** A key given with its id: the key itself or only its SHA-256 digest, and optional limits. */
export interface KeySpec {
  id: string;
  /** The key itself; or, instead: */
  key?: string;
  /** The SHA-256 digest of the key's UTF-8 bytes, in hex (`printf %s "$KEY" | sha256sum`). */
  sha256?: string;
  /** Overrides `--key-rate` for this key. */
  requestsPerSecond?: number;
  /** Overrides `--key-burst` for this key. */
  burst?: number;
  /** Overrides `--connections-per-key` for this key. */
  connectionsMax?: number;
}

/** A plain key (its id is `<role>-key-<n>`) or a key with its id. */
export type KeyEntry = string | KeySpec;

/** The configured keys: per role, one or more (several allow rotation). */
export type KeyConfig = Record<Role, KeyEntry[]>;

/**
 * A key as the worker threads know it: its digest, never the key, and the slot of its shared
 * counters (connections, request rate). Structured-cloneable.
 */
export interface KeyRecord {
  id: string;
  role: Role;
  /** SHA-256 of the key, lower-case hex. */
  sha256: string;
  /** Index of the key's per-key shared counters, 0..CONNECTION_KEYS_MAX-1. */
  slot: number;
  /** Per-key overrides; null: the node's default. */
  requestsPerSecond: number | null;
  burst: number | null;
  connectionsMax: number | null;
}

/** The key set the threads serve; each reload makes a new generation. */
export interface KeyTable {
  generation: number;
  keys: KeyRecord[];
}

export class KeyConfigError extends Error {
  readonly code = 'BAD_KEYS';
}

/** Distinct matching `Authorization` values a thread remembers (KeyRing.identify). */
const IDENTIFIED_CACHED_MAX = 64;

function digest(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/** Who presented a key: its role, and a name for the change log that does not reveal it. */
export interface KeyIdentity {
  role: Role;
  /** The key's id: `<role>-key-<n>` for a plain key (the n-th of its role, from 1). */
  actor: string;
  /** The key's slot in per-key shared counters. */
  index: number;
  /** The key's own cap on WebSocket connections; null: the node's. */
  connectionsMax: number | null;
}

/** Compares presented keys against the configured ones in constant time per configured key. */
export class KeyRing {
  private digests: Buffer[] = [];
  private identities: KeyIdentity[] = [];
  /** Slot → identity, for the keys of the current table. */
  private bySlot = new Map<number, KeyIdentity>();
  private tableGeneration = 0;
  /**
   * `Authorization` values that matched a key, so a client sending the same one request after
   * request (HTTP keep-alive, pipelining) costs a map look-up instead of a SHA-256 and the
   * comparisons. Only matches are kept, at most IDENTIFIED_CACHED_MAX, and the map is emptied
   * on every reload: a removed key is refused from the reload on, as before.
   */
  private identified = new Map<string, KeyIdentity>();

  constructor(source: KeyConfig | KeyTable) {
    this.load(isKeyTable(source) ? source : keyTableOf(resolveKeyConfig(source), 1));
  }

  get generation(): number {
    return this.tableGeneration;
  }

  /** Serves `table` from now on: keys not in it are refused from this call on. */
  load(table: KeyTable): void {
    if (table.keys.length === 0) throw new KeyConfigError('no API keys configured');
    const digests: Buffer[] = [];
    const identities: KeyIdentity[] = [];
    const bySlot = new Map<number, KeyIdentity>();
    for (const record of table.keys) {
      if (!Number.isInteger(record.slot) || record.slot < 0 || record.slot >= CONNECTION_KEYS_MAX) {
        throw new KeyConfigError(`key ${record.id}: slot ${record.slot} out of range`);
      }
      const identity: KeyIdentity = {
        role: record.role,
        actor: record.id,
        index: record.slot,
        connectionsMax: record.connectionsMax,
      };
      digests.push(Buffer.from(record.sha256, 'hex'));
      identities.push(identity);
      bySlot.set(record.slot, identity);
    }
    this.digests = digests;
    this.identities = identities;
    this.bySlot = bySlot;
    this.tableGeneration = table.generation;
    this.identified = new Map();
  }

  /**
   * The identity of a key, or null. Every configured digest is compared even after a match,
   * so the time taken does not depend on which key matched.
   */
  identifyKey(key: string): KeyIdentity | null {
    if (key.length === 0 || key.length > KEY_LENGTH_MAX) return null;
    const presented = digest(key);
    const digests = this.digests;
    let found = -1;
    for (let index = 0; index < digests.length; index++) {
      if (timingSafeEqual(presented, digests[index]) && found < 0) found = index;
    }
    return found < 0 ? null : this.identities[found];
  }

  /** The identity behind an `Authorization: Bearer <key>` header value, or null. */
  identify(authorization: string): KeyIdentity | null {
    const known = this.identified.get(authorization);
    if (known !== undefined) return known;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    const identity = match === null ? null : this.identifyKey(match[1]);
    if (identity !== null) {
      if (this.identified.size >= IDENTIFIED_CACHED_MAX) this.identified.clear();
      this.identified.set(authorization, identity);
    }
    return identity;
  }

  /** Whether the key behind `identity` is still served (false once a reload removed it). */
  holds(identity: KeyIdentity): boolean {
    const current = this.bySlot.get(identity.index);
    return (
      current !== undefined && current.actor === identity.actor && current.role === identity.role
    );
  }
}

function isKeyTable(source: KeyConfig | KeyTable): source is KeyTable {
  return typeof (source as KeyTable).generation === 'number';
}

/** A key resolved from a config: everything of a KeyRecord but its slot. */
export type ResolvedKey = Omit<KeyRecord, 'slot'>;

/** A table whose slots are the keys' positions: for a key set that is never reloaded. */
export function keyTableOf(keys: readonly ResolvedKey[], generation: number): KeyTable {
  return { generation, keys: keys.map((key, slot) => ({ ...key, slot })) };
}

function checkKey(role: Role, key: unknown): string {
  if (typeof key !== 'string') throw new KeyConfigError(`a ${role} key is not a string`);
  if (key.length < KEY_LENGTH_MIN || key.length > KEY_LENGTH_MAX) {
    throw new KeyConfigError(
      `a ${role} key must be ${KEY_LENGTH_MIN}..${KEY_LENGTH_MAX} characters long`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new KeyConfigError(`a ${role} key has spaces or non-printable characters`);
  }
  return key;
}

function limitOf(id: string, name: string, value: unknown, max: number): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new KeyConfigError(`key ${id}: ${name} must be an integer in [1, ${max}]`);
  }
  return value;
}

/** Checks one object entry and resolves it (its digest, its limits). */
function resolveSpec(role: Role, spec: KeySpec): ResolvedKey {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new KeyConfigError(`a ${role} entry is neither a key nor an object`);
  }
  for (const field of Object.keys(spec)) {
    if (!ENTRY_FIELDS.has(field)) {
      throw new KeyConfigError(`a ${role} entry has an unknown field '${field}'`);
    }
  }
  const id = spec.id;
  if (typeof id !== 'string' || !KEY_ID.test(id)) {
    throw new KeyConfigError(
      `a ${role} entry's id must be 1..64 letters, digits and . _ : - (not first), ` +
        `got ${JSON.stringify(id)}`,
    );
  }
  if ((spec.key === undefined) === (spec.sha256 === undefined)) {
    throw new KeyConfigError(`key ${id}: give exactly one of "key" and "sha256"`);
  }
  let sha256: string;
  if (spec.key !== undefined) sha256 = digest(checkKey(role, spec.key)).toString('hex');
  else if (typeof spec.sha256 === 'string' && SHA256_HEX.test(spec.sha256)) {
    sha256 = spec.sha256.toLowerCase();
  } else {
    throw new KeyConfigError(`key ${id}: sha256 must be 64 hex digits`);
  }
  return {
    id,
    role,
    sha256,
    requestsPerSecond: limitOf(
      id,
      'requestsPerSecond',
      spec.requestsPerSecond,
      RATE_REQUESTS_PER_SECOND_MAX,
    ),
    burst: limitOf(id, 'burst', spec.burst, KEY_BURST_MAX),
    connectionsMax: limitOf(id, 'connectionsMax', spec.connectionsMax, CONNECTIONS_MAX),
  };
}

/**
 * Checks a key config and resolves every entry to its id, digest and limits, roles in the
 * order reader, orderer, admin. Refuses an empty set, two entries with one id, and one key
 * given twice (which of its entries would it be?).
 */
export function resolveKeyConfig(config: KeyConfig): ResolvedKey[] {
  const resolved: ResolvedKey[] = [];
  for (const role of ROLES) {
    const entries = config[role] ?? [];
    if (entries.length > KEYS_PER_ROLE_MAX) {
      throw new KeyConfigError(`more than ${KEYS_PER_ROLE_MAX} ${role} keys`);
    }
    entries.forEach((entry, index) => {
      if (typeof entry !== 'string') {
        resolved.push(resolveSpec(role, entry));
        return;
      }
      const sha256 = digest(checkKey(role, entry)).toString('hex');
      const id = `${role}-key-${index + 1}`;
      resolved.push({
        id,
        role,
        sha256,
        requestsPerSecond: null,
        burst: null,
        connectionsMax: null,
      });
    });
  }
  if (resolved.length === 0) throw new KeyConfigError('no API keys configured');
  const ids = new Set<string>();
  const digests = new Map<string, string>();
  for (const key of resolved) {
    if (ids.has(key.id)) throw new KeyConfigError(`two keys have the id ${key.id}`);
    ids.add(key.id);
    const other = digests.get(key.sha256);
    if (other !== undefined) {
      throw new KeyConfigError(`keys ${other} and ${key.id} are the same key`);
    }
    digests.set(key.sha256, key.id);
  }
  return resolved;
}

export function generateDemoKeys(random: (bytes: number) => Buffer = randomBytes): DemoKeys {
  return {
    reader: random(KEY_BYTES).toString('hex'),
    orderer: random(KEY_BYTES).toString('hex'),
    admin: random(KEY_BYTES).toString('hex'),
  };
}

export function demoKeysToConfig(keys: DemoKeys): KeyConfig {
  return { reader: [keys.reader], orderer: [keys.orderer], admin: [keys.admin] };
}

/**
 * Parses `{ "reader": entry | [entries], "orderer": ..., "admin": ... }` (see the file's
 * header for the entries) and checks it as `resolveKeyConfig` does. A missing role has no
 * keys; unknown fields are refused (a typo would otherwise silently leave a role without its
 * key).
 */
export function parseKeyConfig(text: string, source: string): KeyConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KeyConfigError(`${source}: not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KeyConfigError(`${source}: expected an object of role → key`);
  }
  const config: KeyConfig = { reader: [], orderer: [], admin: [] };
  for (const [field, value] of Object.entries(parsed)) {
    if (!isRole(field)) throw new KeyConfigError(`${source}: unknown role '${field}'`);
    config[field] = (Array.isArray(value) ? value : [value]) as KeyEntry[];
  }
  try {
    resolveKeyConfig(config);
  } catch (error) {
    if (error instanceof KeyConfigError) throw new KeyConfigError(`${source}: ${error.message}`);
    throw error;
  }
  return config;
}

export function loadKeyFile(path: string): KeyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeyConfigError(`cannot read key file ${path}: ${(error as Error).message}`);
  }
  return parseKeyConfig(text, path);
}

/** Writes the demo keys readable by the owner only (mode 0600, also when the file existed). */
export function writeDemoKeys(path: string, keys: DemoKeys): void {
  writeFileSync(path, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  chmodSync(path, 0o600);
}

/** The demo keys of a config with exactly one plain key per role, else null. */
export function demoKeysOf(config: KeyConfig): DemoKeys | null {
  const plain = (role: Role) => {
    const entries = config[role];
    return entries.length === 1 && typeof entries[0] === 'string' ? entries[0] : null;
  };
  const reader = plain('reader');
  const orderer = plain('orderer');
  const admin = plain('admin');
  return reader === null || orderer === null || admin === null ? null : { reader, orderer, admin };
}

/** Reads a demo key file written by `writeDemoKeys`: exactly one plain key per role. */
export function readDemoKeys(path: string): DemoKeys | null {
  try {
    return demoKeysOf(loadKeyFile(path));
  } catch {
    return null;
  }
}

/** A slot's state in KeySlots: in the current table, retired at a generation, or never used. */
const SLOT_UNUSED = -1;
const SLOT_LIVE = 0;

/** What a reload changed, by key id. */
export interface KeyChanges {
  table: KeyTable;
  added: KeyRecord[];
  removed: KeyRecord[];
  kept: KeyRecord[];
}

/**
 * Gives keys their slots across reloads (main thread only). A key that stays (same id, role
 * and digest) keeps its slot, so its shared connection count and rate bucket carry on. A
 * removed key's slot is retired at the generation that dropped it, and reused only once every
 * worker has applied that generation (none can count a new connection on it any more) and
 * `inUse` says its last connection has closed.
 */
export class KeySlots {
  /** Per slot: SLOT_UNUSED, SLOT_LIVE, or the generation that retired it. */
  private readonly states = new Int32Array(CONNECTION_KEYS_MAX).fill(SLOT_UNUSED);
  private current: KeyRecord[] = [];
  private generation = 0;

  constructor(private readonly inUse: (slot: number) => boolean) {}

  /**
   * The next table for `keys`. `settledGeneration` is the newest generation every worker has
   * applied. Throws KeyConfigError when no slot is free (nothing is changed then).
   */
  next(keys: readonly ResolvedKey[], settledGeneration: number): KeyChanges {
    const previous = new Map(this.current.map((record) => [record.id, record]));
    const generation = this.generation + 1;
    const records: KeyRecord[] = [];
    const added: KeyRecord[] = [];
    const kept: KeyRecord[] = [];
    const taken = new Set<number>();
    for (const key of keys) {
      const old = previous.get(key.id);
      if (old !== undefined && old.role === key.role && old.sha256 === key.sha256) {
        const record = { ...key, slot: old.slot };
        records.push(record);
        kept.push(record);
        taken.add(old.slot);
        previous.delete(key.id);
      }
    }
    for (const key of keys) {
      if (records.some((record) => record.id === key.id)) continue;
      const slot = this.freeSlot(taken, settledGeneration);
      if (slot < 0) {
        throw new KeyConfigError(
          `no free key slot (${CONNECTION_KEYS_MAX}): connections of removed keys are still open`,
        );
      }
      taken.add(slot);
      const record = { ...key, slot };
      records.push(record);
      added.push(record);
    }
    const removed = [...previous.values()];
    for (const record of removed) this.states[record.slot] = generation;
    for (const record of records) this.states[record.slot] = SLOT_LIVE;
    this.current = records;
    this.generation = generation;
    return { table: { generation, keys: records }, added, removed, kept };
  }

  private freeSlot(taken: ReadonlySet<number>, settledGeneration: number): number {
    const states = this.states;
    for (let slot = 0; slot < states.length; slot++) {
      if (taken.has(slot)) continue;
      const state = states[slot];
      if (state === SLOT_UNUSED) return slot;
      if (state !== SLOT_LIVE && state <= settledGeneration && !this.inUse(slot)) return slot;
    }
    return -1;
  }
}
