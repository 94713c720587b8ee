/**
 * Retrying a request that may fail for a while and then work: a NATS JetStream API request
 * times out while the cluster is slow to answer (electing a leader after a server was killed,
 * or on a loaded machine), and succeeds once it answers again. A bounded number of tries, a
 * fixed pause between two, and the last error when none worked, so a cluster that cannot be
 * reached at all still fails.
 */

/**
 * The tries at creating a JetStream watch (a member's owner key, the cluster SDK's buckets):
 * each may wait out an API timeout, so 5 tries cover a leader election.
 */
export const WATCH_RETRY = { attempts: 5, pauseMs: 250 } as const;

export interface RetryOptions {
  attempts: number;
  pauseMs: number;
  /** Called before each pause, with the error and the try that failed (from 1). */
  onRetry?: (error: unknown, attempt: number) => void;
  /** True to give up at once (the caller is closing): the error stands. */
  stopped?: () => boolean;
}

export async function retrying<T>(run: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= options.attempts || options.stopped?.() === true) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((done) => setTimeout(done, options.pauseMs));
    }
  }
}
