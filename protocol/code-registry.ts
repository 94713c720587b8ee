/**
 * Every code the project can answer or exit with, in one registry, each with one meaning:
 *
 *   wire codes   what a node answers (and the SDK raises on its own side): `ErrorCodes` in
 *                protocol/codes.ts, with each one's HTTP status and whether a retry may help;
 *   other codes  what a process reports by a stable string code and no node sends as an
 *                answer: why the log refused a data directory or stopped writing (wal/errors.ts
 *                adds each one's operator hint), a refused configuration, a command line a
 *                program does not understand, a cluster node's refusals, what the tools count
 *                in their reports, and what the simulator reports;
 *   exit codes   the statuses a process ends with, sysexits.h values where one fits.
 *
 * A code is matched on `.code`, never renamed, and never given a second meaning; a code that
 * stops a process names the one exit status it ends with (`exit`, null when the code does not
 * end a process by itself). WebSocket close codes are RFC 6455's (`CloseCodes`,
 * protocol/messages.ts). code-registry.test.ts checks that every code the sources use is
 * registered exactly once, and that every registered code is used.
 */

import { type ErrorCode, ErrorCodes } from './codes.js';

/** Process exit statuses: each value once, with one meaning (EXIT_CODE_MEANINGS). */
export const ExitCodes = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATA_ERROR: 65,
  NO_INPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  IO_ERROR: 74,
  TEMP_FAILURE: 75,
  DEPOSED: 76,
  CONFIG: 78,
  SIGNALLED: 130,
} as const;

export type ExitCodeName = keyof typeof ExitCodes;

export const EXIT_CODE_MEANINGS: Readonly<Record<ExitCodeName, string>> = {
  OK: 'done; a node stopped gracefully',
  FAILURE:
    'the program failed at its work: a check failed, rows were refused, the node did not ' +
    'answer, or an error it did not expect (printed with its stack)',
  USAGE:
    'sysexits EX_USAGE: a flag, an option or a key file the program refuses (one line says ' +
    'which), or uWebSockets.js without its native build',
  DATA_ERROR:
    "sysexits EX_DATAERR: the data directory, or the region's stream, holds data that " +
    'cannot be used or followed',
  NO_INPUT: 'sysexits EX_NOINPUT: a file or directory named on the command line cannot be read',
  UNAVAILABLE: 'sysexits EX_UNAVAILABLE: the NATS servers a cluster node needs cannot be reached',
  SOFTWARE:
    'sysexits EX_SOFTWARE: a broken invariant stopped the process; a restart recovers from ' +
    'the log',
  IO_ERROR: 'sysexits EX_IOERR: the disk or the log store failed',
  TEMP_FAILURE:
    'sysexits EX_TEMPFAIL: another process holds what this one needs (the data directory, ' +
    'the port); retry once it is gone',
  DEPOSED:
    'sysexits EX_PROTOCOL: a cluster node lost its region to another node; restart it and it ' +
    'rejoins as a standby',
  CONFIG:
    'sysexits EX_CONFIG: the configuration does not fit (capacities, log options, TLS files, ' +
    'the NATS servers)',
  SIGNALLED: 'a load tool stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it)',
};

/** Where a code that is not a wire code comes from. */
export type CodeKind = 'log' | 'config' | 'program' | 'cluster' | 'report' | 'testing';

export interface CodeEntry {
  kind: CodeKind;
  meaning: string;
  /** The status a process this code stops ends with; null when it does not end one. */
  exit: ExitCodeName | null;
}

