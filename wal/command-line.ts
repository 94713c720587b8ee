/**
 * The command line every program the project ships shares (the node, its tools, the
 * benchmarks, the load tests), so they all answer alike:
 *
 *   `--help` or `-h`   the program's usage on stdout, exit 0;
 *   a flag it does not know, a flag without its value, a stray argument or a bad value:
 *                      one line saying what is wrong, a blank line and the usage on stderr,
 *                      exit 64 (sysexits EX_USAGE), never a stack trace;
 *   any other failure: the error with its stack on stderr, exit 1.
 *
 * It lives in wal/ because that is the lowest layer that ships a program: wal, edge, bench,
 * loadtest and tools can all import it along the dependency arrows (ARCHITECTURE.md). It imports only the
 * exit statuses of the registry of codes (protocol/code-registry.ts). The API keys the tools
 * read from the environment are named here too, so every tool reads the same variables.
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ExitCodes } from '../protocol/index.js';

/** sysexits EX_USAGE: the command was used incorrectly. */
export const EXIT_USAGE = ExitCodes.USAGE;
export const EXIT_FAILURE = ExitCodes.FAILURE;

/** A command line the program refuses; its message is one line. */
export class UsageError extends Error {
  readonly code = 'BAD_USAGE';
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** Added to every program's flags. */
const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const;

type Parsed<O extends FlagOptions> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: O & typeof HELP_FLAG;
    strict: true;
    allowPositionals: true;
  }>
>;

export type CommandLine<O extends FlagOptions> =
  | { help: true }
  | { help: false; values: Omit<Parsed<O>['values'], 'help'>; positionals: string[] };

/**
 * Parses `argv` strictly against `options` plus `--help`/`-h`. Anything the parser refuses, or
 * more than `positionalsMax` arguments that are not flags, is a UsageError.
 */
export function parseCommandLine<const O extends FlagOptions>(
  argv: readonly string[],
  options: O,
  positionalsMax = 0,
): CommandLine<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, ...HELP_FLAG },
      strict: true,
      allowPositionals: positionalsMax > 0,
    }) as Parsed<O>;
  } catch (error) {
    throw new UsageError(parserMessage(error));
  }
  const { help, ...values } = parsed.values as Parsed<O>['values'] & { help?: boolean };
  if (help === true) return { help: true };
  if (parsed.positionals.length > positionalsMax) {
    throw new UsageError(`unexpected argument '${parsed.positionals[positionalsMax]}'`);
  }
  return { help: false, values, positionals: parsed.positionals };
}

/** The parser's complaint, without its hint on passing positionals that start with a dash. */
function parserMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].split('. To specify a positional argument')[0];
}

interface Output {
  write(text: string): unknown;
}

/** Prints the usage for `--help`; returns the exit status, 0. */
export function showUsage(usage: string, stdout: Output = process.stdout): number {
  stdout.write(usage);
  return 0;
}

/** Prints a failure the way every program does; returns its exit status (64 or 1). */
export function reportFailure(error: unknown, usage: string, stderr: Output): number {
  if (error instanceof UsageError) {
    stderr.write(`${error.message}\n\n${usage}`);
    return EXIT_USAGE;
  }
  stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT_FAILURE;
}

/** Runs a program's main and exits with its status; a UsageError exits 64, any other 1. */
export function runMain(main: () => Promise<number | undefined>, usage: string): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => process.exit(reportFailure(error, usage, process.stderr)),
  );
}

/** True when the module at `moduleUrl` is the process's entry point (not imported by a test). */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  return entry !== undefined && pathToFileURL(resolve(entry)).href === moduleUrl;
}

/**
 * The environment variables a tool reads its API key from when no flag gives one, first set
 * wins. Tools that change stock or the catalogue (`npm run load`) need the admin role; the
 * others (`npm run stats`) take a key of any role. `ADMIN_KEY` is the older name of
 * `INVENTORY_ADMIN_KEY`, still accepted.
 */
export const KEY_VARIABLES = {
  admin: ['INVENTORY_ADMIN_KEY', 'ADMIN_KEY', 'INVENTORY_KEY'],
  any: ['INVENTORY_KEY', 'INVENTORY_ADMIN_KEY', 'ADMIN_KEY'],
} as const;

export function keyFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  role: keyof typeof KEY_VARIABLES,
): string | undefined {
  for (const name of KEY_VARIABLES[role]) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
