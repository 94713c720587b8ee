/**
 * API keys and roles: loading a key file or an environment variable, generating the demo's
 * keys, and telling which role a presented key has.
 *
 * Invariants: a key is compared only through SHA-256 digests and `timingSafeEqual`, against
 * every configured key, so neither the match position nor a common prefix shows in the timing;
 * keys are never logged by this module; a key file is written with mode 0600; a key set always
 * has at least one key and every key is KEY_LENGTH_MIN..KEY_LENGTH_MAX printable characters.
 */

import { CONNECTION_KEYS_MAX } from './connection-limits.js';
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { isRole, type Role } from '../protocol/messages.js';
import { KEY_BYTES, KEY_LENGTH_MAX, KEY_LENGTH_MIN, KEYS_PER_ROLE_MAX } from './constants.js';

export const ROLES: readonly Role[] = ['reader', 'orderer', 'admin'];

/** One key per role, as the demo writes and prints them. */
export type DemoKeys = Record<Role, string>;

/** The configured keys: per role, one or more (several allow rotation). */
export type KeyConfig = Record<Role, string[]>;

export class KeyConfigError extends Error {
  readonly code = 'BAD_KEYS';
}

function digest(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

/** Who presented a key: its role, and a name for the change log that does not reveal it. */
export interface KeyIdentity {
  role: Role;
  /** `<role>-key-<n>`: the n-th configured key of the role, counting from 1. */
  actor: string;
  /** The key's position in the ring (0-based): its slot in per-key shared counters. */
  index: number;
}

/** Compares presented keys against the configured ones in constant time per configured key. */
export class KeyRing {
  private readonly digests: Buffer[] = [];
  private readonly identities: KeyIdentity[] = [];

  constructor(config: KeyConfig) {
    for (const role of ROLES) {
      config[role].forEach((key, index) => {
        this.digests.push(digest(key));
        this.identities.push({
          role,
          actor: `${role}-key-${index + 1}`,
          index: this.identities.length,
        });
      });
    }
    if (this.digests.length === 0) throw new KeyConfigError('no API keys configured');
    if (this.digests.length > CONNECTION_KEYS_MAX) {
      throw new KeyConfigError(`at most ${CONNECTION_KEYS_MAX} API keys may be configured`);
    }
  }

  /**
   * The identity of a key, or null. Every configured digest is compared even after a match,
   * so the time taken does not depend on which key matched.
   */
  identifyKey(key: string): KeyIdentity | null {
    if (key.length === 0 || key.length > KEY_LENGTH_MAX) return null;
    const presented = digest(key);
    let found = -1;
    for (let index = 0; index < this.digests.length; index++) {
      if (timingSafeEqual(presented, this.digests[index]) && found < 0) found = index;
    }
    return found < 0 ? null : this.identities[found];
  }

  /** The identity behind an `Authorization: Bearer <key>` header value, or null. */
  identify(authorization: string): KeyIdentity | null {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return match === null ? null : this.identifyKey(match[1]);
  }
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

/**
 * Parses `{ "reader": key | [keys], "orderer": ..., "admin": ... }`. A missing role has no
 * keys; at least one key must be present overall; unknown fields are refused (a typo would
 * otherwise silently leave a role without its key).
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
    const list = Array.isArray(value) ? value : [value];
    if (list.length > KEYS_PER_ROLE_MAX) {
      throw new KeyConfigError(`${source}: more than ${KEYS_PER_ROLE_MAX} ${field} keys`);
    }
    config[field] = list.map((key) => checkKey(field, key));
  }
  if (ROLES.every((role) => config[role].length === 0)) {
    throw new KeyConfigError(`${source}: no keys`);
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

/** Reads a demo key file written by `writeDemoKeys`: exactly one key per role. */
export function readDemoKeys(path: string): DemoKeys | null {
  let config: KeyConfig;
  try {
    config = loadKeyFile(path);
  } catch {
    return null;
  }
  if (ROLES.some((role) => config[role].length !== 1)) return null;
  return { reader: config.reader[0], orderer: config.orderer[0], admin: config.admin[0] };
}
