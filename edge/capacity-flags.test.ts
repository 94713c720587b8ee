/**
 * --dc-capacity and --sku-capacity on the node's command line: set only when given (a restart
 * without them keeps the data directory's), checked alone and together, never smaller than
 * the demo network they would have to hold.
 */

import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, resolveConfig } from '../engine/index.js';
import { checkNodeOptions, defaultNodeOptions, OptionsError, parseCli, USAGE } from './config.js';

function options(argv: string[]) {
  const parsed = parseCli(argv, {});
  if (parsed.help) throw new Error('help');
  return parsed.options;
}

function refusal(argv: string[]): string {
  try {
    parseCli(argv, {});
  } catch (error) {
    expect(error).toBeInstanceOf(OptionsError);
    return (error as Error).message;
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

describe('capacity flags', () => {
  it('leaves the capacities unset unless given, so the data directory keeps its own', () => {
    expect(options([]).engineConfig).toEqual({});
    expect(
      options(['--no-demo', '--dc-capacity', '10000', '--sku-capacity', '100000']),
    ).toMatchObject({ engineConfig: { dcCapacity: 10_000, skuCapacity: 100_000 } });
    expect(options(['--sku-capacity=70000']).engineConfig).toEqual({ skuCapacity: 70_000 });
  });

  it('has defaults for a metro, and the demo network fits them', () => {
    expect(DEFAULT_CONFIG).toMatchObject({ dcCapacity: 1_024, skuCapacity: 65_536 });
    const { demo } = defaultNodeOptions();
    expect(demo!.dcs).toBeLessThanOrEqual(DEFAULT_CONFIG.dcCapacity);
    expect(demo!.skus).toBeLessThanOrEqual(DEFAULT_CONFIG.skuCapacity);
    expect(USAGE).toMatch(/--dc-capacity <n> +most DCs the network holds \(default 1024/);
    expect(USAGE).toMatch(/--sku-capacity <n> +most SKUs the catalogue holds \(default 65536/);
  });

  it('refuses values out of range, and pairs past 2^31 cells, saying which', () => {
    expect(refusal(['--dc-capacity', '0'])).toMatch(/--dc-capacity must be an integer in \[1,/);
    expect(refusal(['--dc-capacity', '1.5'])).toMatch(/--dc-capacity/);
    expect(refusal(['--sku-capacity', String(2 ** 24 + 1)])).toMatch(/--sku-capacity/);
    expect(refusal(['--no-demo', '--dc-capacity', '100000', '--sku-capacity', '100000'])).toMatch(
      /below 2\^31 cells.*100000 × 100000/,
    );
    // The largest reference-scale pair fits, with shards under the 2 GiB limit.
    const reference = resolveConfig({ dcCapacity: 10_000, skuCapacity: 100_000 });
    expect(reference.dcsPerShard * reference.skuCapacity * 8).toBeLessThanOrEqual(2 ** 31);
    const widest = resolveConfig({ dcCapacity: 100, skuCapacity: 2 ** 24 });
    expect(widest.dcsPerShard * widest.skuCapacity * 8).toBeLessThanOrEqual(2 ** 31);
  });

  it('refuses a capacity smaller than the demo it would have to hold', () => {
    expect(refusal(['--dc-capacity', '10'])).toMatch(/smaller than the demo network's 60 DCs/);
    expect(refusal(['--sku-capacity', '100', '--demo-skus', '200'])).toMatch(/--no-demo/);
    expect(options(['--dc-capacity', '10', '--no-demo']).engineConfig.dcCapacity).toBe(10);
    expect(options(['--dc-capacity', '10', '--demo-dcs', '10']).demo!.dcs).toBe(10);
    const programmatic = { ...defaultNodeOptions(), engineConfig: { skuCapacity: 10 } };
    expect(() => checkNodeOptions(programmatic)).toThrow(/demo network's 5000 SKUs/);
  });
});
