/**
 * The durability policies by name: `write` (renamed from `commit`, which is also an order
 * mode) and the deprecated alias a flag still accepts.
 */

import { describe, expect, it } from 'vitest';
import {
  DURABILITY_POLICIES,
  DURABILITY_POLICY_ALIASES,
  isDurabilityPolicy,
  parseDurabilityPolicy,
} from './constants.js';

describe('durability policies', () => {
  it('are fsync, write and none, in the order the ring stores them', () => {
    expect(DURABILITY_POLICIES).toEqual(['fsync', 'write', 'none']);
  });

  it('parse commit as the deprecated name of write, and nothing else as a policy', () => {
    expect(parseDurabilityPolicy('commit')).toBe('write');
    for (const policy of DURABILITY_POLICIES) expect(parseDurabilityPolicy(policy)).toBe(policy);
    for (const text of ['', 'sync', 'Commit', 'toString', '__proto__']) {
      expect(parseDurabilityPolicy(text), text).toBeNull();
    }
  });

  it('keep an alias out of the policies themselves', () => {
    expect(isDurabilityPolicy('commit')).toBe(false);
    for (const [alias, policy] of Object.entries(DURABILITY_POLICY_ALIASES)) {
      expect(isDurabilityPolicy(alias), alias).toBe(false);
      expect(isDurabilityPolicy(policy), policy).toBe(true);
    }
  });
});
