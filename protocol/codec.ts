/**
 * Frame encoding and decoding for protocol v1 (MessagePack via msgpackr).
 *
 * A `WireCodec` owns one Packr, one Unpackr and one FrameScanner, created with every option
 * explicit; make one per connection side or per thread (msgpackr keeps decoding state in
 * module variables, so a codec is not for use from two threads at once, which JS prevents).
 *
 * Invariants:
 * - Decoding never throws: every input, however hostile, yields `{ ok: false, code,
 *   closeCode }` or a frame whose envelope is checked (`[id, op, args]` requests,
 *   `[id, kind, body]` messages). Bytes are scanned structurally before msgpackr sees them
 *   (frame-scan.ts), so nesting, lengths and extension types are bounded up front.
 * - Decoded values never alias the input: strings are new and binary is copied
 *   (`copyBuffers`; a frame with several `bin` values is copied once and they are views of
 *   that copy), so a borrowed uWS buffer may be released as soon as decode returns. The
 *   one exception is a codec made with `aliasBinary` (the SDK's): its decoded `bin` values
 *   are views of the frame, for input that is owned and never written again (a `ws`
 *   message buffer), which saves a copy of every column an answer carries.
 * - Encoded bytes stay valid: msgpackr hands out a slice of its buffer and never writes over
 *   a slice it handed out (it moves on, then starts a new buffer). The one exception is
 *   `encodeMessagesTransient`, whose bytes the next encode writes over.
 */

