import { describe, expect, it } from 'vitest';
import { ACKS_ACROSS_DEADLINE, createLogger } from '../edge/index.js';
import { acksAcrossDeadline } from './failover.js';

describe('acksAcrossDeadline', () => {
  it('sums the acknowledgements a node reported as written across its deadline', () => {
    let output = '';
    const logger = createLogger({
      level: 'info',
      clock: () => 0,
      write: (line) => {
        output += line;
      },
    });
    logger.warn(ACKS_ACROSS_DEADLINE, { acknowledgements: 3 });
    logger.error('the lease lapsed', { acknowledgements: 100 });
    logger.warn(ACKS_ACROSS_DEADLINE, { thread: 'worker-0', acknowledgements: 2 });
    // A line cut by the kept output's bound is not counted.
    const cut = `${JSON.stringify({ message: ACKS_ACROSS_DEADLINE, acknowledgements: 9 }).slice(0, -4)}\n`;
    expect(acksAcrossDeadline(cut + output)).toBe(5);
    expect(acksAcrossDeadline('')).toBe(0);
  });
});
