/**
 * The node's command-line entry (`npm start`): parses flags and environment, starts the node,
 * prints where it listens, its demo keys and curl commands, and shuts it down gracefully on
 * SIGINT or SIGTERM (a second signal exits at once). SIGHUP reloads the key file.
 *
 * Exit codes: 0 after a graceful shutdown, 1 when the node fails to start or to stop, 64
 * (sysexits EX_USAGE) for bad flags or keys, 75 (EX_TEMPFAIL) when another process holds the
 * data directory (DATA_DIR_LOCKED) or the port (PORT_IN_USE), and the log's own sysexits code
 * (65 data, 74 I/O, 78 configuration) when it refuses the data directory; 70 (EX_SOFTWARE)
 * when a broken invariant stopped it (a restart recovers from the log); with TLS, 66
 * (EX_NOINPUT) when the certificate or key file cannot be read and 78 (EX_CONFIG) when they
 * are not a usable certificate and key. A cluster node (--region, --nats) exits 76
 * (EX_PROTOCOL) when it was deposed (the region's stream refused its writes, or its lease
 * lapsed; restart it and it rejoins as a standby), 65 when it cannot follow the region's
 * stream, 69 (EX_UNAVAILABLE) when the NATS servers cannot be reached at start; 78 for an
 * engine configuration it refuses (BAD_CONFIG). Every code and the status it exits with are in
 * protocol/code-registry.ts.
 */

import { stopOnSignals } from './signals.js';
import { ExitCodes, exitCodeOf, isRegisteredCode } from '../protocol/index.js';
import { OptionsError, parseCli, USAGE } from './config.js';
import { demoExamples, startBanner } from './demo.js';
import { KeyConfigError } from './keys.js';
import { type StartedNode, startNode } from './node.js';
import { PortInUseError } from './port-guard.js';
import { TlsConfigError } from './tls.js';
import { UwsFallbackError } from './uws.js';
import { NodeLogError } from './wal-port.js';

const EXIT_USAGE = ExitCodes.USAGE;
const EXIT_FAILURE = ExitCodes.FAILURE;
/** sysexits.h EX_SOFTWARE: an internal software error (a broken invariant). */
const EXIT_SOFTWARE = ExitCodes.SOFTWARE;
/** Time a crashing node has to close its workers before the process exits anyway. */
const CRASH_CLOSE_MS_MAX = 15_000;

async function main(): Promise<number> {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof OptionsError || error instanceof KeyConfigError) {
      process.stderr.write(`${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const starting = startNode(cli.options);
  // Signals are handled from the start, before the node announces itself ("node ready", the
  // banner): whoever signals it on reading either line, or during a long recovery, gets a
  // graceful stop (SIGINT, SIGTERM) or a key reload (SIGHUP) once it has started, not the
  // signal's default action, which ends the process.
  const signaled = stopOnSignals(() => starting.then((started) => started.close()), EXIT_FAILURE);
  process.on('SIGHUP', () => {
    starting.then(reloadKeys, () => {});
  });
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await starting;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof PortInUseError ? `${error.code}: ` : '';
    process.stderr.write(`cannot start the node: ${code}${message}\n`);
    if (error instanceof NodeLogError || error instanceof PortInUseError) return error.exitCode;
    if (error instanceof TlsConfigError) return error.exitCode;
    // The cluster layer's refusals (loaded only for --region) carry their exit code.
    const exitCode = (error as { exitCode?: unknown }).exitCode;
    if (typeof exitCode === 'number') return exitCode;
    if (error instanceof UwsFallbackError) return EXIT_USAGE;
    // Any other refusal with a registered code (BAD_CONFIG, BAD_NODE_OPTIONS) exits with its
    // code's status (protocol/code-registry.ts).
    const registered = (error as { code?: unknown }).code;
    return (isRegisteredCode(registered) ? exitCodeOf(registered) : null) ?? EXIT_FAILURE;
  }
  const stopped = new Promise<number>((done) => {
    signaled.then(done);
    // A broken invariant stopped the node: exit so a supervisor restarts it from its log.
    node.halted.then(() => done(EXIT_SOFTWARE));
    // A cluster node that may no longer write its region (deposed: another node took it
    // over, its lease lapsed) has closed itself: exit with the code a supervisor restarts it
    // on, as a standby (EXIT_DEPOSED, 76; 65 when the region's stream cannot be followed).
    node.deposed.then(({ reason, exitCode }) => {
      process.stderr.write(`deposed: ${reason}; exiting with code ${exitCode}\n`);
      done(exitCode);
    });
    // A bug in the main thread: close the node before exiting, because a worker thread torn
    // down with its sockets open aborts the whole process instead of exiting.
    const crash = (error: unknown) => {
      process.stderr.write(`fatal: ${error instanceof Error ? error.stack : String(error)}\n`);
      const timer = setTimeout(() => process.exit(EXIT_FAILURE), CRASH_CLOSE_MS_MAX);
      node.close().finally(() => {
        clearTimeout(timer);
        process.exit(EXIT_FAILURE);
      });
    };
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
  });
  // Announced once every handler is in place (the signals' above, before the node started).
  process.stdout.write(startBanner(node.url, node.keys, demoExamples(node.engine)));
  return stopped;
}

/** SIGHUP: reads the key file again; the node logs what changed, by key id. */
function reloadKeys(node: StartedNode): void {
  process.stderr.write('SIGHUP: reloading the API keys\n');
  node.reloadKeys().then(
    (report) => {
      if (!report.ok) process.stderr.write(`key reload failed, keys unchanged: ${report.error}\n`);
    },
    (error: unknown) => process.stderr.write(`key reload failed: ${String(error)}\n`),
  );
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
