/**
 * Codec tests: round trips, each class of malformed frame and its code, and a seeded fuzz of
 * hostile inputs asserting that decoding never throws and refuses garbage with the right
 * code. Replay a fuzz failure with SEED=<seed>.
 */

import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { WireCodec } from './codec.js';
import { FrameScanner, ScanOutcomes } from './frame-scan.js';
import { FRAME_BYTES_MAX, NESTING_DEPTH_MAX, REQUESTS_PER_FRAME_MAX } from './limits.js';
import { CloseCodes, MessageKinds, type WireMessage, type WireRequest } from './messages.js';

/** mulberry32: a small seeded PRNG, enough for fuzzing. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = process.env.SEED ? Number(process.env.SEED) : Date.now() % 1_000_000_007;

const ORDER: WireRequest = [
  7,
  'placeOrder',
  {
    orderId: 'o-1',
    location: { lat: 12.97, lng: 77.59 },
    lines: [
      { sku: 'milk', qty: 2 },
      { sku: 'bread', qty: 1 },
    ],
    mode: 'hold',
    ttlSeconds: 600,
  },
];

function bytesOf(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

/** Encodes any value with a Packr configured like the codec's. */
function raw(value: unknown): Uint8Array {
  return new WireCodec().encodeValue(value);
}

