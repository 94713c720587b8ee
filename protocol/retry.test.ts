import { describe, expect, it } from 'vitest';
import { retrying } from './retry.js';

/** A request that fails `failures` times, then answers its try number. */
function flaky(failures: number) {
  let tries = 0;
  return {
    run: async () => {
      tries++;
      if (tries <= failures) throw new Error(`timeout ${tries}`);
      return tries;
    },
    tries: () => tries,
  };
}

describe('retrying', () => {
  it('answers once a try works, and says each failed try', async () => {
    const request = flaky(2);
    const said: string[] = [];
    const answer = await retrying(request.run, {
      attempts: 5,
      pauseMs: 1,
      onRetry: (error, attempt) => said.push(`${attempt}: ${(error as Error).message}`),
    });
    expect(answer).toBe(3);
    expect(said).toEqual(['1: timeout 1', '2: timeout 2']);
  });

  it('gives the last error after its last try', async () => {
    const request = flaky(10);
    await expect(retrying(request.run, { attempts: 3, pauseMs: 1 })).rejects.toThrow('timeout 3');
    expect(request.tries()).toBe(3);
  });

  it('gives up at once when stopped', async () => {
    const request = flaky(10);
    await expect(
      retrying(request.run, { attempts: 5, pauseMs: 1, stopped: () => true }),
    ).rejects.toThrow('timeout 1');
    expect(request.tries()).toBe(1);
  });
});
