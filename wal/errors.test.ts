/** The log's codes are the registry's: the same codes, kind and exit status (code-registry.ts). */

import { describe, expect, it } from 'vitest';
import { CODE_REGISTRY, exitCodeOf, OtherCodes } from '../protocol/index.js';
import { WAL_FAILURES, WalCodes, walError } from './errors.js';

describe('WalCodes', () => {
  it('are the registry codes of kind log, each with its exit status', () => {
    const logCodes = Object.entries(OtherCodes)
      .filter(([, entry]) => entry.kind === 'log')
      .map(([code]) => code);
    expect(Object.keys(WalCodes).sort()).toEqual(logCodes.sort());
    for (const [code, entry] of Object.entries(WalCodes)) {
      expect(entry.exitCode, code).toBe(exitCodeOf(code as keyof typeof WalCodes));
      expect(entry.hint.length, code).toBeGreaterThan(10);
    }
    for (const failure of WAL_FAILURES) expect(CODE_REGISTRY[failure].kind).toBe('log');
  });

  it('carry the registry exit status into a refusal', () => {
    const refused = walError('BAD_LOG_OPTIONS', 'policy must be fsync, write or none');
    expect(refused.error).toMatchObject({ code: 'BAD_LOG_OPTIONS', exitCode: 78 });
  });
});
