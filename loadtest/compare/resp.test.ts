import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeCommand,
  RespClient,
  RespError,
  RespParser,
  RespProtocolError,
  type RespValue,
} from './resp.js';

/** A reply stream with every RESP2 type, multi-byte UTF-8 and CRLF inside a bulk string. */
const STREAM = Buffer.from(
  [
    '+OK\r\n',
    '-NOSCRIPT No matching script. Please use EVAL.\r\n',
    ':0\r\n',
    ':-42\r\n',
    '$5\r\nhello\r\n',
    '$0\r\n\r\n',
    '$-1\r\n',
    '$8\r\na\r\nbcdef\r\n',
    '$6\r\nnaïve\r\n',
    '*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n$-1\r\n',
    '*0\r\n',
    '*-1\r\n',
    ':9007199254740991\r\n',
  ].join(''),
  'utf8',
);

function expectedValues(): RespValue[] {
  return [
    'OK',
    new RespError('NOSCRIPT No matching script. Please use EVAL.'),
    0,
    -42,
    'hello',
    '',
    null,
    'a\r\nbcdef',
    'naïve',
    [1, 'foo', ['a', null]],
    [],
    null,
    9007199254740991,
  ];
}

function parseInChunks(bytes: Buffer, cuts: number[]): RespValue[] {
  const parser = new RespParser();
  const values: RespValue[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.feed(Buffer.from(bytes.subarray(from, cut)), (value) => values.push(value));
    from = cut;
  }
  expect(parser.buffered).toBe(0);
  return values;
}

describe('RespParser', () => {
  it('parses every RESP2 type in one chunk', () => {
    const values = parseInChunks(STREAM, []);
    expect(values).toEqual(expectedValues());
    const error = values[1] as RespError;
    expect(error).toBeInstanceOf(RespError);
    expect(error.code).toBe('NOSCRIPT');
  });

  it('gives the same values when the stream is split at any one position', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      expect(parseInChunks(STREAM, [cut]), `split at ${cut}`).toEqual(expectedValues());
    }
  });

  it('gives the same values when fed one byte at a time', () => {
    const cuts = Array.from({ length: STREAM.length - 1 }, (_, index) => index + 1);
    expect(parseInChunks(STREAM, cuts)).toEqual(expectedValues());
  });

  it('refuses malformed input with a protocol error', () => {
    for (const bad of ['?x\r\n', ':12a\r\n', '$abc\r\n', '$3\r\nabcXY', '*-5\r\n', '+a\rb\n']) {
      const parser = new RespParser();
      expect(() => parser.feed(Buffer.from(bad), () => {}), bad).toThrow(RespProtocolError);
    }
  });

  it('refuses nesting past the bound', () => {
    const deep = Buffer.from(`${'*1\r\n'.repeat(40)}:1\r\n`);
    expect(() => new RespParser().feed(deep, () => {})).toThrow(/nesting/);
  });
});

describe('encodeCommand', () => {
  it('writes an array of bulk strings with byte lengths', () => {
    expect(encodeCommand(['EVALSHA', 'abc', 2, 'k:é', 'x'])).toBe(
      '*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n2\r\n$4\r\nk:é\r\n$1\r\nx\r\n',
    );
  });
});

describe('RespClient against a scripted server', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  /** A server that answers each complete command with the next canned reply, split in two. */
  async function scripted(replies: string[]): Promise<{ port: number; received: string[] }> {
    const received: string[] = [];
    server = createServer((socket: Socket) => {
      // The client may close before a reply's second half is written; that is not an error.
      socket.on('error', () => {});
      let buffered = '';
      // Halves are written in order, a millisecond apart, so replies arrive fragmented.
      let writes = Promise.resolve();
      const writeLater = (text: string) => {
        writes = writes.then(
          () =>
            new Promise<void>((done) =>
              setTimeout(() => {
                if (!socket.destroyed) socket.write(text);
                done();
              }, 1),
            ),
        );
      };
      socket.on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        for (;;) {
          const match = /^\*(\d+)\r\n/.exec(buffered);
          if (match === null) return;
          let at = match[0].length;
          const parts: string[] = [];
          for (let index = 0; index < Number(match[1]); index++) {
            const header = /^\$(\d+)\r\n/.exec(buffered.slice(at));
            if (header === null) return;
            at += header[0].length;
            parts.push(buffered.slice(at, at + Number(header[1])));
            at += Number(header[1]) + 2;
          }
          if (at > buffered.length) return;
          buffered = buffered.slice(at);
          received.push(parts.join(' '));
          const reply = replies.shift() ?? '-ERR no more replies\r\n';
          const middle = reply.length >> 1;
          writeLater(reply.slice(0, middle));
          writeLater(reply.slice(middle));
        }
      });
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : 0, received };
  }

  it('pipelines commands of one turn and matches replies in order', async () => {
    const { port, received } = await scripted([
      ':1\r\n',
      '$3\r\nabc\r\n',
      '-ERR boom\r\n',
      '+OK\r\n',
    ]);
    const client = await RespClient.connect('127.0.0.1', port);
    const first = client.call(['INCR', 'k']);
    const second = client.call(['GET', 'k']);
    const third = client.call(['EVALSHA', 'bad', 0]);
    expect(client.pending).toBe(3);
    await expect(first).resolves.toBe(1);
    await expect(second).resolves.toBe('abc');
    await expect(third).rejects.toThrow('boom');
    await client.close();
    expect(received).toEqual(['INCR k', 'GET k', 'EVALSHA bad 0', 'QUIT']);
  });

  it('rejects every pending command when the connection drops', async () => {
    server = createServer((socket) => socket.on('data', () => socket.destroy()));
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const client = await RespClient.connect('127.0.0.1', port);
    const calls = [client.call(['PING']), client.call(['PING'])];
    for (const call of calls) await expect(call).rejects.toThrow();
    await expect(client.call(['PING'])).rejects.toThrow();
    await client.close();
  });
});
