/**
 * Where the compiled entry file of one of the log's threads lives. Threads always run the
 * compiled JavaScript under dist/: from compiled code that is the file next to this one; from
 * the TypeScript sources (tests run them directly) it is the same path under dist/.
 */

export function compiledWalFile(name: string): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL(`../dist/wal/${name}`, here);
  return new URL(`./${name}`, here);
}