/** Every code that is not a wire code. */
export const OtherCodes = {
  // The write-ahead log: a refused data directory, a log that stopped accepting writes, a
  // snapshot not taken. wal/errors.ts (`WalCodes`) adds each one's operator hint.
  DATA_DIR_FOREIGN: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'the data directory holds files this project did not write',
  },
  DATA_DIR_LOCKED: {
    kind: 'log',
    exit: 'TEMP_FAILURE',
    meaning: 'another process owns the data directory',
  },
  DATA_DIR_EMPTY: {
    kind: 'log',
    exit: 'NO_INPUT',
    meaning: 'a tool was given a directory that holds no log',
  },
  DATA_VERSION_MISMATCH: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'the data (a data directory, a snapshot) is in a format this release does not read',
  },
  CONFIG_TOO_SMALL: {
    kind: 'log',
    exit: 'CONFIG',
    meaning: 'a capacity is smaller than the data (a data directory, a snapshot) needs',
  },
  CONFIG_MISMATCH: {
    kind: 'log',
    exit: 'CONFIG',
    meaning:
      "orderCapacity differs from the data's (a data directory, a snapshot); it is fixed when " +
      'the data directory is created',
  },
  CONFIG_INVALID: {
    kind: 'log',
    exit: 'CONFIG',
    meaning: 'the capacities given, over the ones the data directory recorded, do not fit together',
  },
  BAD_LOG_OPTIONS: {
    kind: 'log',
    exit: 'CONFIG',
    meaning:
      'an option of the log is out of range: the durability policy, the ring capacity or the ' +
      'store size limit',
  },
  LOG_CORRUPT: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'a log record before the torn tail fails its checks',
  },
  LOG_GAP: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'records are missing between the snapshot and the log',
  },
  SNAPSHOT_CORRUPT: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'no valid snapshot covers the start of the log',
  },
  STORE_OPEN_FAILED: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'the LMDB store of the log could not be opened',
  },
  STORE_FULL: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'the log store reached its size limit; the log stopped accepting writes',
  },
  WRITE_FAILED: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'a write to the log failed; the log stopped accepting writes',
  },
  WRITER_GONE: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'the log writer thread exited; the log stopped accepting writes',
  },
  WRITER_FENCED: {
    kind: 'log',
    exit: 'DATA_ERROR',
    meaning: 'another writer took over the log; this process stopped writing',
  },
  SNAPSHOT_BUSY: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'a snapshot was asked for while another is being taken',
  },
  SNAPSHOT_CANCELLED: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'a snapshot was stopped before its manifest was written (the node was stopping)',
  },
  SNAPSHOT_FAILED: {
    kind: 'log',
    exit: 'IO_ERROR',
    meaning: 'a snapshot could not be taken; the log and the older snapshots are intact',
  },

  // A node's configuration, refused at start.
  BAD_CONFIG: {
    kind: 'config',
    exit: 'CONFIG',
    meaning: 'an engine configuration value is out of range or does not fit another',
  },
  BAD_NODE_OPTIONS: {
    kind: 'config',
    exit: 'USAGE',
    meaning:
      'an option of the node (a flag, an environment variable, a startNode option) is out of ' +
      'range or conflicts with another',
  },
  BAD_KEYS: {
    kind: 'config',
    exit: 'USAGE',
    meaning:
      'the API keys (the key file, INVENTORY_KEYS) do not parse or break a rule; a reload ' +
      'keeps the keys it had',
  },
  BAD_TLS: {
    kind: 'config',
    exit: 'CONFIG',
    meaning: 'the TLS certificate and key are not a usable pair (not PEM, wrong passphrase)',
  },
  TLS_FILE_UNREADABLE: {
    kind: 'config',
    exit: 'NO_INPUT',
    meaning: 'the TLS certificate or key file cannot be read',
  },
  UWS_FALLBACK: {
    kind: 'config',
    exit: 'USAGE',
    meaning: 'uWebSockets.js fell back to its JavaScript build and --allow-js-fallback is off',
  },
  PORT_IN_USE: {
    kind: 'config',
    exit: 'TEMP_FAILURE',
    meaning: "another process listens on the node's port",
  },

  // Every program's command line (wal/command-line.ts).
  BAD_USAGE: {
    kind: 'program',
    exit: 'USAGE',
    meaning:
      'a command line the program does not understand: an unknown flag, a flag without its ' +
      'value, a stray argument or a bad value',
  },

  // A cluster node (cluster/), refused at start or stopped.
  CLUSTER_SETUP: {
    kind: 'cluster',
    exit: 'CONFIG',
    meaning: 'the NATS servers are not set up as the cluster needs (JetStream, the buckets)',
  },
  CLUSTER_UNAVAILABLE: {
    kind: 'cluster',
    exit: 'UNAVAILABLE',
    meaning: 'the NATS servers cannot be reached at start',
  },
  LOG_DIVERGED: {
    kind: 'cluster',
    exit: 'DATA_ERROR',
    meaning: "this node's log and its region's stream cannot be matched",
  },

  // What the tools count and print in their reports; no process ends on one.
  BAD_ROW: {
    kind: 'report',
    exit: null,
    meaning: 'bulk load: a row of the file does not parse; it is reported, not sent',
  },
  BAD_METRICS_TEXT: {
    kind: 'report',
    exit: null,
    meaning: 'stats: an answer of /metrics is not Prometheus text',
  },
  CLIENT_ERROR: {
    kind: 'report',
    exit: null,
    meaning: 'load tests: a request failed in the client, without a code from the node',
  },
  REFUSED: {
    kind: 'report',
    exit: null,
    meaning: 'load tests: a batch refused an entry without saying why',
  },
  TIME_LIMIT: {
    kind: 'report',
    exit: null,
    meaning: 'contention check: the run reached its time limit before every buyer finished',
  },

  // The seeded simulator and the reference model (engine/testing/).
  SIMULATION_MISMATCH: {
    kind: 'testing',
    exit: 'FAILURE',
    meaning: 'the simulator found the engine disagreeing with the reference model or its log',
  },
  MODEL_VIOLATION: {
    kind: 'testing',
    exit: null,
    meaning: "the reference model's own invariant broke: a bug in the model",
  },
} as const satisfies Record<string, CodeEntry>;

export type OtherCode = keyof typeof OtherCodes;
export type RegisteredCode = ErrorCode | OtherCode;

export interface RegistryEntry {
  kind: CodeKind | 'wire';
  meaning: string;
  exit: ExitCodeName | null;
}

/** Builds the registry; a code listed both as a wire code and as another code fails the load. */
function registry(): Readonly<Record<RegisteredCode, RegistryEntry>> {
  const entries = {} as Record<RegisteredCode, RegistryEntry>;
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    entries[code] = { kind: 'wire', meaning: ErrorCodes[code].text, exit: null };
  }
  for (const code of Object.keys(OtherCodes) as OtherCode[]) {
    if (Object.hasOwn(entries, code)) throw new Error(`code ${code} is registered twice`);
    entries[code] = OtherCodes[code];
  }
  return Object.freeze(entries);
}

/** Every code, wire codes first: its kind, meaning and exit status. */
export const CODE_REGISTRY = registry();

export function isRegisteredCode(value: unknown): value is RegisteredCode {
  return typeof value === 'string' && Object.hasOwn(CODE_REGISTRY, value);
}

/** The status a process stopped by `code` ends with; null when the code ends none. */
export function exitCodeOf(code: RegisteredCode): number | null {
  const exit = CODE_REGISTRY[code].exit;
  return exit === null ? null : ExitCodes[exit];
}
