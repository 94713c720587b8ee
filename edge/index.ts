/**
 * The edge node's public surface: start a whole node in-process (`startNode`, as tests and load
 * tests do), its options and command-line parsing, the key file helpers, TLS files and the CA a
 * tool trusts, the Prometheus text parser, and the test harness.
 * `main.ts` is the command-line entry (`npm start`); `worker.ts` is the worker-thread entry.
 */

export {
  type DemoOptions,
  defaultNodeOptions,
  type NodeOptions,
  OptionsError,
  parseCli,
  USAGE,
} from './config.js';
export * from './constants.js';
export { demoExamples, seedDemoNetwork, startBanner } from './demo.js';
export { BatchRunner } from './batch.js';
export { SkuTable } from './sku-table.js';
export { httpStatusOf, statusLine } from './errors.js';
export {
  type DemoKeys,
  generateDemoKeys,
  type KeyConfig,
  KeyConfigError,
  type KeyIdentity,
  KeyRing,
  parseKeyConfig,
  readDemoKeys,
  writeDemoKeys,
} from './keys.js';
export { createLogger, type Logger, type LogLevel } from './logger.js';
export { KEY_FILE_NAME, LOG_DIR_NAME, type StartedNode, startNode } from './node.js';
export {
  CA_FILE_VARIABLE,
  type CheckedTls,
  checkTlsFiles,
  readCaOption,
  TLS_PASSPHRASE_VARIABLE,
  TlsConfigError,
  type TlsOptions,
} from './tls.js';
export { loadUws, requireNativeUws, UwsFallbackError } from './uws.js';
export { NodeLogError } from './wal-port.js';
export { ACKS_ACROSS_DEADLINE } from './ownership-check.js';
export {
  type Labels,
  type MetricType,
  type ParsedMetrics,
  PROMETHEUS_CONTENT_TYPE,
  PrometheusParseError,
  PrometheusWriter,
  parsePrometheusText,
  type Sample,
} from './prometheus-text.js';
export { http, makeDataDir, startTestNode, TEST_DEMO, type TestNode } from './testing/harness.js';
export { makeSelfSignedCertificate } from './testing/tls.js';
export { stopOnSignals } from './signals.js';
