import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BodyCursor,
  encodeBind,
  encodeParse,
  PgClient,
  PgError,
  type PgMessage,
  PgMessageReader,
  PgProtocolError,
  parseDataRow,
  parseErrorFields,
  rowCountOf,
  startupMessage,
} from './pg-wire.js';

/** A backend message: type byte, int32 length (including itself), body. */
function backend(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

const cstr = (text: string) => Buffer.from(`${text}\0`, 'utf8');
const i16 = (value: number) => {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
};
const i32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
};

function dataRow(columns: (string | null)[]): Buffer {
  const parts = [i16(columns.length)];
  for (const column of columns) {
    if (column === null) parts.push(i32(-1));
    else {
      const bytes = Buffer.from(column, 'utf8');
      parts.push(i32(bytes.length), bytes);
    }
  }
  return backend('D', Buffer.concat(parts));
}

function errorResponse(code: string, text: string): Buffer {
  return backend(
    'E',
    Buffer.concat([
      Buffer.from('S'),
      cstr('ERROR'),
      Buffer.from('C'),
      cstr(code),
      Buffer.from('M'),
      cstr(text),
      Buffer.from([0]),
    ]),
  );
}

const commandComplete = (tag: string) => backend('C', cstr(tag));
const ready = (status: string) => backend('Z', Buffer.from(status, 'latin1'));

/** A backend stream of every message kind the client meets, with multi-byte UTF-8 text. */
const STREAM = Buffer.concat([
  backend('R', i32(0)),
  backend('S', Buffer.concat([cstr('server_version'), cstr('15.18')])),
  backend('K', Buffer.concat([i32(1234), i32(5678)])),
  ready('I'),
  backend('1'),
  backend('2'),
  dataRow(['42', null, 'crème brûlée', '']),
  commandComplete('SELECT 1'),
  commandComplete('UPDATE 0'),
  errorResponse('40P01', 'deadlock detected'),
  backend('N', Buffer.concat([Buffer.from('M'), cstr('a notice'), Buffer.from([0])])),
  ready('E'),
]);

function readInChunks(cuts: number[]): PgMessage[] {
  const reader = new PgMessageReader();
  const messages: PgMessage[] = [];
  let from = 0;
  for (const cut of [...cuts, STREAM.length]) {
    reader.feed(Buffer.from(STREAM.subarray(from, cut)), (message) => messages.push(message));
    from = cut;
  }
  expect(reader.buffered).toBe(0);
  return messages;
}

describe('PgMessageReader', () => {
  const whole = readInChunks([]);

  it('frames every message with its type and body', () => {
    expect(whole.map((message) => message.type).join('')).toBe('RSKZ12DCCENZ');
    expect(parseDataRow(whole[6].body)).toEqual(['42', null, 'crème brûlée', '']);
    expect(new BodyCursor(whole[7].body).cstring()).toBe('SELECT 1');
    const fields = parseErrorFields(whole[9].body);
    expect(fields.get('C')).toBe('40P01');
    expect(new PgError(fields).message).toBe('deadlock detected');
    expect(whole[11].body.toString('latin1')).toBe('E');
  });

  it('gives the same messages when the stream is split at any one position', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      expect(readInChunks([cut]), `split at ${cut}`).toEqual(whole);
    }
  });

  it('gives the same messages when split at any two positions', () => {
    for (let first = 1; first < STREAM.length; first += 3) {
      for (let second = first + 1; second < STREAM.length; second += 5) {
        expect(readInChunks([first, second]), `split at ${first}, ${second}`).toEqual(whole);
      }
    }
  });

  it('refuses impossible lengths', () => {
    const bad = Buffer.from([0x44, 0, 0, 0, 2]);
    expect(() => new PgMessageReader().feed(bad, () => {})).toThrow(PgProtocolError);
    const huge = Buffer.from([0x44, 0x7f, 0xff, 0xff, 0xff]);
    expect(() => new PgMessageReader().feed(huge, () => {})).toThrow(PgProtocolError);
  });

  it('refuses truncated bodies', () => {
    expect(() => parseDataRow(Buffer.from([0, 1, 0, 0, 0, 9, 65]))).toThrow(PgProtocolError);
    expect(() => new BodyCursor(Buffer.from('abc')).cstring()).toThrow(PgProtocolError);
  });
});

describe('frontend messages', () => {
  it('encodes startup, Parse and Bind as the protocol lays them out', () => {
    const startup = startupMessage({ user: 'postgres' });
    expect(startup.readInt32BE(0)).toBe(startup.length);
    expect(startup.readInt32BE(4)).toBe(196_608);
    expect(startup.subarray(8).toString('latin1')).toBe('user\0postgres\0\0');
    const parse = encodeParse('upd', 'SELECT $1', [23]);
    expect(parse.toString('latin1', 0, 1)).toBe('P');
    expect(parse.readInt32BE(1)).toBe(parse.length - 1);
    expect(parse.readInt32BE(parse.length - 4)).toBe(23);
    const bind = encodeBind('upd', ['é', null]);
    // B, length, portal '', statement 'upd', 0 format codes, 2 params: 2 bytes of 'é', then -1.
    expect(bind.readInt32BE(1)).toBe(bind.length - 1);
    const params = 5 + 1 + 4 + 2;
    expect(bind.readInt16BE(params)).toBe(2);
    expect(bind.readInt32BE(params + 2)).toBe(2);
    expect(bind.readInt32BE(params + 8)).toBe(-1);
    expect(rowCountOf('INSERT 0 5')).toBe(5);
    expect(rowCountOf('BEGIN')).toBe(0);
  });
});

