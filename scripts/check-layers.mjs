// Keeps the dependency arrows of ARCHITECTURE.md: protocol depends on nothing in the repo,
// engine only on protocol, wal on protocol and engine, cluster on wal and below, edge wires
// everything; bench, loadtest and tools (the programs that are not the node) use the libraries.
//
// Each layer is imported through its index only: a file of layer X that imports from layer
// Y ≠ X names `Y/index.js`, or the index.js of one of Y's sub-packages (`protocol/client/`,
// `engine/testing/`, `engine/geo/`, `cluster/gate/`), never another file of Y. A layer's
// index.ts is its public surface; what is not exported there is private to the layer.
//
// Tests (`*.test.ts`) keep the arrows but are exempt from the index rule: a test checks a
// layer's internals (a slot layout, a ring's control words, a parser) that no other layer may
// use, so it imports them where they live. Test helpers that are not tests (`testing/`
// folders) follow the rule like any other file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const allowed = {
  protocol: ['protocol'],
  engine: ['engine', 'protocol'],
  wal: ['wal', 'engine', 'protocol'],
  // The cluster layer (regions, leases, log shipping on NATS JetStream) builds on the log.
  cluster: ['cluster', 'wal', 'engine', 'protocol'],
  edge: ['edge', 'engine', 'protocol', 'wal', 'cluster'],
  bench: ['bench', 'engine', 'protocol', 'wal', 'edge'],
  loadtest: ['loadtest', 'protocol', 'edge', 'engine', 'wal', 'cluster'],
  tools: ['tools', 'protocol', 'engine', 'wal', 'edge', 'cluster'],
};

/** True when `target` (a path from the root, `layer/...`) is a layer's or a sub-package's index. */
function isIndex(target) {
  return target.endsWith('/index.js') && existsSync(join(root, target.replace(/\.js$/, '.ts')));
}

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts') || name.endsWith('.cts')) yield path;
  }
}

let violations = 0;
let indexViolations = 0;
for (const layer of Object.keys(allowed)) {
  let dir;
  try {
    dir = join(root, layer);
    statSync(dir);
  } catch {
    continue;
  }
  for (const file of files(dir)) {
    const text = readFileSync(file, 'utf8');
    const isTest = file.endsWith('.test.ts');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(root, resolve(dirname(file), match[1]));
      const targetLayer = target.split('/')[0];
      if (!(targetLayer in allowed)) continue;
      if (!allowed[layer].includes(targetLayer)) {
        console.error(`${relative(root, file)}: ${layer}/ may not import ${target}`);
        violations++;
      } else if (targetLayer !== layer && !isTest && !isIndex(target)) {
        console.error(
          `${relative(root, file)}: imports ${target}; import ${targetLayer}/ through ` +
            `${targetLayer}/index.js (export what is needed there)`,
        );
        indexViolations++;
      }
    }
  }
}
if (violations > 0 || indexViolations > 0) {
  if (violations > 0) console.error(`${violations} layering violation(s)`);
  if (indexViolations > 0) {
    console.error(
      `${indexViolations} import(s) past a layer's index.ts (see this script's header)`,
    );
  }
  process.exit(1);
}
console.log('layers ok');
