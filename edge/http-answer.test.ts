/**
 * The answer writer against a stand-in for uWS's HttpResponse that behaves as uWS does under
 * back-pressure: `tryEnd` takes at most what the socket accepts, and reports not done.
 */

import type { HttpResponse } from 'uWebSockets.js';
import { describe, expect, it } from 'vitest';
import { JSON_CONTENT_TYPE, writeAnswer } from './http-answer.js';

/** A response whose socket accepts `accept[i]` body bytes at the i-th write, then everything. */
class FakeResponse {
  readonly head: string[] = [];
  readonly sent: Buffer[] = [];
  total = -1;
  offset = 0;
  done = false;
  aborted: (() => void) | null = null;
  writable: ((offset: number) => boolean) | null = null;

  constructor(private readonly accept: number[]) {}

  writeStatus(status: string): this {
    this.head.push(status);
    return this;
  }

  writeHeader(key: string, value: string): this {
    this.head.push(`${key}: ${value}`);
    return this;
  }

  tryEnd(chunk: string | Uint8Array, totalSize: number): [boolean, boolean] {
    if (this.done) throw new Error('used after the answer was complete');
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    if (this.total < 0) this.total = totalSize === 0 ? bytes.length : totalSize;
    expect(totalSize === 0 || totalSize === this.total).toBe(true);
    const room = this.accept.length > 0 ? this.accept.shift()! : bytes.length;
    const taken = bytes.subarray(0, Math.min(room, bytes.length));
    this.sent.push(Buffer.from(taken));
    this.offset += taken.length;
    this.done = this.offset === this.total;
    return [taken.length === bytes.length, this.done];
  }

  onAborted(handler: () => void): this {
    this.aborted = handler;
    return this;
  }

  onWritable(handler: (offset: number) => boolean): this {
    this.writable = handler;
    return this;
  }

  body(): string {
    return Buffer.concat(this.sent).toString('utf8');
  }
}

function answer(res: FakeResponse, body: string | Uint8Array, allow: string | null = null) {
  return writeAnswer(res as unknown as HttpResponse, 200, JSON_CONTENT_TYPE, body, allow);
}

describe('writeAnswer', () => {
  it('ends in one write when the socket takes the whole answer', () => {
    const res = new FakeResponse([]);
    expect(answer(res, '{"a":1}', 'GET, POST')).toBe(true);
    expect(res.head).toEqual(['200 OK', 'content-type: application/json', 'allow: GET, POST']);
    expect(res.body()).toBe('{"a":1}');
    expect(res.aborted).toBeNull();
    expect(res.writable).toBeNull();
  });

  it('registers an abort handler and writes the rest as the socket drains', () => {
    // The case uWS hits when it cannot flush its cork buffer: nothing of the body was taken.
    const body = JSON.stringify({ text: 'é'.repeat(5_000), n: 1 });
    const res = new FakeResponse([0, 1_000, 3]);
    expect(answer(res, body)).toBe(false);
    expect(res.aborted).not.toBeNull();
    expect(res.writable).not.toBeNull();
    let drains = 0;
    while (!res.done) {
      expect(drains++).toBeLessThan(10);
      expect(typeof res.writable!(res.offset)).toBe('boolean');
    }
    expect(res.body()).toBe(body);
    expect(res.offset).toBe(Buffer.byteLength(body));
    // An abort after the end finds nothing to do.
    res.aborted!();
  });

  it('copies a lent buffer before the callback returns', () => {
    const lent = Buffer.from('{"lent":true}');
    const res = new FakeResponse([4]);
    expect(answer(res, lent)).toBe(false);
    lent.fill(0x20);
    res.writable!(res.offset);
    expect(res.body()).toBe('{"lent":true}');
  });
});