describe('round trips', () => {
  it('decodes the requests it encodes', () => {
    const codec = new WireCodec();
    const requests: WireRequest[] = [
      ORDER,
      [8, 'ping', {}],
      [0xffff_ffff, 'getOrder', { orderId: 'x' }],
    ];
    const result = codec.decodeRequestFrame(codec.encodeRequests(requests));
    expect(result).toEqual({ ok: true, requests });
  });

  it('decodes the messages it encodes, including notices', () => {
    const codec = new WireCodec();
    const messages: WireMessage[] = [
      [1, MessageKinds.OK, { now: 1_700_000_000_000 }],
      [2, MessageKinds.ERROR, { code: 'OUT_OF_STOCK', message: 'no', lines: [] }],
      [3, MessageKinds.PUSH, { sku: 'milk', available: 4 }],
    ];
    expect(codec.decodeMessageFrame(codec.encodeMessages(messages))).toEqual({
      ok: true,
      messages,
    });
    const notice = codec.decodeMessageFrame(codec.encodeNotice({ code: 'SHUTTING_DOWN' }));
    expect(notice).toEqual({ ok: true, messages: [[0, 3, { code: 'SHUTTING_DOWN' }]] });
  });

  it('writes undefined as nil, plain maps and float 64, nothing msgpackr-specific', () => {
    const bytes = raw({ a: undefined, b: 0.5 });
    // fixmap? no: map16 (0xde) with 2 entries; 'a' → nil (0xc0); 'b' → float 64 (0xcb).
    expect(Array.from(bytes.subarray(0, 3))).toEqual([0xde, 0x00, 0x02]);
    expect(Array.from(bytes)).toContain(0xc0);
    expect(Array.from(bytes)).toContain(0xcb);
    expect(Array.from(bytes)).not.toContain(0xd4);
  });

  it('accepts an ArrayBuffer and returns values that do not alias the input', () => {
    const codec = new WireCodec();
    const encoded = codec.encodeRequests([
      [1, 'ping', { note: 'hello', blob: Buffer.from([1, 2]) }],
    ]);
    const borrowed = new ArrayBuffer(encoded.length);
    new Uint8Array(borrowed).set(encoded);
    const result = codec.decodeRequestFrame(borrowed);
    new Uint8Array(borrowed).fill(0);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.requests[0][2].note).toBe('hello');
    expect(Array.from(result.requests[0][2].blob as Uint8Array)).toEqual([1, 2]);
  });

  it('encodes transient frames in one buffer that the next encode reuses', () => {
    const codec = new WireCodec();
    const messages: WireMessage[] = [[4, MessageKinds.OK, { column: Buffer.alloc(3000, 7) }]];
    const kept = Uint8Array.from(codec.encodeMessages(messages));
    const first = codec.encodeMessagesTransient(messages);
    expect(Array.from(first)).toEqual(Array.from(kept));
    const second = codec.encodeMessagesTransient([[5, MessageKinds.OK, { n: 1 }]]);
    // The same bytes of the same buffer: nothing new is allocated for the second frame.
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    const decoded = codec.decodeMessageFrame(second);
    expect(decoded.ok && decoded.messages).toEqual([[5, MessageKinds.OK, { n: 1 }]]);
    // A frame kept from encodeMessages is never written over.
    const held = codec.encodeMessages(messages);
    const copy = Uint8Array.from(held);
    codec.encodeMessagesTransient([[6, MessageKinds.OK, { column: Buffer.alloc(5000, 9) }]]);
    expect(Array.from(held)).toEqual(Array.from(copy));
  });

  it('with aliasBinary, decodes binary as views of the frame and strings as copies', () => {
    const codec = new WireCodec({}, { aliasBinary: true });
    const encoded = Buffer.from(
      codec.encodeMessages([[3, MessageKinds.OK, { note: 'hi', column: Buffer.from([5, 6, 7]) }]]),
    );
    const result = codec.decodeMessageFrame(encoded);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const body = result.messages[0][2] as { note: string; column: Uint8Array };
    expect(Array.from(body.column)).toEqual([5, 6, 7]);
    expect(body.column.buffer).toBe(encoded.buffer);
    // The view reads the frame's bytes in place; the string was copied out.
    encoded.fill(0);
    expect(Array.from(body.column)).toEqual([0, 0, 0]);
    expect(body.note).toBe('hi');
  });

  it('never lets decoded binary alias a borrowed frame, however many bins it holds', () => {
    const codec = new WireCodec();
    const columns = {
      lat: Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]),
      lng: Buffer.from([9, 10, 11, 12, 13, 14, 15, 16]),
      qty: Buffer.from([17, 18, 19, 20]),
    };
    const frames = [
      (args: Record<string, unknown>) =>
        new Uint8Array(codec.encodeRequests([[1, 'placeOrders', args]])),
      // A Buffer, whose own slice is a view, not a copy.
      (args: Record<string, unknown>) =>
        Buffer.from(codec.encodeRequests([[1, 'placeOrders', args]])),
    ];
    for (const [args, made] of [columns, { qty: columns.qty }].flatMap((args) =>
      frames.map((make) => [args, make] as const),
    )) {
      const frame = made(args);
      const result = codec.decodeRequestFrame(frame);
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      const decoded = result.requests[0][2] as Record<string, Uint8Array>;
      frame.fill(0);
      for (const [key, bytes] of Object.entries(args)) {
        expect(Array.from(decoded[key]), key).toEqual(Array.from(bytes));
        expect(decoded[key].buffer).not.toBe(frame.buffer);
      }
    }
    // Several bins are views of one copy of the frame, not a buffer each.
    const frame = codec.encodeRequests([[1, 'placeOrders', columns]]);
    const result = codec.decodeRequestFrame(frame);
    if (!result.ok) throw new Error(result.message);
    const decoded = result.requests[0][2] as Record<string, Uint8Array>;
    expect(decoded.lng.buffer).toBe(decoded.lat.buffer);
    expect(decoded.qty.buffer).toBe(decoded.lat.buffer);
  });

  it('encoded frames stay intact after later encodes', () => {
    const codec = new WireCodec();
    const first = codec.encodeRequests([ORDER]);
    const copy = Uint8Array.from(first);
    for (let index = 0; index < 2000; index++) codec.encodeRequests([[index, 'ping', {}]]);
    expect(Array.from(first)).toEqual(Array.from(copy));
  });

  it('turns a __proto__ key into an own property without touching prototypes', () => {
    const codec = new WireCodec();
    const frame = raw([[1, 'ping', JSON.parse('{"__proto__": {"polluted": true}}')]]);
    const result = codec.decodeRequestFrame(frame);
    expect(result.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    if (result.ok) expect(Object.getPrototypeOf(result.requests[0][2])).toBe(Object.prototype);
  });
});

