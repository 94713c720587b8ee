/**
 * Structured logs: one JSON object per line on stderr, with a level threshold.
 *
 * Invariants: nothing on a request's hot path logs at `info` or above by default; a log line is
 * always valid JSON (fields that cannot be serialised become a string); the clock is injected.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. the thread). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  clock: () => number;
  write?: (line: string) => void;
  fields?: LogFields;
}

function replaceErrors(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return typeof value === 'bigint' ? String(value) : value;
}

function serialise(record: LogFields): string {
  try {
    return JSON.stringify(record, replaceErrors);
  } catch {
    // A field JSON cannot hold (a cycle): that field becomes its string form, the rest stays.
    const safe: LogFields = {};
    for (const key of Object.keys(record)) {
      try {
        JSON.stringify(record[key], replaceErrors);
        safe[key] = record[key];
      } catch {
        safe[key] = String(record[key]);
      }
    }
    return JSON.stringify(safe, replaceErrors);
  }
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.fields ?? {};
  const threshold = LEVEL_RANK[options.level];
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < threshold) return;
    const time = new Date(options.clock()).toISOString();
    write(`${serialise({ time, level, message, ...base, ...fields })}\n`);
  };
  return {
    level: options.level,
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    child: (fields) => createLogger({ ...options, write, fields: { ...base, ...fields } }),
  };
}
