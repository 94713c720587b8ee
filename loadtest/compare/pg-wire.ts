/**
 * A minimal PostgreSQL client over node:net (protocol 3.0), for the comparison only (the
 * project takes no PostgreSQL client dependency): startup with trust (or cleartext password)
 * authentication, the simple query protocol, and the extended protocol with named prepared
 * statements, text parameters and text results. Each `query` and each `execute` batch ends in
 * its own sync point (a Query or a Sync message), and batches are pipelined: requests made in
 * the same event-loop turn go out in one socket write and their answers come back in order.
 *
 * Invariants: the message reader accepts a byte stream split at any position; each request
 * settles exactly once, when the ReadyForQuery of its sync point arrives (with its results, or
 * with the first ErrorResponse of that sync point), or when the connection fails; message and
 * request counts are bounded.
 */

import { connect, type Socket } from 'node:net';

const PROTOCOL_VERSION_3 = 196_608;
/** Largest backend message accepted (RowDescription and DataRow included). */
const MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
/** Sync points written but not answered; one more is refused. */
export const PG_PENDING_MAX = 65_536;
const CONNECT_MS_MAX = 10_000;
/** Time the server has to close the connection after Terminate. */
const CLOSE_MS_MAX = 2_000;
const HEADER_BYTES = 5;

const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;

export class PgProtocolError extends Error {
  readonly code = 'PG_PROTOCOL';
}

/** An ErrorResponse: `code` is the SQLSTATE (e.g. 40P01 deadlock detected). */
export class PgError extends Error {
  readonly code: string;
  readonly severity: string;
  readonly detail: string | undefined;

  constructor(fields: Map<string, string>) {
    super(fields.get('M') ?? 'PostgreSQL error');
    this.name = 'PgError';
    this.code = fields.get('C') ?? 'XX000';
    this.severity = fields.get('V') ?? fields.get('S') ?? 'ERROR';
    this.detail = fields.get('D');
  }
}

export interface PgMessage {
  type: string;
  /** The payload after the type byte and length (a view of the reader's buffer). */
  body: Buffer;
}

/** Splits a backend byte stream into messages, whatever the chunk boundaries. */
export class PgMessageReader {
  private pending: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer, onMessage: (message: PgMessage) => void): void {
    const buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (buffer.length - offset >= HEADER_BYTES) {
      const length = buffer.readInt32BE(offset + 1);
      if (length < 4 || length > MESSAGE_BYTES_MAX) {
        throw new PgProtocolError(`message length ${length} out of range`);
      }
      const end = offset + 1 + length;
      if (end > buffer.length) break;
      const type = String.fromCharCode(buffer[offset]);
      // Copied, so a consumer may keep the body after the caller reuses `chunk`.
      onMessage({ type, body: Buffer.from(buffer.subarray(offset + HEADER_BYTES, end)) });
      offset = end;
    }
    this.pending = Buffer.from(buffer.subarray(offset));
  }

  get buffered(): number {
    return this.pending.length;
  }
}

/** Reads the NUL-terminated strings and fixed-width fields of a message body. */
export class BodyCursor {
  offset = 0;

  constructor(private readonly body: Buffer) {}

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) throw new PgProtocolError('unterminated string');
    const text = this.body.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return text;
  }

  int16(): number {
    this.need(2);
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(count: number): Buffer {
    this.need(count);
    const value = this.body.subarray(this.offset, this.offset + count);
    this.offset += count;
    return value;
  }

  private need(count: number): void {
    if (this.offset + count > this.body.length) throw new PgProtocolError('message too short');
  }
}

/** The fields of an ErrorResponse or NoticeResponse body. */
export function parseErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  const cursor = new BodyCursor(body);
  while (cursor.offset < body.length) {
    const code = body[cursor.offset++];
    if (code === 0) break;
    fields.set(String.fromCharCode(code), cursor.cstring());
  }
  return fields;
}

/** A DataRow's columns as text (null for SQL NULL). */
export function parseDataRow(body: Buffer): (string | null)[] {
  const cursor = new BodyCursor(body);
  const count = cursor.int16();
  const row: (string | null)[] = new Array(count);
  for (let column = 0; column < count; column++) {
    const length = cursor.int32();
    row[column] = length < 0 ? null : cursor.bytes(length).toString('utf8');
  }
  return row;
}