describe('malformed frames', () => {
  const codec = new WireCodec();
  const badFrame = { ok: false, code: 'BAD_FRAME', closeCode: CloseCodes.INVALID_PAYLOAD };
  const tooLarge = { ok: false, code: 'FRAME_TOO_LARGE', closeCode: CloseCodes.MESSAGE_TOO_BIG };

  it('refuses empty, non-array and empty-array frames', () => {
    expect(codec.decodeRequestFrame(new Uint8Array(0))).toMatchObject(badFrame);
    expect(codec.decodeRequestFrame(raw({ a: 1 }))).toMatchObject(badFrame);
    expect(codec.decodeRequestFrame(raw('text'))).toMatchObject(badFrame);
    expect(codec.decodeRequestFrame(raw(42))).toMatchObject(badFrame);
    expect(codec.decodeRequestFrame(bytesOf(0x90))).toMatchObject(badFrame);
  });

  it('refuses frames over the byte and request limits before decoding', () => {
    const big = new Uint8Array(FRAME_BYTES_MAX + 1);
    big[0] = 0x91;
    expect(codec.decodeRequestFrame(big)).toMatchObject(tooLarge);
    const many: WireRequest[] = [];
    for (let index = 0; index <= REQUESTS_PER_FRAME_MAX; index++) many.push([index, 'ping', {}]);
    expect(codec.decodeRequestFrame(codec.encodeRequests(many))).toMatchObject(tooLarge);
    // A header claiming 2^32 - 1 requests with nothing behind it.
    expect(codec.decodeRequestFrame(bytesOf(0xdd, 0xff, 0xff, 0xff, 0xff))).toMatchObject(tooLarge);
    expect(codec.decodeRequestFrame(codec.encodeRequests(many.slice(1)))).toMatchObject({
      ok: true,
    });
  });

  it('refuses every truncation and any trailing byte', () => {
    const frame = codec.encodeRequests([ORDER, [9, 'ping', {}]]);
    for (let length = 1; length < frame.length; length++) {
      expect(codec.decodeRequestFrame(frame.subarray(0, length))).toMatchObject(badFrame);
    }
    const trailing = new Uint8Array(frame.length + 1);
    trailing.set(frame);
    expect(codec.decodeRequestFrame(trailing)).toMatchObject(badFrame);
  });

  it('refuses requests that are not [uint32, string, map]', () => {
    const shapes: unknown[] = [
      [1, 'ping'],
      [1, 'ping', {}, 4],
      [-1, 'ping', {}],
      [1.5, 'ping', {}],
      [2 ** 32, 'ping', {}],
      [Number.NaN, 'ping', {}],
      ['1', 'ping', {}],
      [1, 5, {}],
      [1, null, {}],
      [1, 'ping', []],
      [1, 'ping', null],
      [1, 'ping', 'args'],
      [1, 'ping', Buffer.from([1])],
      { id: 1, op: 'ping', args: {} },
      'ping',
    ];
    for (const shape of shapes) {
      expect(codec.decodeRequestFrame(raw([shape])), JSON.stringify(shape)).toMatchObject(badFrame);
    }
  });

  it('refuses nesting deeper than the bound, anywhere in the frame', () => {
    const depth = 100_000;
    const nested = new Uint8Array(depth + 1);
    nested.fill(0x91, 0, depth);
    nested[depth] = 0xc0;
    const result = codec.decodeRequestFrame(nested);
    expect(result).toMatchObject(badFrame);
    if (!result.ok) expect(result.message).toMatch(/deeper/);
    let args: unknown = 1;
    for (let level = 0; level < NESTING_DEPTH_MAX; level++) args = { a: args };
    expect(codec.decodeRequestFrame(raw([[1, 'ping', args]]))).toMatchObject(badFrame);
  });

  it('refuses extension types, 0xc1 and non-string map keys', () => {
    // A msgpackr record definition, a timestamp, a msgpackr error ext and the never-used byte.
    const records = new Packr({ useRecords: true }).pack([[1, 'ping', { a: 1 }]]);
    expect(codec.decodeRequestFrame(records)).toMatchObject(badFrame);
    const timestamp = bytesOf(
      0x91,
      0x93,
      0x01,
      0xa1,
      0x70,
      0x81,
      0xa1,
      0x74,
      0xd6,
      0xff,
      0,
      0,
      0,
      1,
    );
    expect(codec.decodeRequestFrame(timestamp)).toMatchObject(badFrame);
    const c1 = bytesOf(0x91, 0x93, 0x01, 0xa1, 0x70, 0x81, 0xa1, 0x74, 0xc1);
    expect(codec.decodeRequestFrame(c1)).toMatchObject(badFrame);
    const intKey = bytesOf(0x91, 0x93, 0x01, 0xa1, 0x70, 0x81, 0x05, 0x01);
    expect(codec.decodeRequestFrame(intKey)).toMatchObject(badFrame);
    const okKey = bytesOf(0x91, 0x93, 0x01, 0xa1, 0x70, 0x81, 0xa1, 0x74, 0x01);
    expect(codec.decodeRequestFrame(okKey)).toEqual({ ok: true, requests: [[1, 'p', { t: 1 }]] });
  });

  it('refuses lengths that run past the end without allocating for them', () => {
    // str 32 claiming 4 GiB, bin 32, array 32 and map 32 claiming 2^32 - 1 elements.
    const heads = [
      [0xdb, 0xff, 0xff, 0xff, 0xff],
      [0xc6, 0xff, 0xff, 0xff, 0xff],
      [0xdd, 0xff, 0xff, 0xff, 0xff],
      [0xdf, 0xff, 0xff, 0xff, 0xff],
    ];
    for (const head of heads) {
      const frame = bytesOf(0x91, 0x93, 0x01, 0xa1, 0x70, 0x81, 0xa1, 0x74, ...head, 0, 0);
      expect(codec.decodeRequestFrame(frame)).toMatchObject(badFrame);
    }
  });

  it('checks server frames on the client side too', () => {
    expect(codec.decodeMessageFrame(raw([[1, 7, {}]]))).toMatchObject(badFrame);
    expect(codec.decodeMessageFrame(raw([[1, 0]]))).toMatchObject(badFrame);
    expect(codec.decodeMessageFrame(raw([]))).toMatchObject(badFrame);
    expect(codec.decodeMessageFrame(bytesOf(0x91, 0x93))).toMatchObject(badFrame);
  });
});

