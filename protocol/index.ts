/**
 * The protocol package's surface for the edge, the engine and tools: error codes, limits,
 * message types and tables, the frame codec, argument validation and the HTTP JSON mapping.
 * The client SDK has its own entry point, protocol/client/index.ts.
 */

export * from './codec.js';
export * from './codes.js';
export * from './frame-scan.js';
export * from './json.js';
export * from './limits.js';
export * from './messages.js';
export * from './validate.js';
