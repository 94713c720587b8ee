/**
 * TLS for the node and its tools. The node serves `https://` and `wss://` on its one port from
 * every worker thread with uWS's SSLApp, from a certificate file and a private key file; the
 * main thread checks both before any worker starts, so a node with unusable files is refused
 * at start with a clear message and exit code instead of threads failing one by one. The
 * tools (`npm run stats`, `npm run load`, the load generators) trust a node's certificate
 * through a CA file.
 *
 * Invariants: a node with TLS starts only with files that are readable and hold a certificate
 * and the private key that matches it (decrypted with the passphrase when it is encrypted);
 * the paths handed to the workers are absolute; the passphrase is never logged. The protocol
 * versions are uWS's: TLS 1.2 and 1.3 (older ones are refused in the handshake, as a test
 * checks).
 */

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { ExitCodes, exitCodeOf } from '../protocol/index.js';

/** Where the node's certificate and key are; the key's passphrase when it is encrypted. */
export interface TlsOptions {
  /** PEM certificate (chain: the node's certificate first). */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  passphrase: string | null;
}

/** The environment variable a key passphrase may come from (the command line shows in `ps`). */
export const TLS_PASSPHRASE_VARIABLE = 'INVENTORY_TLS_PASSPHRASE';
/** The environment variable naming the CA file the tools trust. */
export const CA_FILE_VARIABLE = 'INVENTORY_CA_FILE';

/**
 * TLS files a node cannot serve with: TLS_FILE_UNREADABLE (a file cannot be read, exit 66) or
 * BAD_TLS (the files are there but are not a usable certificate and key, exit 78).
 */
export class TlsConfigError extends Error {
  readonly exitCode: number;

  constructor(
    readonly code: 'BAD_TLS' | 'TLS_FILE_UNREADABLE',
    message: string,
  ) {
    super(message);
    this.exitCode = exitCodeOf(code) ?? ExitCodes.FAILURE;
  }
}

/** What the node logs about its certificate once it is checked. */
export interface CheckedTls {
  options: TlsOptions;
  subject: string;
  validTo: string;
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new TlsConfigError(
      'TLS_FILE_UNREADABLE',
      `cannot read the TLS ${what} file ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * Checks the files as OpenSSL will load them: the certificate parses, the key decrypts (with
 * the passphrase) and matches the certificate. Returns the options with absolute paths.
 */
export function checkTlsFiles(options: TlsOptions): CheckedTls {
  const certFile = resolve(options.certFile);
  const keyFile = resolve(options.keyFile);
  const cert = readPem('certificate', certFile);
  const key = readPem('key', keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new TlsConfigError(
      'BAD_TLS',
      `${certFile} is not a PEM certificate: ${(error as Error).message}`,
    );
  }
  try {
    createSecureContext({
      cert,
      key,
      passphrase: options.passphrase ?? undefined,
      minVersion: 'TLSv1.2',
    });
  } catch (error) {
    const message = (error as Error).message;
    const hint = /bad decrypt|bad password|interrupted or cancelled/i.test(message)
      ? ` (an encrypted key needs --tls-passphrase or ${TLS_PASSPHRASE_VARIABLE}, the right one)`
      : '';
    throw new TlsConfigError(
      'BAD_TLS',
      `the TLS key ${keyFile} cannot be used with the certificate ${certFile}: ${message}${hint}`,
    );
  }
  return {
    options: { certFile, keyFile, passphrase: options.passphrase },
    subject: certificate.subject,
    validTo: certificate.validTo,
  };
}

/**
 * The CA a tool trusts: `--ca <file>`, else INVENTORY_CA_FILE, else none (the system's CAs).
 * Throws with a message naming the file when it cannot be read.
 */
export function readCaOption(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { file: string; pem: Buffer } | null {
  const file = flag ?? env[CA_FILE_VARIABLE];
  if (file === undefined || file === '') return null;
  try {
    return { file: resolve(file), pem: readFileSync(file) };
  } catch (error) {
    throw new Error(`cannot read the CA file ${file}: ${(error as Error).message}`);
  }
}
