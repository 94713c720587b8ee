import { describe, expect, it } from 'vitest';
import type { ErrorBody } from '../protocol/index.js';
import { createLogger } from './logger.js';
import { ACKS_ACROSS_DEADLINE, AckFence } from './ownership-check.js';

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fenceFor() {
  let lost = false;
  const logged: Record<string, unknown>[] = [];
  const ownership = {
    refusal: (): ErrorBody | null =>
      lost ? { code: 'NOT_OWNER', message: 'this node does not own its region' } : null,
  };
  const logger = createLogger({
    level: 'info',
    clock: () => 0,
    write: (line) => logged.push(JSON.parse(line)),
  });
  return {
    fence: new AckFence(ownership, logger),
    logged,
    lose: () => {
      lost = true;
    },
  };
}

describe('AckFence', () => {
  it('refuses once ownership is gone, and reports nothing while it holds', async () => {
    const { fence, logged, lose } = fenceFor();
    expect(fence.refusal()).toBeNull();
    fence.written(3);
    await nextTurn();
    expect(logged).toEqual([]);
    lose();
    expect(fence.refusal()).toMatchObject({ code: 'NOT_OWNER' });
  });

  it('names, once per turn, the acknowledgements written before ownership was found gone', async () => {
    const { fence, logged, lose } = fenceFor();
    fence.written(2);
    fence.written(5);
    // The deadline passes between the write and the next turn (a pause after the check).
    lose();
    await nextTurn();
    expect(logged).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: ACKS_ACROSS_DEADLINE,
        acknowledgements: 7,
      }),
    ]);
    // Counted once: a later turn with nothing written adds nothing.
    await nextTurn();
    expect(logged).toHaveLength(1);
  });
});
