import { describe, expect, it } from 'vitest';
import { createOwnershipBuffer, OwnershipGate } from './ownership.js';

describe('OwnershipGate', () => {
  it('allows writes only to a primary before its deadline', () => {
    let now = 1_000n;
    const gate = new OwnershipGate(createOwnershipBuffer(), () => now);
    expect(gate.roleName()).toBe('standby');
    gate.extend(2_000n);
    expect(gate.writable()).toBe(false);
    gate.becomePrimary(4);
    expect(gate.writable()).toBe(true);
    expect(gate.epoch()).toBe(4);
    now = 2_000n;
    expect(gate.writable()).toBe(false);
  });

  it('never moves the deadline back, and a deposed node stays refused', () => {
    const now = 0n;
    const buffer = createOwnershipBuffer();
    const gate = new OwnershipGate(buffer, () => now);
    gate.becomePrimary(1);
    gate.extend(500n);
    gate.extend(100n);
    expect(gate.deadlineNs()).toBe(500n);
    // Another thread's view of the same memory agrees.
    expect(new OwnershipGate(buffer, () => now).writable()).toBe(true);
    gate.depose();
    gate.extend(900n);
    expect(gate.writable()).toBe(false);
    expect(gate.roleName()).toBe('deposed');
  });
});
