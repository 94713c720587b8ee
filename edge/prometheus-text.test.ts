/**
 * The text format both ways: the writer's escaping and family rules, the parser's reading of
 * labels, escapes, special values and timestamps, and its refusal of malformed lines.
 */

import { describe, expect, it } from 'vitest';
import { PrometheusParseError, PrometheusWriter, parsePrometheusText } from './prometheus-text.js';

describe('PrometheusWriter', () => {
  it('writes HELP, TYPE and samples, escaping labels and help', () => {
    const text = new PrometheusWriter()
      .family('a_total', 'counter', 'Things.\nTwo lines \\ slash.')
      .sample('a_total', { op: 'x"y', path: 'c:\\d\ne' }, 3)
      .family('b_seconds', 'summary', 'Latency.')
      .sample('b_seconds', { quantile: '0.5' }, 0.25)
      .sample('b_seconds_sum', null, Number.NaN)
      .sample('b_seconds_count', {}, Number.POSITIVE_INFINITY)
      .text();
    expect(text).toBe(
      [
        '# HELP a_total Things.\\nTwo lines \\\\ slash.',
        '# TYPE a_total counter',
        'a_total{op="x\\"y",path="c:\\\\d\\ne"} 3',
        '# HELP b_seconds Latency.',
        '# TYPE b_seconds summary',
        'b_seconds{quantile="0.5"} 0.25',
        'b_seconds_sum NaN',
        'b_seconds_count +Inf',
        '',
      ].join('\n'),
    );
    const parsed = parsePrometheusText(text);
    expect(parsed.samples[0]).toEqual({
      name: 'a_total',
      labels: { op: 'x"y', path: 'c:\\d\ne' },
      value: 3,
    });
    expect(parsed.types.get('b_seconds')).toBe('summary');
    expect(parsed.samples[3].value).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses bad names, a family twice and samples outside their family', () => {
    expect(() => new PrometheusWriter().family('1bad', 'gauge', 'x')).toThrow();
    const writer = new PrometheusWriter().family('a', 'gauge', 'x');
    expect(() => writer.family('a', 'gauge', 'x')).toThrow();
    expect(() => writer.sample('b', null, 1)).toThrow();
    expect(() => writer.sample('a', { 'bad-label': 'x' }, 1)).toThrow();
  });
});

describe('parsePrometheusText', () => {
  it('reads labels with spaces, commas in values and a timestamp', () => {
    const parsed = parsePrometheusText(
      'x{a="1, 2", b = "q" } 4 1700000000000\ny -Inf\n# a comment\n\nz{} 1e-3\n',
    );
    expect(parsed.samples).toEqual([
      { name: 'x', labels: { a: '1, 2', b: 'q' }, value: 4 },
      { name: 'y', labels: {}, value: Number.NEGATIVE_INFINITY },
      { name: 'z', labels: {}, value: 0.001 },
    ]);
  });

  it('refuses lines that are not samples', () => {
    for (const line of ['x', 'x{a="1"', 'x{a=1} 2', 'x abc', '9x 1', 'x 1 2 3', 'x{a="1"} ']) {
      expect(() => parsePrometheusText(`${line}\n`), line).toThrow(PrometheusParseError);
    }
  });
});
