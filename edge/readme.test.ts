/**
 * README.md stays in step with the node: its flag table names every flag the node's usage
 * lists, its quick start is the two commands a fresh clone needs, and the scripts they rely on
 * build on install and before the tests.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { USAGE } from './config.js';

const ROOT = resolve(import.meta.dirname, '..');
const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');

describe('README.md', () => {
  it("lists every flag of the node's usage in its flag table", () => {
    const flags = new Set([...USAGE.matchAll(/^\s+(?:-h, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]));
    expect(flags.size).toBeGreaterThan(15);
    const table = readme.slice(readme.indexOf('| flag | default | meaning |'));
    const rows = table.slice(0, table.indexOf('\n\n'));
    for (const flag of flags) expect(rows, flag).toContain(`\`${flag}\``);
  });

  it('starts with the two quick-start commands, and the scripts they need', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'));
    const start = quickStart.indexOf('```sh\n') + '```sh\n'.length;
    const block = quickStart.slice(start, quickStart.indexOf('\n```', start));
    const commands = block.split('\n').map((line) => line.replace(/#.*/, '').trim());
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
    const { scripts } = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8'));
    expect(scripts.prepare).toBe('npm run build');
    expect(scripts.test).toMatch(/^npm run build\b.*&& vitest run$/);
    expect(scripts.start).toBe('node dist/edge/main.js');
  });
});
