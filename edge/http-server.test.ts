/**
 * The HTTP server's acknowledgement of a durable change on a cluster node, against stand-ins
 * for uWS's app, request and response (the real server is covered by the integration tests):
 * ownership is read again right before the answer is written, and a deadline that passes right
 * after the write is named in the log.
 */

import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { WIRE_LIMITS } from '../protocol/limits.js';
import { HttpServer } from './http-server.js';
import { KeyRing } from './keys.js';
import { createLogger } from './logger.js';
import { ACKS_ACROSS_DEADLINE } from './ownership-check.js';
import { NOT_OWNER_REFUSAL, testOperationContext } from './testing/context.js';

const KEYS = {
  reader: ['reader-key-0123456789'],
  orderer: ['orderer-key-0123456789'],
  admin: ['admin-key-0123456789'],
};
const HERE = { lat: 10, lng: 10 };

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** What a stand-in response received. */
interface Answer {
  status: string;
  body: string;
}

interface Harness {
  post(path: string, body: unknown): Answer;
  makeDurable(): void;
  /** Makes the node lose its region (the context's ownership refuses from then on). */
  lose(): void;
  /** Called right after an answer's body is written. */
  afterWrite: { hook: (() => void) | null };
  logged: Record<string, unknown>[];
}

function harness(): Harness {
  let ticket = 0;
  const waits: (() => void)[] = [];
  const engine = Engine.create(
    { dcCapacity: 4, skuCapacity: 16, orderCapacity: 1 << 10, dcsPerShard: 4 },
    { log: { writable: () => true, append: () => ++ticket } },
  );
  engine.upsertDc({ id: 'dc', name: 'DC', location: HERE, radiusKm: 5 }, { actor: 'test' });
  engine.upsertSku({ id: 'sku', name: 'SKU' }, { actor: 'test' });
  engine.receive('dc', 'sku', 1_000, { actor: 'test' });
  let lost = false;
  const logged: Record<string, unknown>[] = [];
  const context = testOperationContext(engine, {
    log: {
      waitDurable: () => new Promise<void>((resolve) => waits.push(resolve)),
      lastAppendedTicket: () => ticket,
    },
    ownership: { refusal: () => (lost ? NOT_OWNER_REFUSAL : null) },
  });
  const server = new HttpServer({
    keys: new KeyRing(KEYS),
    context,
    limits: WIRE_LIMITS,
    logger: createLogger({
      level: 'warn',
      clock: () => 0,
      write: (line) => logged.push(JSON.parse(line)),
    }),
    readiness: () => ({ ready: true }) as never,
  });
  const posts = new Map<string, Handler>();
  const app = {
    get: () => app,
    put: () => app,
    any: () => app,
    post: (pattern: string, handler: Handler) => {
      posts.set(pattern, handler);
      return app;
    },
  };
  server.register(app as unknown as TemplatedApp);
  const afterWrite: Harness['afterWrite'] = { hook: null };
  const post = (path: string, body: unknown): Answer => {
    const answer: Answer = { status: '', body: '' };
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    let onData: ((chunk: ArrayBuffer, isLast: boolean) => void) | null = null;
    const res = {
      onAborted: () => res,
      onData: (handler: typeof onData) => {
        onData = handler;
        return res;
      },
      cork: (callback: () => void) => {
        callback();
        return res;
      },
      writeStatus: (status: string) => {
        answer.status = status;
        return res;
      },
      writeHeader: () => res,
      tryEnd: (written: string | Uint8Array) => {
        answer.body = typeof written === 'string' ? written : new TextDecoder().decode(written);
        afterWrite.hook?.();
        return [true, true];
      },
      end: () => res,
      close: () => res,
    };
    const headers: Record<string, string> = {
      authorization: `Bearer ${KEYS.orderer[0]}`,
      'content-length': String(bytes.length),
    };
    const req = { getHeader: (name: string) => headers[name] ?? '', getQuery: () => '' };
    posts.get(path)!(res as unknown as HttpResponse, req as unknown as HttpRequest);
    const handler = onData as ((chunk: ArrayBuffer, isLast: boolean) => void) | null;
    handler?.(bytes.buffer.slice(0) as ArrayBuffer, true);
    return answer;
  };
  return {
    post,
    makeDurable: () => {
      for (const resolve of waits.splice(0)) resolve();
    },
    lose: () => {
      lost = true;
    },
    afterWrite,
    logged,
  };
}

function order(orderId: string) {
  return { orderId, location: HERE, mode: 'hold', lines: [{ sku: 'sku', qty: 1 }] };
}

/** Lets promise callbacks and the fence's look in the next turn run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

let h: Harness;
beforeEach(() => {
  h = harness();
});

describe('HttpServer on a cluster node', () => {
  it('acknowledges a durable order while it owns its region, and reports nothing', async () => {
    const answer = h.post('/v1/orders', order('o-1'));
    expect(answer.status).toBe('');
    h.makeDurable();
    await settle();
    expect(answer.status).toMatch(/^201/);
    expect(JSON.parse(answer.body)).toMatchObject({ orderId: 'o-1', status: 'held' });
    expect(h.logged).toEqual([]);
  });

  it('answers NOT_OWNER when the region was lost before the acknowledgement was written', async () => {
    const answer = h.post('/v1/orders', order('o-2'));
    // The change is durable, but the deadline has passed by the time its answer would leave.
    h.lose();
    h.makeDurable();
    await settle();
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'NOT_OWNER' } });
    expect(answer.status).not.toMatch(/^2/);
  });

  it('names an acknowledgement whose write the deadline may have overtaken', async () => {
    const answer = h.post('/v1/orders', order('o-3'));
    // The region is lost right after the answer was handed to the socket, as when a pause
    // falls between the last check and the write.
    h.afterWrite.hook = () => h.lose();
    h.makeDurable();
    await settle();
    await settle();
    expect(answer.status).toMatch(/^201/);
    expect(h.logged).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: ACKS_ACROSS_DEADLINE,
        acknowledgements: 1,
      }),
    ]);
  });
});
