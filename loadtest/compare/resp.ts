/**
 * A small pipelined Redis client speaking RESP2 over node:net, for the comparison only (the
 * project takes no Redis client dependency). Commands issued in the same event-loop turn are
 * written in one socket write; replies are matched to commands in order, as Redis answers them.
 *
 * Invariants: the parser accepts a reply stream split at any byte position (a value that is
 * not complete yet is parsed again from its start when more bytes arrive); every command's
 * promise settles exactly once: with its reply, with a RespError for an error reply, or with
 * the connection error when the socket fails; nesting and sizes are bounded.
 */

import { connect, type Socket } from 'node:net';

/** Deepest array nesting accepted: Redis replies used here nest at most twice. */
const NESTING_MAX = 16;
/** Largest bulk string or array length accepted: far above any reply the comparison reads. */
const LENGTH_MAX = 64 * 1024 * 1024;
/** Commands written but not answered; one more is refused rather than queued without bound. */
export const RESP_PENDING_MAX = 1 << 20;
const CONNECT_MS_MAX = 10_000;
const CRLF = '\r\n';

/** An error reply (`-ERR ...`): a value, so a parser consumer can tell it from a failure. */
export class RespError extends Error {
  readonly code: string;

  constructor(message: string) {
    super(message);
    this.name = 'RespError';
    const space = message.indexOf(' ');
    this.code = space > 0 ? message.slice(0, space) : message;
  }
}

export type RespValue = string | number | null | RespError | RespValue[];

/** Marks "the value is not complete in the buffer yet". */
const INCOMPLETE = Symbol('incomplete');
type Parsed = { value: RespValue; end: number } | typeof INCOMPLETE;

export class RespProtocolError extends Error {
  readonly code = 'RESP_PROTOCOL';
}

/** Index of the CR of the next CRLF at or after `from`, or -1 when not received yet. */
function lineEnd(buffer: Buffer, from: number): number {
  const index = buffer.indexOf(13, from);
  if (index < 0 || index + 1 >= buffer.length) return -1;
  if (buffer[index + 1] !== 10) throw new RespProtocolError('CR without LF');
  return index;
}

function parseLength(text: string): number {
  if (!/^-?\d+$/.test(text)) throw new RespProtocolError(`bad length '${text}'`);
  const length = Number(text);
  if (length < -1 || length > LENGTH_MAX)
    throw new RespProtocolError(`length ${length} out of range`);
  return length;
}

function parseValue(buffer: Buffer, start: number, depth: number): Parsed {
  if (start >= buffer.length) return INCOMPLETE;
  if (depth > NESTING_MAX) throw new RespProtocolError('nesting too deep');
  const end = lineEnd(buffer, start + 1);
  if (end < 0) return INCOMPLETE;
  const line = buffer.toString('utf8', start + 1, end);
  const next = end + 2;
  switch (buffer[start]) {
    case 0x2b: // '+' simple string
      return { value: line, end: next };
    case 0x2d: // '-' error
      return { value: new RespError(line), end: next };
    case 0x3a: {
      // ':' integer
      if (!/^-?\d+$/.test(line)) throw new RespProtocolError(`bad integer '${line}'`);
      return { value: Number(line), end: next };
    }
    case 0x24: {
      // '$' bulk string
      const length = parseLength(line);
      if (length === -1) return { value: null, end: next };
      if (next + length + 2 > buffer.length) return INCOMPLETE;
      if (buffer[next + length] !== 13 || buffer[next + length + 1] !== 10) {
        throw new RespProtocolError('bulk string not followed by CRLF');
      }
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case 0x2a: {
      // '*' array
      const length = parseLength(line);
      if (length === -1) return { value: null, end: next };
      const items: RespValue[] = new Array(length);
      let at = next;
      for (let index = 0; index < length; index++) {
        const item = parseValue(buffer, at, depth + 1);
        if (item === INCOMPLETE) return INCOMPLETE;
        items[index] = item.value;
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new RespProtocolError(`unknown type byte 0x${buffer[start].toString(16)}`);
  }
}

/** Turns a byte stream into RESP values, whatever the chunk boundaries. */
export class RespParser {
  private pending: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; calls `onValue` for every complete value, in order. */
  feed(chunk: Buffer, onValue: (value: RespValue) => void): void {
    const buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseValue(buffer, offset, 0);
      if (parsed === INCOMPLETE) break;
      offset = parsed.end;
      onValue(parsed.value);
    }
    // Copy the tail: `chunk` may be reused by the caller after this returns.
    this.pending = Buffer.from(buffer.subarray(offset));
  }

  get buffered(): number {
    return this.pending.length;
  }
}

/** One command in RESP's request form: an array of bulk strings. */
export function encodeCommand(args: readonly (string | number)[]): string {
  let out = `*${args.length}${CRLF}`;
  for (const arg of args) {
    const text = String(arg);
    out += `$${Buffer.byteLength(text)}${CRLF}${text}${CRLF}`;
  }
  return out;
}

interface Waiter {
  resolve: (value: RespValue) => void;
  reject: (error: Error) => void;
}

export class RespClient {
  private readonly parser = new RespParser();
  private waiters: Waiter[] = [];
  private waiterHead = 0;
  private outgoing: string[] = [];
  private flushScheduled = false;
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.feed(chunk, (value) => this.answer(value));
      } catch (error) {
        this.fail(error as Error);
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the Redis connection closed')));
  }

  static connect(host: string, port: number): Promise<RespClient> {
    return new Promise((done, fail) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        fail(new Error(`no Redis connection to ${host}:${port} within ${CONNECT_MS_MAX} ms`));
      }, CONNECT_MS_MAX);
      socket.once('error', (error) => {
        clearTimeout(timer);
        fail(error);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        done(new RespClient(socket));
      });
    });
  }

  get pending(): number {
    return this.waiters.length - this.waiterHead;
  }

  /** Sends a command; resolves with its reply, rejects with a RespError for an error reply. */
  call(args: readonly (string | number)[]): Promise<RespValue> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.pending >= RESP_PENDING_MAX) {
      return Promise.reject(new Error(`more than ${RESP_PENDING_MAX} Redis commands pending`));
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.outgoing.push(encodeCommand(args));
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || this.failure !== null) return;
    this.socket.write(this.outgoing.join(''));
    this.outgoing = [];
  }

  private answer(value: RespValue): void {
    if (this.waiterHead >= this.waiters.length) {
      throw new RespProtocolError('a reply arrived with no command waiting');
    }
    const waiter = this.waiters[this.waiterHead++];
    if (this.waiterHead === this.waiters.length) {
      this.waiters = [];
      this.waiterHead = 0;
    }
    if (value instanceof RespError) waiter.reject(value);
    else waiter.resolve(value);
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    const waiting = this.waiters.slice(this.waiterHead);
    this.waiters = [];
    this.waiterHead = 0;
    for (const waiter of waiting) waiter.reject(error);
  }

  /** Waits for the replies already asked for, then closes the socket. */
  async close(): Promise<void> {
    if (this.failure === null) {
      try {
        await this.call(['QUIT']);
      } catch {
        // The server may close before answering QUIT; either way the socket is done.
      }
    }
    this.socket.destroy();
  }
}