describe('frame scanner', () => {
  it('accepts exactly the values the decoder would produce from the accepted subset', () => {
    const scanner = new FrameScanner(4);
    expect(scanner.scan(raw([1, -1, 1.5, 'x', null, true, false, { k: [1] }]))).toBe(
      ScanOutcomes.OK,
    );
    expect(scanner.scan(raw([[[[1]]]]))).toBe(ScanOutcomes.OK);
    expect(scanner.scan(raw([[[[[1]]]]]))).toBe(ScanOutcomes.TOO_DEEP);
    expect(() => new FrameScanner(0)).toThrow(RangeError);
  });
});

// Fuzz.

type Garbage = { bytes: Uint8Array; expect?: 'BAD_FRAME' | 'FRAME_TOO_LARGE' };

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = Math.floor(random() * 256);
  return bytes;
}

function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0:
      return Math.floor(random() * 2 ** 33) - 2 ** 32;
    case 1:
      return random() < 0.5 ? Number.NaN : (random() - 0.5) * 1e12;
    case 2:
      return 'x'.repeat(Math.floor(random() * 70));
    case 3:
      return null;
    case 4:
      return random() < 0.5;
    case 5:
      return random() < 0.2 ? Number.POSITIVE_INFINITY : -Math.floor(random() * 100);
    case 6: {
      const array: unknown[] = [];
      const count = Math.floor(random() * 5);
      for (let index = 0; index < count; index++) array.push(randomValue(random, depth + 1));
      return array;
    }
    default: {
      const map: Record<string, unknown> = {};
      const count = Math.floor(random() * 4);
      for (let index = 0; index < count; index++) {
        map[`k${Math.floor(random() * 10)}`] = randomValue(random, depth + 1);
      }
      return map;
    }
  }
}

