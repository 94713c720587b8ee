/**
 * Loads uWebSockets.js and makes sure it is the native build.
 *
 * The installed package (@trufflesuite/uws-js-unofficial) silently falls back to a JavaScript
 * implementation on top of `ws` when its binary does not load (wrong Node ABI, wrong glibc, or
 * UWS_USE_FALLBACK set). The fallback serves the same API an order of magnitude slower and
 * without several features, so a node that landed on it would look healthy and miss every
 * performance bar. The edge therefore refuses to start on the fallback unless told otherwise.
 *
 * Invariants: detection looks at what was loaded (the module file and the native-only exports),
 * not at the environment alone, so it also catches a binary that failed to load.
 */

import { createRequire } from 'node:module';
import type * as Uws from 'uWebSockets.js';

export type UwsModule = typeof Uws;

export interface UwsLoad {
  uws: UwsModule;
  native: boolean;
  /** Why the module is judged to be the fallback; empty when native. */
  reason: string;
}

/** Exports only the native addon has; the fallback exports App, _cfg and two socket helpers. */
const NATIVE_ONLY_EXPORTS = ['SSLApp', 'getParts', 'DISABLED'] as const;

export class UwsFallbackError extends Error {
  readonly code = 'UWS_FALLBACK';
}

export function loadUws(): UwsLoad {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as UwsModule;
  const fallbackLoaded = Object.keys(require.cache).some((path) =>
    /[\\/]uWebSockets\.js[\\/]dist[\\/]index\.js$|[\\/]uws-js-unofficial[\\/]dist[\\/]index\.js$/.test(
      path,
    ),
  );
  const record = uws as unknown as Record<string, unknown>;
  const missing = NATIVE_ONLY_EXPORTS.filter((name) => record[name] === undefined);
  if (fallbackLoaded || missing.length > 0) {
    const reason = fallbackLoaded
      ? 'the JavaScript fallback (dist/index.js) was loaded instead of the native binary'
      : `native-only exports are missing: ${missing.join(', ')}`;
    return { uws, native: false, reason };
  }
  return { uws, native: true, reason: '' };
}

/**
 * Loads uWS and throws a clear error when it is the fallback, unless `allowFallback`.
 * Returns the module and whether it is native, so the caller can log a warning.
 */
export function requireNativeUws(allowFallback: boolean): UwsLoad {
  const load = loadUws();
  if (!load.native && !allowFallback) {
    throw new UwsFallbackError(
      `uWebSockets.js is not running natively: ${load.reason}. ` +
        `The JavaScript fallback is far slower than the native server. Check that Node's ABI ` +
        `(process.versions.modules = ${process.versions.modules}) has a binary under ` +
        `node_modules/uWebSockets.js/binaries and that UWS_USE_FALLBACK is not set, or start ` +
        `with --allow-js-fallback to run on the fallback anyway.`,
    );
  }
  return load;
}
