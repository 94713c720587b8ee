/**
 * The log's logging seam: wal/ never writes to the console directly, it calls a `WalLogger`
 * that the composition root passes in (the edge's structured logger, or a silent one in tests).
 * `jsonLineLogger` is the default: one JSON object per line on a writable stream.
 */

export type WalLogLevel = 'info' | 'warn' | 'error';

export interface WalLogger {
  log(level: WalLogLevel, message: string, fields?: Record<string, unknown>): void;
}

export const SILENT_LOGGER: WalLogger = { log: () => {} };

export function jsonLineLogger(
  stream: { write(line: string): unknown },
  clock: () => number,
): WalLogger {
  return {
    log(level, message, fields) {
      const line = { time: new Date(clock()).toISOString(), level, scope: 'wal', message };
      stream.write(`${JSON.stringify({ ...line, ...fields })}\n`);
    },
  };
}

/** Collects entries in memory, for tests that assert what was reported. */
export function memoryLogger(): WalLogger & {
  entries: { level: WalLogLevel; message: string; fields?: Record<string, unknown> }[];
} {
  const entries: { level: WalLogLevel; message: string; fields?: Record<string, unknown> }[] = [];
  return { entries, log: (level, message, fields) => entries.push({ level, message, fields }) };
}
