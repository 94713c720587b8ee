/**
 * A self-signed certificate for tests and load runs of a TLS node, made with the `openssl`
 * command: an EC P-256 key and a certificate for 127.0.0.1 and localhost, valid two days. A
 * client trusts the node by using the certificate as its CA.
 *
 * Invariants: the files are written into the directory the caller gives (and removes); the key
 * file is readable by its owner only; every openssl run is bounded by a timeout.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** An openssl run that takes longer than this has hung. */
const OPENSSL_MS_MAX = 30_000;

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** The certificate again: what a client trusts. */
  caFile: string;
  /** The certificate's PEM bytes, for `ca` options. */
  ca: Buffer;
  /** The key's passphrase when it was encrypted, else null. */
  passphrase: string | null;
}

/**
 * Writes `cert.pem` and `key.pem` into `dir`. With `passphrase`, the key is encrypted with it
 * (AES-256), as a deployment's key may be.
 */
export function makeSelfSignedCertificate(
  dir: string,
  passphrase: string | null = null,
): TestCertificate {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const keyArgs = passphrase === null ? ['-nodes'] : ['-passout', `pass:${passphrase}`];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      ...keyArgs,
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'pipe', timeout: OPENSSL_MS_MAX },
  );
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile, caFile: certFile, ca: readFileSync(certFile), passphrase };
}
