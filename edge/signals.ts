/**
 * How a node program stops on SIGINT and SIGTERM (edge/main.ts, the load tools' launcher): the
 * first signal closes the node gracefully (answers in flight finish, the log is flushed); a
 * second one ends the process at once by the signal's own default action, exit status
 * 128 + signal. Nothing acknowledged is lost either way: an acknowledged change is already in
 * the log.
 *
 * Why not `process.exit` on the second signal: an exit from JavaScript first tears down the
 * worker threads, and Node aborts (a native stack dump) on a worker whose uWS sockets are still
 * open, which is the case in the middle of a shutdown.
 */

/** Resolves with 0 once the graceful close finished, or `failureStatus` if it failed. */
export function stopOnSignals(
  close: () => Promise<void>,
  failureStatus: number,
  write: (text: string) => void = (text) => process.stderr.write(text),
): Promise<number> {
  let stopping = false;
  let settle: (status: number) => void = () => {};
  const stopped = new Promise<number>((done) => {
    settle = done;
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      write(`${signal} again: stopping at once; every acknowledged change is in the log\n`);
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    stopping = true;
    write(`${signal}: shutting down\n`);
    close().then(
      () => settle(0),
      (error: unknown) => {
        write(`shutdown failed: ${String(error)}\n`);
        settle(failureStatus);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return stopped;
}
