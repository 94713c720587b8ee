/**
 * Writes HTTP answers through uWebSockets.js so that none is lost, left half-written, or leaves
 * a route callback with neither an answer nor an abort handler (which makes uWS abort the whole
 * process).
 *
 * Why not `res.end`: in the uWS build this project runs (uWS.js 20.30), `end` can silently drop
 * an answer's body. Writes of a corked socket go to a 16 KiB cork buffer shared by the loop; when
 * a write does not fit, uWS flushes the buffer first, and if the socket cannot take all of it (a
 * client that reads slowly, or pipelines and then stops reading), it returns without writing
 * the new bytes at all (`AsyncSocket::uncork`; fixed upstream in uNetworking/uWebSockets
 * 6b7f354). `end` then leaves the response pending with nothing of its body sent: inside a route
 * callback uWS terminates the process ("Returning from a request handler without responding or
 * attaching an abort handler is forbidden!"), outside one the client waits until the timeout.
 * A load tester with pipelining triggers it in seconds. `tryEnd` reports that case (not done,
 * offset short of the size), so the rest is written from `onWritable` as the socket drains, with
 * an abort handler registered before the callback returns.
 *
 * Remaining exposure: the status line and headers are still plain writes. They can only meet
 * the same fault when earlier answers of the same read already filled the cork buffer to within
 * a header's length of 16 KiB and the client stopped reading; that client then gets a garbled
 * stream, and the node is unaffected.
 *
 * Invariants: an answer either leaves whole, or its remaining bytes are owned (copied) by the
 * writable handler and an abort handler is registered; uWS closes a connection that does not
 * drain within its own timeout (10 s), which ends that ownership.
 */

import type { HttpResponse } from 'uWebSockets.js';
import { statusLine } from './errors.js';

export const JSON_CONTENT_TYPE = 'application/json';

/** An answer still streaming when its client went away holds nothing else to release. */
function answerAborted(): void {}

/**
 * Writes a complete answer. Call it where the socket is corked (see `CorkedAnswers`). Returns
 * true when the answer left whole; false when the rest waits for the socket to drain (handlers
 * registered here own it from then on).
 */
export function writeAnswer(
  res: HttpResponse,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  allow: string | null = null,
): boolean {
  res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
  if (allow !== null) res.writeHeader('allow', allow);
  // A total size of 0 tells uWS that this chunk is the whole body.
  if (res.tryEnd(body, 0)[1]) return true;
  finishWhenWritable(res, body);
  return false;
}

/**
 * Writes answers inside `res.cork`, through one callback made once per thread, so that
 * answering allocates no closure.
 *
 * Why cork inside a route callback, which uWS corks already: uWS uncorks a socket for good when
 * an answer overflows its 16 KiB cork buffer, and every later write of the same read then goes
 * to the kernel on its own (a status line and each header are several writes): with pipelined
 * 7 KiB answers, the third of every batch and all after it. Measured under autocannon
 * (availability, -c 64 -p 4): the kernel's send path took 28 % of the worker's CPU uncorked,
 * 10 % corked. `res.cork` corks again when the socket is not corked (and runs the callback as
 * it is when it is).
 */
export class CorkedAnswers {
  private res: HttpResponse | null = null;
  private status = 0;
  private contentType = JSON_CONTENT_TYPE;
  private body: string | Uint8Array = '';
  private allow: string | null = null;
  private whole = false;

  /** `writeAnswer`, corked; returns what it returns. Never reentered: nothing here answers. */
  write(
    res: HttpResponse,
    status: number,
    contentType: string,
    body: string | Uint8Array,
    allow: string | null = null,
  ): boolean {
    this.res = res;
    this.status = status;
    this.contentType = contentType;
    this.body = body;
    this.allow = allow;
    this.whole = false;
    try {
      res.cork(this.corked);
    } finally {
      // Drops the references: a borrowed body must not be reachable after this returns.
      this.res = null;
      this.body = '';
    }
    return this.whole;
  }

  private readonly corked = (): void => {
    this.whole = writeAnswer(this.res!, this.status, this.contentType, this.body, this.allow);
  };
}

/**
 * Writes what `tryEnd` could not, as the socket drains. `offset` from uWS counts the body bytes
 * already sent, so the remainder is always `bytes.subarray(offset)`.
 */
function finishWhenWritable(res: HttpResponse, body: string | Uint8Array): void {
  // A copy: a string is sent as its UTF-8 bytes (offsets count bytes), and a lent buffer may
  // be reused once this callback returns.
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const size = bytes.length;
  // Required before the route callback returns; one shared function, no closure. It replaces
  // the handler of a request answered late, which has nothing left to do on an abort either.
  res.onAborted(answerAborted);
  res.onWritable((offset) => res.tryEnd(bytes.subarray(offset), size)[0]);
}

/**
 * Starts a refusal that is sent now and ended later (`endStreamedRefusal`), while the rest of
 * the request body is read and discarded. The body is sent in chunked encoding so that the
 * response stays open, and the connection stays ours to close if the client overstays.
 * `connection: close` tells the client not to reuse the connection. Call where corked.
 */
export function startStreamedRefusal(res: HttpResponse, status: number, body: string): void {
  res
    .writeStatus(statusLine(status))
    .writeHeader('content-type', JSON_CONTENT_TYPE)
    .writeHeader('connection', 'close');
  res.write(body);
}

/**
 * Sends the end of a refusal started with `startStreamedRefusal`. `end` here writes only the
 * last-chunk marker; `closeConnection` must stay false, because in chunked mode uWS would write
 * its `Connection: close` header into the body.
 */
export function endStreamedRefusal(res: HttpResponse): void {
  res.end();
}
