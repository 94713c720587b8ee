/**
 * Structured logs: one JSON object per line with time, level, message and fields; the level
 * threshold; child loggers adding fields; errors and unserialisable fields still give JSON.
 */

import { describe, expect, it } from 'vitest';
import { createLogger, isLogLevel } from './logger.js';

function capture(level: Parameters<typeof createLogger>[0]['level']) {
  const lines: string[] = [];
  const logger = createLogger({ level, clock: () => 0, write: (line) => lines.push(line) });
  return { logger, lines };
}

describe('logger', () => {
  it('writes one JSON object per line, at or above its level', () => {
    const { logger, lines } = capture('info');
    logger.debug('hidden');
    logger.info('ready', { port: 8080 });
    logger.error('failed', { error: new Error('boom') });
    expect(lines).toHaveLength(2);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(
      true,
    );
    expect(JSON.parse(lines[0])).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'info',
      message: 'ready',
      port: 8080,
    });
    expect(JSON.parse(lines[1]).error).toEqual({ name: 'Error', message: 'boom' });
  });

  it('adds a child logger fields and survives fields JSON cannot hold', () => {
    const { logger, lines } = capture('debug');
    const child = logger.child({ thread: 'worker-1' });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    child.warn('odd', { cycle, count: 10n });
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]);
    expect(parsed).toMatchObject({
      level: 'warn',
      message: 'odd',
      thread: 'worker-1',
      cycle: '[object Object]',
      count: '10',
    });
    const { logger: silent, lines: none } = capture('silent');
    silent.error('nothing');
    expect(none).toEqual([]);
    expect(isLogLevel('warn')).toBe(true);
    expect(isLogLevel('loud')).toBe(false);
  });
});