/**
 * A fake backend: trust startup, then per frontend message answers as PostgreSQL would for
 * this test's statements. Writes go out one byte at a time to exercise reassembly.
 */
function fakeBackend(socket: Socket, log: string[]): void {
  socket.on('error', () => {});
  const write = (bytes: Buffer) => {
    for (let index = 0; index < bytes.length; index++)
      socket.write(bytes.subarray(index, index + 1));
  };
  let buffered = Buffer.alloc(0);
  let started = false;
  let failed = false;
  let bound = '';
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (!started) {
      if (buffered.length < 4 || buffered.length < buffered.readInt32BE(0)) return;
      buffered = buffered.subarray(buffered.readInt32BE(0));
      started = true;
      write(Buffer.concat([backend('R', i32(0)), ready('I')]));
    }
    while (buffered.length >= 5 && buffered.length >= 1 + buffered.readInt32BE(1)) {
      const type = String.fromCharCode(buffered[0]);
      const body = buffered.subarray(5, 1 + buffered.readInt32BE(1));
      buffered = buffered.subarray(1 + buffered.readInt32BE(1));
      log.push(type);
      if (type === 'Q') {
        const sql = new BodyCursor(body).cstring();
        write(
          sql === 'boom'
            ? Buffer.concat([errorResponse('42601', 'syntax error'), ready('I')])
            : Buffer.concat([dataRow(['1']), commandComplete('SELECT 1'), ready('I')]),
        );
      } else if (type === 'P') write(backend('1'));
      else if (type === 'B') {
        const cursor = new BodyCursor(body);
        cursor.cstring();
        bound = cursor.cstring();
        if (!failed) write(backend('2'));
      } else if (type === 'E' && !failed) {
        if (bound === 'fails') {
          failed = true;
          write(errorResponse('23514', 'check violation'));
        } else write(commandComplete(bound === 'begin' ? 'BEGIN' : 'UPDATE 1'));
      } else if (type === 'S') {
        write(ready(failed ? 'I' : 'T'));
        failed = false;
      } else if (type === 'X') socket.end();
    }
  });
}

describe('PgClient against a fake backend', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  async function start(): Promise<{ port: number; log: string[] }> {
    const log: string[] = [];
    server = createServer((socket) => fakeBackend(socket, log));
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : 0, log };
  }

  it('runs queries and pipelined extended batches, each settled by its own sync', async () => {
    const { port, log } = await start();
    const client = await PgClient.connect({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
    });
    await client.prepare('begin', 'BEGIN');
    const [selected] = await client.query('SELECT 1');
    expect(selected).toEqual({ command: 'SELECT 1', rowCount: 1, rows: [['1']] });
    const [first, second, third, fourth] = await Promise.allSettled([
      client.execute([
        { statement: 'begin', params: [] },
        { statement: 'upd', params: ['a', '1'] },
      ]),
      client.execute([{ statement: 'fails', params: [null] }]),
      client.query('boom'),
      client.query('SELECT 1'),
    ]);
    expect(first.status === 'fulfilled' && first.value.map((result) => result.command)).toEqual([
      'BEGIN',
      'UPDATE 1',
    ]);
    expect(first.status === 'fulfilled' && first.value[1].rowCount).toBe(1);
    expect(second.status === 'rejected' && second.reason).toMatchObject({
      code: '23514',
      message: 'check violation',
    });
    expect(third.status === 'rejected' && third.reason).toBeInstanceOf(PgError);
    expect(fourth.status === 'fulfilled' && fourth.value).toHaveLength(1);
    expect(client.transactionStatus).toBe('I');
    await client.close();
    expect(log.join('')).toBe('PSQBEBESBESQQX');
    await expect(client.query('SELECT 1')).rejects.toThrow(/closed/);
  });

  it('rejects pending requests when the connection drops', async () => {
    server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write(Buffer.concat([backend('R', i32(0)), ready('I')]));
        socket.once('data', () => socket.destroy());
      });
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const client = await PgClient.connect({ host: '127.0.0.1', port, user: 'u', database: 'd' });
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await client.close();
  });

  it('refuses authentication methods it does not speak', async () => {
    server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () =>
        socket.write(backend('R', Buffer.concat([i32(10), cstr('SCRAM-SHA-256'), cstr('')]))),
      );
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await expect(
      PgClient.connect({ host: '127.0.0.1', port, user: 'u', database: 'd' }),
    ).rejects.toThrow(/authentication method 10/);
  });
});