import { FLOAT32_OPTIONS, type Options, Packr, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';
import type { ErrorCode } from './codes.js';
import { FrameScanner, ScanOutcomes } from './frame-scan.js';
import { arrayCountAt } from './msgpack-head.js';
import {
  FRAME_BYTES_MAX,
  NESTING_DEPTH_MAX,
  REQUESTS_PER_FRAME_MAX,
  RESPONSE_FRAME_BYTES_MAX,
} from './limits.js';
import {
  type CloseCode,
  CloseCodes,
  isPlainMap,
  isRequestId,
  MessageKinds,
  type NoticeBody,
  type WireMessage,
  type WireRequest,
} from './messages.js';

/**
 * msgpackr options, all explicit: plain maps (no records or shared structures, so clients
 * in other languages need nothing msgpackr-specific), 64-bit integers as JS numbers,
 * undefined written as nil rather than msgpackr's fixext, floats always as float 64.
 */
const MSGPACKR_OPTIONS: Options & { freezeData: boolean; trusted: boolean } = {
  useRecords: false,
  mapsAsObjects: true,
  maxSharedStructures: 0,
  sequential: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  variableMapSize: false,
  coercibleKeyAsNumber: false,
  useFloat32: FLOAT32_OPTIONS.NEVER,
  useTimestamp32: false,
  useToJSON: false,
  encodeUndefinedAsNil: true,
  int64AsType: 'number',
  useBigIntExtension: false,
  largeBigIntToFloat: false,
  largeBigIntToString: false,
  mapAsEmptyObject: false,
  setAsEmptyObject: false,
  allowArraysInMapKeys: false,
  copyBuffers: true,
  freezeData: false,
  trusted: false,
};

export function createPackr(): Packr {
  return new Packr({ ...MSGPACKR_OPTIONS });
}

export function createUnpackr(aliasBinary = false): Unpackr {
  return new Unpackr({ ...MSGPACKR_OPTIONS, copyBuffers: !aliasBinary });
}

export interface CodecOptions {
  /**
   * Decoded `bin` values are views of the input instead of copies: only for input the caller
   * owns and never writes again (see the invariants above). Default false.
   */
  aliasBinary?: boolean;
}

export type FrameErrorCode = Extract<ErrorCode, 'BAD_FRAME' | 'FRAME_TOO_LARGE'>;

export type FrameFailure = {
  ok: false;
  code: FrameErrorCode;
  /** The WebSocket close code to close the connection with. */
  closeCode: CloseCode;
  message: string;
};

export type RequestFrameResult = { ok: true; requests: WireRequest[] } | FrameFailure;
export type MessageFrameResult = { ok: true; messages: WireMessage[] } | FrameFailure;

export interface CodecLimits {
  /** Largest frame decodeRequestFrame accepts. */
  frameBytesMax: number;
  /** Most requests decodeRequestFrame accepts in one frame. */
  requestsPerFrameMax: number;
  /** Largest frame decodeMessageFrame accepts. */
  responseFrameBytesMax: number;
  /** Deepest nesting either decoder accepts. */
  nestingDepthMax: number;
}

export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = {
  frameBytesMax: FRAME_BYTES_MAX,
  requestsPerFrameMax: REQUESTS_PER_FRAME_MAX,
  responseFrameBytesMax: RESPONSE_FRAME_BYTES_MAX,
  nestingDepthMax: NESTING_DEPTH_MAX,
};

function fail(code: FrameErrorCode, closeCode: CloseCode, message: string): FrameFailure {
  return { ok: false, code, closeCode, message };
}

/**
 * `bin` values in a borrowed frame past which a copying codec copies the frame once and
 * decodes them as views of that copy, instead of copying each (a columns request carries 4 to
 * 6). Each copy is a buffer outside the heap, which V8 frees one by one in the scavenge that
 * finds it dead: they were most of a worker's scavenge pauses.
 */
const BINS_COPIED_ONE_BY_ONE_MAX = 1;

export class WireCodec {
  readonly limits: Readonly<CodecLimits>;
  private readonly packr: Packr;
  private readonly unpackr: Unpackr;
  /** For a copying codec: decodes a private copy of a frame, its `bin` values as views of it. */
  private readonly copyUnpackr: Unpackr | null;
  private readonly scanner: FrameScanner;

  constructor(limits: Partial<CodecLimits> = {}, options: CodecOptions = {}) {
    this.limits = { ...DEFAULT_CODEC_LIMITS, ...limits };
    this.packr = createPackr();
    const alias = options.aliasBinary ?? false;
    this.unpackr = createUnpackr(alias);
    this.copyUnpackr = alias ? null : createUnpackr(true);
    this.scanner = new FrameScanner(this.limits.nestingDepthMax);
  }

  /** Encodes a client → server frame. Throws on values MessagePack cannot carry. */
  encodeRequests(requests: readonly WireRequest[]): Uint8Array {
    return this.packr.pack(requests);
  }

  /** Encodes a server → client frame. Throws on values MessagePack cannot carry. */
  encodeMessages(messages: readonly WireMessage[]): Uint8Array {
    return this.packr.pack(messages);
  }

  /**
   * The same bytes as `encodeMessages`, in the codec's own buffer: valid only until this
   * codec encodes again, for a caller that hands them on at once to something that copies
   * them (uWS `send`). Nothing is allocated per frame once the buffer is large enough.
   */
  encodeMessagesTransient(messages: readonly WireMessage[]): Uint8Array {
    return this.packr.pack(messages, RESET_BUFFER_MODE);
  }

  /** A frame holding one kind-3 notice (id 0), e.g. SHUTTING_DOWN or BAD_FRAME. */
  encodeNotice(notice: NoticeBody): Uint8Array {
    return this.packr.pack([[0, MessageKinds.NOTICE, notice]]);
  }

  /** Encodes any value; for tests and tools. */
  encodeValue(value: unknown): Uint8Array {
    return this.packr.pack(value);
  }

  /**
   * Decodes and checks a client → server frame. `bytes` may be borrowed (a uWS ArrayBuffer):
   * nothing returned aliases it. Ops and args are not checked here: an unknown op or bad args
   * is answered per request (UNKNOWN_OP, validateArgs), not by closing the connection.
   */
  decodeRequestFrame(bytes: Uint8Array | ArrayBuffer): RequestFrameResult {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (view.length > this.limits.frameBytesMax) {
      return fail(
        'FRAME_TOO_LARGE',
        CloseCodes.MESSAGE_TOO_BIG,
        `frame of ${view.length} bytes exceeds ${this.limits.frameBytesMax}`,
      );
    }
    const count = arrayCountAt(view, 0);
    if (count < 0) return fail('BAD_FRAME', CloseCodes.INVALID_PAYLOAD, 'frame is not an array');
    if (count === 0) return fail('BAD_FRAME', CloseCodes.INVALID_PAYLOAD, 'frame is empty');
    if (count > this.limits.requestsPerFrameMax) {
      return fail(
        'FRAME_TOO_LARGE',
        CloseCodes.MESSAGE_TOO_BIG,
        `frame of ${count} requests exceeds ${this.limits.requestsPerFrameMax}`,
      );
    }
    const decoded = this.scanAndDecode(view);
    if (decoded === undefined) {
      return fail('BAD_FRAME', CloseCodes.INVALID_PAYLOAD, scanMessage(this.scanner, view));
    }
    const requests = decoded as unknown[];
    for (let index = 0; index < requests.length; index++) {
      if (!isRequest(requests[index])) {
        return fail(
          'BAD_FRAME',
          CloseCodes.INVALID_PAYLOAD,
          `request ${index} is not [uint32 id, string op, map args]`,
        );
      }
    }
    return { ok: true, requests: requests as WireRequest[] };
  }

  /** Decodes and checks a server → client frame (the client's side). */
  decodeMessageFrame(bytes: Uint8Array | ArrayBuffer): MessageFrameResult {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (view.length > this.limits.responseFrameBytesMax) {
      return fail('FRAME_TOO_LARGE', CloseCodes.MESSAGE_TOO_BIG, 'response frame too large');
    }
    const count = arrayCountAt(view, 0);
    if (count <= 0) {
      return fail('BAD_FRAME', CloseCodes.INVALID_PAYLOAD, 'frame is not a non-empty array');
    }
    const decoded = this.scanAndDecode(view);
    if (decoded === undefined) {
      return fail('BAD_FRAME', CloseCodes.INVALID_PAYLOAD, scanMessage(this.scanner, view));
    }
    const messages = decoded as unknown[];
    for (let index = 0; index < messages.length; index++) {
      if (!isMessage(messages[index])) {
        return fail(
          'BAD_FRAME',
          CloseCodes.INVALID_PAYLOAD,
          `message ${index} is not [uint32 id, kind 0..3, body]`,
        );
      }
    }
    return { ok: true, messages: messages as WireMessage[] };
  }

  /** The decoded top-level array, or undefined when the bytes fail the scan or the decoder. */
  private scanAndDecode(view: Uint8Array): unknown[] | undefined {
    if (this.scanner.scan(view) !== ScanOutcomes.OK) return undefined;
    let value: unknown;
    try {
      const copy = this.copyUnpackr;
      value =
        copy !== null && this.scanner.binCount > BINS_COPIED_ONE_BY_ONE_MAX
          ? // A copy whatever the input: Buffer's own slice is a view.
            copy.unpack(Uint8Array.prototype.slice.call(view))
          : this.unpackr.unpack(view);
    } catch {
      // The scan admits only what msgpackr decodes; a throw here is a decoder surprise, and
      // the frame is refused like any other undecodable one.
      return undefined;
    }
    return Array.isArray(value) ? value : undefined;
  }
}

/** The element count of a top-level array header, or -1 when the frame is not an array. */
function scanMessage(scanner: FrameScanner, view: Uint8Array): string {
  return scanner.scan(view) === ScanOutcomes.TOO_DEEP
    ? `frame nests deeper than ${scanner.depthMax} levels`
    : 'frame is not well-formed MessagePack of the accepted types';
}

function isRequest(value: unknown): boolean {
  if (!Array.isArray(value) || value.length !== 3) return false;
  return isRequestId(value[0]) && typeof value[1] === 'string' && isPlainMap(value[2]);
}

function isMessage(value: unknown): boolean {
  if (!Array.isArray(value) || value.length !== 3) return false;
  const kind = value[1];
  return isRequestId(value[0]) && (kind === 0 || kind === 1 || kind === 2 || kind === 3);
}