/** The row count at the end of a command tag ('UPDATE 1', 'INSERT 0 5', 'SELECT 3'). */
export function rowCountOf(tag: string): number {
  const match = /(\d+)$/.exec(tag);
  return match === null ? 0 : Number(match[1]);
}

// Frontend messages.

function message(type: string, parts: readonly Buffer[]): Buffer {
  let length = 4;
  for (const part of parts) length += part.length;
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(length, 1);
  return Buffer.concat([header, ...parts]);
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

export function startupMessage(parameters: Record<string, string>): Buffer {
  const parts = [int32(PROTOCOL_VERSION_3)];
  for (const [key, value] of Object.entries(parameters)) parts.push(cstring(key), cstring(value));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  return Buffer.concat([int32(body.length + 4), body]);
}

export const encodeQuery = (sql: string) => message('Q', [cstring(sql)]);
export const encodeSync = () => message('S', []);
export const encodeTerminate = () => message('X', []);
export const encodePassword = (password: string) => message('p', [cstring(password)]);

export function encodeParse(name: string, sql: string, typeOids: readonly number[]): Buffer {
  return message('P', [
    cstring(name),
    cstring(sql),
    int16(typeOids.length),
    ...typeOids.map(int32),
  ]);
}

/** Bind to the unnamed portal, every parameter and result column in text format. */
export function encodeBind(statement: string, params: readonly (string | null)[]): Buffer {
  const parts = [cstring(''), cstring(statement), int16(0), int16(params.length)];
  for (const param of params) {
    if (param === null) {
      parts.push(int32(-1));
    } else {
      const bytes = Buffer.from(param, 'utf8');
      parts.push(int32(bytes.length), bytes);
    }
  }
  parts.push(int16(0));
  return message('B', parts);
}

export const encodeExecute = () => message('E', [cstring(''), int32(0)]);

// The client.

export interface PgResult {
  command: string;
  rowCount: number;
  rows: (string | null)[][];
}

export interface PgConnectOptions {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

/** One sync point's answers: the results of its statements, or its first error. */
class SyncPoint {
  results: PgResult[] = [];
  rows: (string | null)[][] = [];
  error: PgError | null = null;

  constructor(
    readonly resolve: (results: PgResult[]) => void,
    readonly reject: (error: Error) => void,
  ) {}
}

export interface PgStep {
  /** A statement prepared with `prepare`. */
  statement: string;
  params: readonly (string | null)[];
}

export class PgClient {
  private readonly reader = new PgMessageReader();
  private points: SyncPoint[] = [];
  private pointHead = 0;
  private outgoing: Buffer[] = [];
  private flushScheduled = false;
  private failure: Error | null = null;
  /** 'I' idle, 'T' in a transaction, 'E' in a failed transaction (from ReadyForQuery). */
  transactionStatus = 'I';

  private constructor(private readonly socket: Socket) {}

  static connect(options: PgConnectOptions): Promise<PgClient> {
    return new Promise((done, fail) => {
      const socket = connect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        fail(new Error(`no PostgreSQL session at ${options.host}:${options.port} in time`));
      }, CONNECT_MS_MAX);
      const failStartup = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        fail(error);
      };
      socket.once('error', failStartup);
      socket.once('connect', () => {
        socket.setNoDelay(true);
        const client = new PgClient(socket);
        client.startup(options).then(() => {
          clearTimeout(timer);
          socket.off('error', failStartup);
          done(client);
        }, failStartup);
      });
    });
  }

  private startup(options: PgConnectOptions): Promise<void> {
    return new Promise((done, fail) => {
      const onData = (chunk: Buffer) => {
        try {
          this.reader.feed(chunk, (incoming) => {
            if (incoming.type === 'R') {
              const code = incoming.body.readInt32BE(0);
              if (code === AUTH_CLEARTEXT && options.password !== undefined) {
                this.socket.write(encodePassword(options.password));
              } else if (code !== AUTH_OK) {
                throw new PgProtocolError(`authentication method ${code} is not supported`);
              }
            } else if (incoming.type === 'E') {
              throw new PgError(parseErrorFields(incoming.body));
            } else if (incoming.type === 'Z') {
              this.socket.off('data', onData);
              this.attach();
              done();
            }
          });
        } catch (error) {
          this.socket.off('data', onData);
          fail(error as Error);
        }
      };
      this.socket.on('data', onData);
      this.socket.write(
        startupMessage({ user: options.user, database: options.database, client_encoding: 'UTF8' }),
      );
    });
  }

  /** After startup: every message goes to the sync point at the head of the queue. */
  private attach(): void {
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.feed(chunk, (incoming) => this.dispatch(incoming));
      } catch (error) {
        this.fail(error as Error);
        this.socket.destroy();
      }
    });
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('the PostgreSQL connection closed')));
  }

  private dispatch(incoming: PgMessage): void {
    // Asynchronous messages may arrive at any time and belong to no request.
    if (incoming.type === 'N' || incoming.type === 'S' || incoming.type === 'A') return;
    const point = this.points[this.pointHead];
    if (point === undefined) throw new PgProtocolError(`'${incoming.type}' with nothing pending`);
    switch (incoming.type) {
      case 'D':
        point.rows.push(parseDataRow(incoming.body));
        return;
      case 'C': {
        const command = new BodyCursor(incoming.body).cstring();
        point.results.push({ command, rowCount: rowCountOf(command), rows: point.rows });
        point.rows = [];
        return;
      }
      case 'I':
        point.results.push({ command: '', rowCount: 0, rows: [] });
        return;
      case 'E':
        point.error ??= new PgError(parseErrorFields(incoming.body));
        return;
      case 'Z':
        this.transactionStatus = String.fromCharCode(incoming.body[0]);
        this.settleHead(point);
        return;
      default:
        // ParseComplete, BindComplete, RowDescription, NoData, ParameterDescription...
        return;
    }
  }

  private settleHead(point: SyncPoint): void {
    this.pointHead++;
    if (this.pointHead === this.points.length) {
      this.points = [];
      this.pointHead = 0;
    }
    if (point.error !== null) point.reject(point.error);
    else point.resolve(point.results);
  }

  private enqueue(frames: Buffer[]): Promise<PgResult[]> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.points.length - this.pointHead >= PG_PENDING_MAX) {
      return Promise.reject(new Error(`more than ${PG_PENDING_MAX} requests pending`));
    }
    return new Promise((resolve, reject) => {
      this.points.push(new SyncPoint(resolve, reject));
      for (const frame of frames) this.outgoing.push(frame);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || this.failure !== null) return;
    this.socket.write(Buffer.concat(this.outgoing));
    this.outgoing = [];
  }

  /** Simple query protocol: one or more statements, one sync point. */
  query(sql: string): Promise<PgResult[]> {
    return this.enqueue([encodeQuery(sql)]);
  }

  /** Prepares a named statement (text parameters; type OIDs 0 let the server infer them). */
  async prepare(name: string, sql: string, typeOids: readonly number[] = []): Promise<void> {
    await this.enqueue([encodeParse(name, sql, typeOids), encodeSync()]);
  }

  /** Binds and executes prepared statements in order, then one Sync: one round trip. */
  execute(steps: readonly PgStep[]): Promise<PgResult[]> {
    const frames: Buffer[] = [];
    for (const step of steps) frames.push(encodeBind(step.statement, step.params), encodeExecute());
    frames.push(encodeSync());
    return this.enqueue(frames);
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    const waiting = this.points.slice(this.pointHead);
    this.points = [];
    this.pointHead = 0;
    for (const point of waiting) point.reject(error);
  }

  /** Sends Terminate and waits (bounded) for the server to close the connection. */
  async close(): Promise<void> {
    if (this.failure === null && !this.socket.destroyed) {
      const closed = new Promise<void>((done) => {
        const timer = setTimeout(done, CLOSE_MS_MAX);
        this.socket.once('close', () => {
          clearTimeout(timer);
          done();
        });
      });
      this.socket.end(encodeTerminate());
      await closed;
    }
    this.fail(new Error('the PostgreSQL client is closed'));
    this.socket.destroy();
  }
}
