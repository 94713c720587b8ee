/**
 * The protocol package's surface for every other layer: error codes and the registry of every
 * code and exit status, limits, message types and tables, the frame codec and its columns,
 * argument validation, the HTTP JSON mapping, and the names of a cluster's buckets and log
 * streams. The client SDK has its own entry point, protocol/client/index.ts.
 */

export * from './cluster.js';
export * from './code-registry.js';
export * from './codec.js';
export * from './codes.js';
export * from './columns.js';
export * from './frame-scan.js';
export * from './msgpack-head.js';
export * from './json.js';
export * from './limits.js';
export * from './messages.js';
export * from './retry.js';
export * from './validate.js';
