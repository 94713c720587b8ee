/**
 * `npm run loadtest:http`: autocannon scenarios for the HTTP JSON API, against a running node
 * (`--url`) or one started for the run (`--start`). `availability` sends GET
 * /v1/availability for 20 SKUs at customer addresses (pipelining 4 by default), and
 * `availability-columns` the same queries with `form=columns`; `orders` sends
 * POST /v1/orders with a 3-line `commit` order, each with its own order id (pipelining 1;
 * autocannon's setupRequest builds every request from the seeded workload). Each scenario runs
 * `--warmup` seconds unmeasured first, then is measured against the wire's own limit in the same
 * run: GET /healthz with the same autocannon settings, and the ratio is printed. Prints
 * autocannon's own tables per scenario and the CPU per request by stage (the node's threads
 * from its /metrics, autocannon's own).
 *
 * TLS: `--url https://...` drives a node that serves TLS; the provisioning SDK connection
 * trusts `--ca` (or INVENTORY_CA_FILE). autocannon itself does not check the node's
 * certificate (it connects with rejectUnauthorized off), so it needs no CA. `--start --tls`
 * starts a TLS node with a fresh self-signed certificate.
 *
 * Invariants: each scenario is bounded by duration and by request count; the dataset is
 * provisioned through the admin API first; a started node is stopped by its PID on every path,
 * and the certificate made for it removed.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CA_FILE_VARIABLE, makeSelfSignedCertificate, readCaOption } from '../edge/index.js';
import {
  choiceFlag,
  type CommandLine,
  intFlag,
  isEntryPoint,
  numberFlag,
  parseCommandLine,
  policyFlag,
  runMain,
  showUsage,
  stopOnSignal,
  UsageError,
} from './cli.js';
import { type NodeProcess, nodeUrls, readKeysFile, startNodeProcess } from './node-process.js';
import { provisionAt } from './provision.js';
import { formatStageBudget, runScraped, type StageBudget } from './stage-budget.js';
import { describeMachine, fileStamp, machineInfo, outDir, writeJson } from './report.js';
import {
  buildDataset,
  type Dataset,
  datasetOptionsDefault,
  makeRunId,
  OrderIds,
  OrderSource,
  orderMixDefault,
  placeOrderArgs,
  QuerySource,
  SKUS_PER_QUERY_DEFAULT,
  ZIPF_EXPONENT_DEFAULT,
} from './workload.js';

const SCENARIOS = ['availability', 'availability-columns', 'orders'] as const;
type Scenario = (typeof SCENARIOS)[number] | 'healthz';
/** Pipelining per scenario unless --pipelining says otherwise: load testers' usual settings. */
const PIPELINING_DEFAULT: Record<(typeof SCENARIOS)[number], number> = {
  availability: 4,
  'availability-columns': 4,
  orders: 1,
};
const SEED_DEFAULT = 20_241_121;
const AMOUNT_DEFAULT = 5_000_000;
const REQUEST_TIMEOUT_S = 30;
/**
 * Distinct availability queries (customer location, Zipf-drawn SKUs) built before the run;
 * each connection sends them in turn. Built once, so the generator does not pay a request
 * build per request that `/healthz`, its yardstick, does not pay (about 9 µs here). autocannon
 * builds a connection's list when it opens it (64 × 1,024 builds: under a second, inside the
 * stage budget's interval though not the measured seconds). Orders are built per request, as
 * each needs an order id of its own.
 */
const QUERY_REQUESTS = 1_024;
/** Order-table slots of a started node: room for every order a bounded run can commit. */
const ORDER_CAPACITY_STARTED = 1 << 22;

export interface HttpScenarioOptions {
  url: string;
  readerKey: string;
  ordererKey: string;
  connections: number;
  pipelining: number;
  durationS: number;
  /**
   * Seconds of the same scenario run first and not measured, so the node's JIT has compiled the
   * path (its first second ran at a third of the rate here); 0 for none.
   */
  warmupS: number;
  amount: number;
  dataset: Dataset;
  runId: string;
}

/**
 * autocannon's request list for one scenario: availability queries built up front (see
 * QUERY_REQUESTS), each order built fresh by setupRequest.
 */
export function scenarioRequests(
  scenario: Scenario,
  options: HttpScenarioOptions,
  stream = 0,
): autocannon.Request[] {
  const dataset = options.dataset;
  if (scenario === 'healthz') return [{ method: 'GET', path: '/healthz' }];
  if (scenario === 'availability' || scenario === 'availability-columns') {
    const queries = new QuerySource(dataset, SKUS_PER_QUERY_DEFAULT, ZIPF_EXPONENT_DEFAULT, stream);
    const form = scenario === 'availability' ? '' : '&form=columns';
    const headers = { authorization: `Bearer ${options.readerKey}` };
    const requests: autocannon.Request[] = new Array(QUERY_REQUESTS);
    for (let index = 0; index < QUERY_REQUESTS; index++) {
      const query = queries.next();
      const path = `/v1/availability?lat=${query.lat}&lng=${query.lng}&skus=${query.skus}${form}`;
      requests[index] = { method: 'GET', path, headers };
    }
    return requests;
  }
  const orders = new OrderSource(dataset, orderMixDefault(), stream);
  const ids = new OrderIds(options.runId, stream);
  return [
    {
      method: 'POST',
      path: '/v1/orders',
      headers: {
        authorization: `Bearer ${options.ordererKey}`,
        'content-type': 'application/json',
      },
      setupRequest: (request) => {
        request.body = JSON.stringify(placeOrderArgs(dataset, orders.next(), ids.next(), 'commit'));
        return request;
      },
    },
  ];
}

