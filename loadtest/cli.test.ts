/** The load tools' durability flag: a policy's name or its deprecated alias, within choices. */

import { describe, expect, it } from 'vitest';
import { policyFlag, UsageError } from './cli.js';

describe('policyFlag', () => {
  it('reads write, and commit as its deprecated name', () => {
    const choices = ['fsync', 'write', 'none'] as const;
    expect(policyFlag({ fsync: 'write' }, 'fsync', 'fsync', choices)).toBe('write');
    expect(policyFlag({ fsync: 'commit' }, 'fsync', 'fsync', choices)).toBe('write');
    expect(policyFlag({}, 'fsync', 'none', choices)).toBe('none');
  });

  it('refuses a policy outside the choices, even through its alias', () => {
    expect(() => policyFlag({ fsync: 'none' }, 'fsync', 'fsync', ['fsync', 'write'])).toThrow(
      UsageError,
    );
    expect(() => policyFlag({ fsync: 'commit' }, 'fsync', 'fsync', ['fsync'])).toThrow(
      /--fsync must be one of fsync/,
    );
    expect(() => policyFlag({ fsync: 'sync' }, 'fsync', 'fsync', ['fsync'])).toThrow(UsageError);
  });
});