/** One hostile input from one of several classes; `expect` when its code is certain. */
function garbage(random: () => number, codec: WireCodec): Garbage {
  const valid = codec.encodeRequests([ORDER, [Math.floor(random() * 1e6), 'ping', {}]]);
  const kind = Math.floor(random() * 8);
  switch (kind) {
    case 0:
      return { bytes: randomBytes(random, 1 + Math.floor(random() * 64)) };
    case 1: // truncated
      return { bytes: valid.subarray(0, Math.floor(random() * valid.length)), expect: 'BAD_FRAME' };
    case 2: {
      // bit flips in a valid frame
      const bytes = Uint8Array.from(valid);
      const flips = 1 + Math.floor(random() * 4);
      for (let flip = 0; flip < flips; flip++) {
        bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
      }
      return { bytes };
    }
    case 3: {
      // deep nesting of arrays or maps with a valid tail
      const depth = NESTING_DEPTH_MAX + 1 + Math.floor(random() * 5000);
      const bytes = new Uint8Array(depth * 2 + 1);
      let position = 0;
      for (let level = 0; level < depth; level++) {
        if (random() < 0.5) bytes[position++] = 0x91;
        else {
          bytes[position++] = 0x81;
          bytes[position++] = 0xa0;
        }
      }
      bytes[position++] = 0xc0;
      return { bytes: bytes.subarray(0, position), expect: 'BAD_FRAME' };
    }
    case 4: {
      // a huge request count with a few bytes behind it
      const count = REQUESTS_PER_FRAME_MAX + 1 + Math.floor(random() * 2 ** 31);
      const bytes = new Uint8Array(5 + Math.floor(random() * 8));
      bytes[0] = 0xdd;
      new DataView(bytes.buffer).setUint32(1, count);
      return { bytes, expect: 'FRAME_TOO_LARGE' };
    }
    case 5: // well-formed MessagePack of the wrong shape
      return { bytes: raw(randomValue(random, 0)) };
    case 6: {
      // requests with hostile envelopes
      const requests = [];
      const count = 1 + Math.floor(random() * 4);
      for (let index = 0; index < count; index++) {
        requests.push([randomValue(random, 2), randomValue(random, 2), randomValue(random, 1)]);
      }
      return { bytes: raw(requests) };
    }
    default: {
      // random bytes behind a plausible header
      const bytes = randomBytes(random, 2 + Math.floor(random() * 40));
      bytes[0] = 0x91;
      bytes[1] = 0x93;
      return { bytes };
    }
  }
}

function isValidEnvelope(request: unknown): boolean {
  return (
    Array.isArray(request) &&
    request.length === 3 &&
    Number.isInteger(request[0]) &&
    request[0] >= 0 &&
    request[0] <= 0xffff_ffff &&
    typeof request[1] === 'string' &&
    typeof request[2] === 'object' &&
    request[2] !== null &&
    !Array.isArray(request[2])
  );
}

describe('fuzz', () => {
  it('never throws on 20,000 hostile frames and refuses garbage with the right code', () => {
    const random = prng(SEED);
    const codec = new WireCodec();
    const counts = { ok: 0, BAD_FRAME: 0, FRAME_TOO_LARGE: 0 };
    for (let round = 0; round < 20_000; round++) {
      const input = garbage(random, codec);
      let result: ReturnType<WireCodec['decodeRequestFrame']>;
      try {
        result = codec.decodeRequestFrame(input.bytes);
      } catch (error) {
        throw new Error(`decode threw at round ${round} (SEED=${SEED}): ${String(error)}`);
      }
      const head = Buffer.from(input.bytes.subarray(0, 32)).toString('hex');
      const context = `round ${round}, SEED=${SEED}, bytes ${head}`;
      if (result.ok) {
        counts.ok++;
        expect(input.expect, context).toBeUndefined();
        expect(result.requests.every(isValidEnvelope), context).toBe(true);
        continue;
      }
      counts[result.code]++;
      if (input.expect !== undefined) expect(result.code, context).toBe(input.expect);
      const closeCode =
        result.code === 'BAD_FRAME' ? CloseCodes.INVALID_PAYLOAD : CloseCodes.MESSAGE_TOO_BIG;
      expect(result.closeCode, context).toBe(closeCode);
      // The message decoder must be as robust on the same bytes.
      expect(codec.decodeMessageFrame(input.bytes).ok, context).toBeTypeOf('boolean');
    }
    expect(counts.BAD_FRAME).toBeGreaterThan(10_000);
    expect(counts.FRAME_TOO_LARGE).toBeGreaterThan(1_000);
    // The codec is still healthy after all of it.
    expect(codec.decodeRequestFrame(codec.encodeRequests([ORDER]))).toEqual({
      ok: true,
      requests: [ORDER],
    });
  });
});