/**
 * One autocannon run of a scenario for `durationS` seconds. Stream 0 is the measured run; the
 * warm-up uses stream 1, so its orders have ids of their own (a measured order that reused one
 * would be answered as a retry).
 */
export function runScenario(
  scenario: Scenario,
  options: HttpScenarioOptions,
  durationS = options.durationS,
  stream = 0,
): Promise<autocannon.Result> {
  return new Promise((done, fail) => {
    autocannon(
      {
        url: options.url,
        title: scenario,
        connections: options.connections,
        pipelining: options.pipelining,
        duration: durationS,
        maxOverallRequests: options.amount,
        timeout: REQUEST_TIMEOUT_S,
        requests: scenarioRequests(scenario, options, stream),
      },
      (error, result) => (error ? fail(error) : done(result)),
    );
  });
}

/**
 * One scenario run with the node's per-stage budget around it: its /metrics scraped right before
 * and right after autocannon (null when the node cannot be scraped: TLS, an old node), and
 * autocannon's own CPU (this process) as the generator's.
 */
export async function measureScenario(
  scenario: Scenario,
  options: HttpScenarioOptions,
  metricsKey: string | null,
): Promise<{ run: autocannon.Result; budget: StageBudget | null }> {
  if (options.warmupS > 0) {
    const warmup = await runScenario(scenario, options, options.warmupS, 1);
    if (warmup.errors > 0 || warmup.non2xx > 0) {
      throw new Error(
        `${scenario} warm-up: ${warmup.errors} errors, ${warmup.non2xx} answers not 2xx`,
      );
    }
  }
  const cpuBefore = process.cpuUsage();
  const scraped = await runScraped(`${options.url}/metrics`, metricsKey, () =>
    runScenario(scenario, options),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const run = scraped.result;
  const budget = scraped.budget(
    run.requests.average,
    (cpu.user + cpu.system) / 1e6,
    'load generator (autocannon)',
  );
  return { run, budget };
}

export const USAGE = `Usage: npm run loadtest:http -- [options]

  --start (default) or --url <http://host:port> with --keys-file <keys.json> or --admin-key
  --url https://host:port          a node with TLS; --ca <file> (or ${CA_FILE_VARIABLE}) is the CA
                                   the provisioning connection trusts
  --threads <n> --fsync <policy>   for a started node (default 2, fsync)
  --tls               a started node serves https:// with a self-signed certificate
  --scenario availability|availability-columns|orders|all  (default all); each is followed
                      by GET /healthz with the same settings, the wire's own limit, and the
                      ratio to it. availability-columns asks for the same answers in
                      form=columns (the version-2 columns as JSON arrays)
  --connections <n>   (default 64)
  --pipelining <n>    (default 4 for availability, 1 for orders)
  --duration <s>      (default 10)    --amount <n> requests at most (default ${AMOUNT_DEFAULT})
  --warmup <s>        the same scenario first, not measured (default 2; 0 for none)
  --seed <n>          workload seed (default ${SEED_DEFAULT})
`;

const FLAGS = {
  start: { type: 'boolean' },
  url: { type: 'string' },
  'keys-file': { type: 'string' },
  'admin-key': { type: 'string' },
  ca: { type: 'string' },
  tls: { type: 'boolean' },
  threads: { type: 'string' },
  fsync: { type: 'string' },
  scenario: { type: 'string' },
  connections: { type: 'string' },
  pipelining: { type: 'string' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  amount: { type: 'string' },
  seed: { type: 'string' },
} as const;

type Values = Extract<CommandLine<typeof FLAGS>, { help: false }>['values'];

function keysFor(values: Values) {
  if (values['keys-file'] !== undefined) return readKeysFile(values['keys-file']);
  const admin = values['admin-key'];
  if (admin === undefined) throw new UsageError('--url needs --keys-file or --admin-key');
  return { reader: admin, orderer: admin, admin };
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2), FLAGS);
  if (command.help) return showUsage(USAGE);
  const { values } = command;
  if (values.start === true && values.url !== undefined) {
    throw new UsageError('give --start or --url, not both');
  }
  // Without --url the command starts its own node, so a bare `npm run ...` just works.
  const start = values.url === undefined;
  const which = choiceFlag(values, 'scenario', 'all', ['all', ...SCENARIOS] as const);
  const fsync = policyFlag(values, 'fsync', 'fsync', ['fsync', 'write', 'none'] as const);
  const threads = intFlag(values, 'threads', 2, 1, 256);
  if (values.tls === true && !start) {
    throw new UsageError('--tls starts a TLS node; for a running one give an https:// --url');
  }
  let ca: Buffer | undefined;
  try {
    ca = readCaOption(values.ca, process.env)?.pem;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const certDir = values.tls === true ? mkdtempSync(join(tmpdir(), 'inventory-http-tls-')) : null;
  const removeCert = () => {
    if (certDir !== null) rmSync(certDir, { recursive: true, force: true });
  };
  let node: NodeProcess | null = null;
  try {
    if (start) {
      const certificate = certDir === null ? null : makeSelfSignedCertificate(certDir);
      ca = certificate?.ca ?? ca;
      node = await startNodeProcess({
        threads,
        fsync,
        cpus: null,
        orderCapacity: ORDER_CAPACITY_STARTED,
        extraArgs: ['--no-demo'],
        tls: certificate,
      });
    }
  } catch (error) {
    removeCert();
    throw error;
  }
  const started = node;
  const stop = async () => {
    await started?.stop();
    removeCert();
  };
  const release = stopOnSignal(stop);
  try {
    const keys = started?.keys ?? keysFor(values);
    const url = started?.url ?? nodeUrls(values.url!).url;
    const dataset = buildDataset(
      datasetOptionsDefault(intFlag(values, 'seed', SEED_DEFAULT, 0, 2 ** 32)),
    );
    await provisionAt(nodeUrls(url).wsUrl, { apiKey: keys.admin, ca }, dataset);
    const options: HttpScenarioOptions = {
      url,
      readerKey: keys.reader,
      ordererKey: keys.orderer,
      connections: intFlag(values, 'connections', 64, 1, 10_000),
      pipelining: 1,
      durationS: numberFlag(values, 'duration', 10, 1, 3_600),
      warmupS: numberFlag(values, 'warmup', 2, 0, 600),
      amount: intFlag(values, 'amount', AMOUNT_DEFAULT, 1, 1_000_000_000),
      dataset,
      runId: makeRunId(Date.now(), Math.random),
    };
    const date = new Date();
    process.stdout.write(`machine: ${describeMachine(machineInfo())}\n`);
    if (started !== null) {
      const tls = certDir === null ? '' : ', TLS';
      process.stdout.write(
        `node: pid ${started.pid}, ${threads} worker thread(s), fsync=${fsync}${tls}\n`,
      );
    }
    const results: Record<string, unknown> = {};
    // The per-stage budget reads /metrics with the admin key (skipped where it cannot: TLS).
    const metricsKey = url.startsWith('http://') ? keys.admin : null;
    const ratios: string[] = [];
    let failed = false;
    const pipeliningFlag =
      values.pipelining === undefined ? null : intFlag(values, 'pipelining', 1, 1, 1_000);
    for (const scenario of which === 'all' ? SCENARIOS : [which]) {
      const pipelining = pipeliningFlag ?? PIPELINING_DEFAULT[scenario];
      const settings = { ...options, pipelining };
      const result = await measureScenario(scenario, settings, metricsKey);
      const wire = await measureScenario('healthz', settings, metricsKey);
      for (const [name, { run, budget }] of [
        [scenario, result],
        [`healthz (for ${scenario})`, wire],
      ] as const) {
        process.stdout.write(
          `\n== ${name}: ${options.connections} connections, pipelining ${pipelining}\n` +
            autocannon.printResult(run, { renderStatusCodes: true }),
        );
        process.stdout.write(
          `${name}: ${Math.round(run.requests.average)} requests/s, p50 ${run.latency.p50} ms, ` +
            `p99 ${run.latency.p99} ms, non-2xx ${run.non2xx}, errors ${run.errors}\n`,
        );
        if (budget !== null) {
          process.stdout.write(`${formatStageBudget(budget, 'request')}\n`);
        }
        failed ||= run.non2xx > 0 || run.errors > 0;
      }
      const ratio = result.run.requests.average / Math.max(wire.run.requests.average, 1);
      ratios.push(
        `${scenario} ÷ /healthz: ${ratio.toFixed(2)}× (${Math.round(result.run.requests.average)} ` +
          `vs ${Math.round(wire.run.requests.average)} requests/s; ${options.connections} ` +
          `connections, pipelining ${pipelining}; p99 ${result.run.latency.p99} ms)`,
      );
      results[scenario] = { ...result.run, stageBudget: result.budget };
      results[`healthz-${scenario}`] = { ...wire.run, stageBudget: wire.budget };
    }
    process.stdout.write(`\nagainst the wire's own limit, same settings, same run:\n`);
    for (const line of ratios) process.stdout.write(`  ${line}\n`);
    writeJson(`${outDir()}/http-load-${fileStamp(date)}.json`, {
      kind: 'http-load',
      date: date.toISOString(),
      machine: machineInfo(),
      results,
    });
    return failed ? 1 : 0;
  } finally {
    release();
    await stop();
  }
}

if (isEntryPoint(import.meta.url)) runMain(main, USAGE);
