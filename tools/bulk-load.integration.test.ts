import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventoryClient } from '../protocol/client/index.js';
import { bulkLoad, csvParser, parseNdjsonRow, splitCsv } from './bulk-load.js';
import { http, startTestNode, type TestNode } from '../edge/index.js';

const CLI = resolve(import.meta.dirname, '../dist/tools/bulk-load.js');

describe('bulk load parsing', () => {
  it('splits CSV with quotes and escaped quotes', () => {
    expect(splitCsv('a,"b,c","d""e",')).toEqual(['a', 'b,c', 'd"e', '']);
  });

  it('reads NDJSON rows of every kind and refuses the rest', () => {
    expect(parseNdjsonRow('{"type":"sku","id":"x","name":"X"}')).toEqual({
      kind: 'sku',
      args: { id: 'x', name: 'X' },
    });
    expect(parseNdjsonRow('{"dc":"d","sku":"s","qty":3}')).toEqual({
      kind: 'receive',
      args: { dc: 'd', sku: 's', qty: 3 },
    });
    expect(parseNdjsonRow('{"dc":"d","sku":"s","onHand":0}')).toMatchObject({ kind: 'adjust' });
    expect(parseNdjsonRow('   ')).toBe(null);
    expect(parseNdjsonRow('{oops')).toEqual({ error: 'not JSON' });
    expect(parseNdjsonRow('[1]')).toEqual({ error: 'not a JSON object' });
    expect(parseNdjsonRow('{"dc":"d","sku":"s"}')).toHaveProperty('error');
    expect(parseNdjsonRow('{"type":"bogus"}')).toHaveProperty('error');
  });

  it('binds CSV rows to their header', () => {
    const parse = csvParser();
    expect(parse('dc,sku,onHand,reason')).toBe(null);
    expect(parse('d1,s1,7,cycle count')).toEqual({
      kind: 'adjust',
      args: { dc: 'd1', sku: 's1', onHand: 7, reason: 'cycle count' },
    });
    expect(csvParser()('name,qty')).toHaveProperty('error');
  });
});

describe('bulk load into a running node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startTestNode();
  });
  afterAll(async () => {
    await node?.stop();
  });

  async function stockOf(dc: string, sku: string) {
    const answer = await http(node.node.port, `/v1/stock?dc=${dc}&sku=${sku}`, {
      key: node.keys.reader,
    });
    return answer.body as { onHand: number; available: number };
  }

  it('loads a network and its stock, reports bad rows by line, and changes nothing for them', async () => {
    const rows = [
      JSON.stringify({
        type: 'dc',
        id: 'bulk-dc',
        name: 'Bulk DC',
        location: { lat: 12.97, lng: 77.59 },
        radiusKm: 3,
      }),
      JSON.stringify({ type: 'sku', id: 'bulk-sku', name: 'Bulk SKU' }),
      ...Array.from({ length: 300 }, () =>
        JSON.stringify({ dc: 'bulk-dc', sku: 'bulk-sku', qty: 2 }),
      ),
      'this is not json',
      JSON.stringify({ dc: 'bulk-dc', sku: 'no-such-sku', qty: 1 }),
      JSON.stringify({ dc: 'bulk-dc', sku: 'bulk-sku', qty: -4 }),
    ];
    const client = await InventoryClient.connect(node.node.wsUrl, { apiKey: node.keys.admin });
    try {
      const lines = createInterface({ input: Readable.from([`${rows.join('\n')}\n`]) });
      const summary = await bulkLoad(client, lines, { parse: parseNdjsonRow, windowMax: 64 });
      expect(summary).toMatchObject({ rows: 305, applied: 302, failed: 3, uncertain: 0 });
      expect(summary.byCode).toEqual({ BAD_ROW: 1, UNKNOWN_SKU: 1, BAD_QUANTITY: 1 });
      expect(summary.errors.map((error) => error.line)).toEqual([303, 304, 305]);
    } finally {
      await client.close();
    }
    expect(await stockOf('bulk-dc', 'bulk-sku')).toMatchObject({ onHand: 600, available: 600 });
  });

  it('runs as a command over a CSV file of counts', async () => {
    const file = join(node.dataDir, 'counts.csv');
    writeFileSync(file, 'dc,sku,onHand,reason\nbulk-dc,bulk-sku,42,"count, aisle 3"\n');
    const { stdout } = await promisify(execFile)(process.execPath, [
      CLI,
      '--url',
      node.node.wsUrl,
      '--key',
      node.keys.admin,
      file,
    ]);
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({
      rows: 1,
      applied: 1,
      failed: 0,
    });
    expect(await stockOf('bulk-dc', 'bulk-sku')).toMatchObject({ onHand: 42, available: 42 });
  });

  it('exits non-zero and names the line when rows fail', async () => {
    const file = join(node.dataDir, 'bad.ndjson');
    writeFileSync(file, '{"dc":"bulk-dc","sku":"ghost","qty":1}\n');
    const run = promisify(execFile)(process.execPath, [
      CLI,
      '--url',
      node.node.wsUrl,
      '--key',
      node.keys.admin,
      file,
    ]);
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('line 1: UNKNOWN_SKU'),
    });
  });
});
