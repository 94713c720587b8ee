/**
 * The Prometheus text exposition format, version 0.0.4: a writer for `/metrics` and a parser
 * for the `stats` command (and anything else that reads a node's metrics).
 *
 * Format, as written here: for each metric family a `# HELP name text` line, a `# TYPE name
 * type` line, then its samples `name{label="value",...} number`, one per line, families never
 * interleaved. Label values escape backslash, double quote and newline; HELP text escapes
 * backslash and newline. Numbers are JavaScript's shortest round-trip form, `NaN`, `+Inf` or
 * `-Inf`.
 */

export type MetricType = 'counter' | 'gauge' | 'summary' | 'histogram' | 'untyped';

export type Labels = Record<string, string>;

/** The content type a scraper expects for this format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export class PrometheusWriter {
  private readonly lines: string[] = [];
  private readonly families = new Set<string>();
  private current = '';

  /** Starts a family; its samples must follow before the next family starts. */
  family(name: string, type: MetricType, help: string): this {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name ${name}`);
    if (this.families.has(name)) throw new Error(`metric family ${name} written twice`);
    this.families.add(name);
    this.current = name;
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return this;
  }

  /**
   * One sample of the current family: `name` is the family's name or, for summaries, the
   * family name with `_sum` or `_count`.
   */
  sample(name: string, labels: Labels | null, value: number): this {
    if (name !== this.current && !name.startsWith(`${this.current}_`)) {
      throw new Error(`sample ${name} outside its family ${this.current}`);
    }
    let text = name;
    if (labels !== null) {
      const parts: string[] = [];
      for (const key of Object.keys(labels)) {
        if (!LABEL_NAME.test(key)) throw new Error(`bad label name ${key}`);
        parts.push(`${key}="${escapeLabelValue(labels[key])}"`);
      }
      if (parts.length > 0) text += `{${parts.join(',')}}`;
    }
    this.lines.push(`${text} ${formatValue(value)}`);
    return this;
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export interface ParsedMetrics {
  samples: Sample[];
  /** Family name → type, from the TYPE lines. */
  types: Map<string, MetricType>;
  help: Map<string, string>;
}

export class PrometheusParseError extends Error {
  readonly code = 'BAD_METRICS_TEXT';
}

function parseNumber(text: string, line: number): number {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) {
    throw new PrometheusParseError(`line ${line}: '${text}' is not a number`);
  }
  return value;
}

/** Parses `{a="x",b="y"}` starting at `from` (the `{`); returns the labels and the end. */
function parseLabels(text: string, from: number, line: number): { labels: Labels; end: number } {
  const labels: Labels = {};
  let at = from + 1;
  for (;;) {
    while (text[at] === ' ') at++;
    if (text[at] === '}') return { labels, end: at + 1 };
    const equals = text.indexOf('=', at);
    if (equals < 0) throw new PrometheusParseError(`line ${line}: label without '='`);
    const key = text.slice(at, equals).trim();
    let quote = equals + 1;
    while (text[quote] === ' ') quote++;
    if (!LABEL_NAME.test(key) || text[quote] !== '"') {
      throw new PrometheusParseError(`line ${line}: bad label ${key}`);
    }
    let value = '';
    at = quote + 1;
    for (; at < text.length && text[at] !== '"'; at++) {
      if (text[at] !== '\\') {
        value += text[at];
        continue;
      }
      const next = text[++at];
      value += next === 'n' ? '\n' : next;
    }
    if (at >= text.length) throw new PrometheusParseError(`line ${line}: unterminated value`);
    labels[key] = value;
    at++;
    while (text[at] === ' ') at++;
    if (text[at] === ',') at++;
    else if (text[at] !== '}') throw new PrometheusParseError(`line ${line}: expected , or }`);
  }
}

/** Parses exposition text; throws PrometheusParseError on a line that is not valid. */
export function parsePrometheusText(text: string): ParsedMetrics {
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  const help = new Map<string, string>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    const number = index + 1;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (match === null) continue;
      if (match[1] === 'HELP') help.set(match[2], match[3]);
      else types.set(match[2], match[3] as MetricType);
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new PrometheusParseError(`line ${number}: no value`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new PrometheusParseError(`line ${number}: bad name`);
    let labels: Labels = {};
    let rest = nameEnd;
    if (line[nameEnd] === '{') {
      const parsed = parseLabels(line, nameEnd, number);
      labels = parsed.labels;
      rest = parsed.end;
    }
    const fields = line.slice(rest).trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2) {
      throw new PrometheusParseError(`line ${number}: expected a value and an optional timestamp`);
    }
    samples.push({ name, labels, value: parseNumber(fields[0], number) });
  }
  return { samples, types, help };
}
