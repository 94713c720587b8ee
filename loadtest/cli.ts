/**
 * Flag parsing shared by the load-test commands: typed, range-checked reads of the values that
 * `parseCommandLine` returns, so a bad flag stops a run before it starts instead of being
 * silently replaced by a default. The command line itself (`--help`, unknown flags, exit
 * codes) is the one every program shares, from wal/command-line.ts.
 */

import { ExitCodes } from '../protocol/index.js';
import { type DurabilityPolicy, parseDurabilityPolicy, UsageError } from '../wal/index.js';

export {
  type CommandLine,
  EXIT_USAGE,
  isEntryPoint,
  parseCommandLine,
  runMain,
  showUsage,
  UsageError,
} from '../wal/index.js';

type Values = Record<string, string | boolean | undefined>;

export function intFlag(values: Values, name: string, fallback: number, min: number, max: number) {
  const text = values[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (typeof text !== 'string' || !/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got '${text}'`);
  }
  return value;
}

export function numberFlag(
  values: Values,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value)) {
    throw new UsageError(`--${name} must be a number, got '${String(text)}'`);
  }
  if (value < min || value > max) {
    throw new UsageError(`--${name} must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}

export function stringFlag(values: Values, name: string, fallback: string): string {
  const text = values[name];
  if (text === undefined) return fallback;
  if (typeof text !== 'string' || text === '') throw new UsageError(`--${name} needs a value`);
  return text;
}

export function choiceFlag<T extends string>(
  values: Values,
  name: string,
  fallback: T,
  choices: readonly T[],
): T {
  const text = values[name];
  if (text === undefined) return fallback;
  if (!(choices as readonly unknown[]).includes(text)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${String(text)}'`);
  }
  return text as T;
}

/**
 * A durability policy flag (`--fsync`): one of `choices`, or a deprecated alias of one
 * (`commit` for `write`), read as the policy it names.
 */
export function policyFlag<T extends DurabilityPolicy>(
  values: Values,
  name: string,
  fallback: T,
  choices: readonly T[],
): T {
  const text = values[name];
  if (text === undefined) return fallback;
  const policy = typeof text === 'string' ? parseDurabilityPolicy(text) : null;
  if (policy === null || !(choices as readonly string[]).includes(policy)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${String(text)}'`);
  }
  return policy as T;
}

/** Exit status after SIGINT or SIGTERM, as shells report a signal (128 + SIGINT). */
const EXIT_SIGNALLED = ExitCodes.SIGNALLED;

/**
 * While a command has servers running, SIGINT or SIGTERM stops them (by the command's own
 * stop function, so by PID) before exiting. Returns the function that removes the handlers.
 */
export function stopOnSignal(stop: () => Promise<unknown>): () => void {
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(`${signal}: stopping what this command started\n`);
    stop().finally(() => process.exit(EXIT_SIGNALLED));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
