import { describe, expect, it } from 'vitest';
import { ERROR_CODE_LIST, ErrorCodes } from '../protocol/codes.js';
import { errorFromUnknown, httpStatusOf, statusLine } from './errors.js';

describe('error mapping', () => {
  it('gives every code its table status and a proper status line', () => {
    for (const code of ERROR_CODE_LIST) {
      const status = httpStatusOf(code);
      expect(status).toBe(ErrorCodes[code].status);
      expect(statusLine(status)).toMatch(new RegExp(`^${status} [A-Z]`));
    }
    expect(httpStatusOf('NOT_A_CODE')).toBe(500);
  });

  it('passes known codes through and hides anything else as INTERNAL', () => {
    expect(errorFromUnknown({ code: 'READ_ONLY', message: 'log failed' })).toEqual({
      code: 'READ_ONLY',
      message: 'log failed',
    });
    expect(errorFromUnknown(new Error('secret path /etc'))).toEqual({
      code: 'INTERNAL',
      message: ErrorCodes.INTERNAL.text,
    });
  });
});
