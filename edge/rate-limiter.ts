/**
 * Request-rate limits: a token bucket per WebSocket connection (TokenBucket), and one per API
 * key shared by every worker thread of the node (SharedKeyBuckets, taken through each
 * thread's KeyRateLimiter). A request takes one token; a batch request takes one per order or
 * query it carries.
 *
 * The per-key buckets live in one SharedArrayBuffer, a few words per key slot (the slot is
 * `KeyIdentity.index`), so a key cannot multiply its rate by the number of threads. To keep
 * the hot path off shared memory, a thread takes tokens from the shared bucket in small grants
 * and spends them locally; tokens a thread holds were taken from the bucket, so the node never
 * lets a key through more than `rate × time + burst` requests, whatever the threads do. The
 * cost of grants is fairness: up to `threads × grant` tokens may sit unused on threads the key
 * is not using at the moment, so grants are kept small against the burst and the rate.
 *
 * Shared layout (Int32Array, BUCKET_WORDS per slot), touched only through Atomics:
 * - BUCKET_TOKENS: milli-tokens in the shared bucket, 0..burst×1000. Milli-tokens make refill
 *   exact with a millisecond clock: `rate` tokens a second are `rate` milli-tokens a ms.
 * - BUCKET_STAMP: the clock's milliseconds (low 32 bits) up to which refill has been credited.
 * - BUCKET_LIMITED: requests refused by this bucket (a metric; wraps at 2^32 like a counter).
 *
 * Memory ordering: both words change only by compare-exchange (sequentially consistent). A
 * thread credits the time [stamp, now) only after its exchange of the stamp won, so no
 * interval is credited twice; the tokens word is then raised, capped at the burst, by a bounded
 * compare-exchange loop that races only with takes, which are compare-exchanges too. The
 * stamp and the tokens are not one atomic pair: a take may run between a claim and its credit
 * and see fewer tokens than it will in a moment, which only errs on the side of refusing.
 *
 * Invariants: 0 ≤ tokens ≤ burst in both kinds of bucket; refilling is computed on demand, so
 * an idle bucket costs nothing; a clock that goes backwards adds nothing (and restarts the
 * shared bucket's stamp, so it does not wait for the clock to catch up); the main thread
 * refills every live slot every KEY_REFILL_SWEEP_MS, so a stamp is never older than that and
 * the 32-bit millisecond arithmetic never wraps.
 */

import { CONNECTION_KEYS_MAX } from './connection-limits.js';
import type { KeyTable } from './keys.js';

/**
 * How far behind a bucket's stamp a clock reading must be to count as the clock stepped back
 * (NTP) rather than a reading that lost a race with another thread's (at most a preemption,
 * milliseconds, apart).
 */
const CLOCK_STEP_BACK_MS = 1_000;

export interface RateLimit {
  /** Requests a second, sustained. */
  requestsPerSecond: number;
  /** Requests that may arrive at once after a quiet period. */
  burst: number;
}

/**
 * Per-key defaults (`--key-rate`, `--key-burst`): far above what the project's own load tests
 * drive with one key (about a million `ping`s a second at most), so they only stop a runaway
 * client; a deployment sets its own, per key in the key file if need be.
 */
export const KEY_REQUESTS_PER_SECOND_DEFAULT = 4_000_000;
export const KEY_BURST_DEFAULT = 1_000_000;
/** The shared bucket counts milli-tokens in an int32: a burst of at most this many tokens. */
export const KEY_BURST_MAX = 2_000_000;
/** Tokens one thread takes from a key's shared bucket beyond a request's own, at most. */
export const KEY_GRANT_TOKENS_MAX = 4_096;
/** A grant is at most this share of the key's burst divided by the threads... */
const KEY_GRANT_BURST_DIVISOR = 4;
/** ...and at most this many milliseconds of the key's rate. */
const KEY_GRANT_RATE_MS = 10;
/** How often the main thread refills every live key's bucket (keeps stamps fresh). */
export const KEY_REFILL_SWEEP_MS = 1_000;
/** Compare-exchange attempts on one shared word before giving up (see the uses). */
const CAS_ATTEMPTS_MAX = 64;

const MILLI = 1_000;
const BUCKET_TOKENS = 0;
const BUCKET_STAMP = 1;
const BUCKET_LIMITED = 2;
/** Words per slot: three used, one spare, so a slot is 16 bytes. */
const BUCKET_WORDS = 4;

export function createKeyBuckets(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONNECTION_KEYS_MAX * BUCKET_WORDS * Int32Array.BYTES_PER_ELEMENT);
}

/** The per-key shared buckets, as every thread (main and workers) touches them. */
export class SharedKeyBuckets {
  private readonly words: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    if (this.words.length < CONNECTION_KEYS_MAX * BUCKET_WORDS) {
      throw new Error('key buckets: the shared buffer is too small');
    }
  }

  /**
   * A full bucket and a zero refusal count for a slot given to a new key (main thread, before
   * any worker learns of the key).
   */
  reset(slot: number, burst: number, nowMs: number): void {
    const base = slot * BUCKET_WORDS;
    Atomics.store(this.words, base + BUCKET_TOKENS, burst * MILLI);
    Atomics.store(this.words, base + BUCKET_STAMP, nowMs | 0);
    Atomics.store(this.words, base + BUCKET_LIMITED, 0);
  }

  /** Credits the time since the slot's stamp: `rate` milli-tokens a ms, up to the burst. */
  refill(slot: number, limit: RateLimit, nowMs: number): void {
    const words = this.words;
    const base = slot * BUCKET_WORDS;
    const stamp = Atomics.load(words, base + BUCKET_STAMP);
    const now = nowMs | 0;
    // Both are the low 32 bits of the clock; the stamp is at most a sweep old, so the signed
    // difference is the true one.
    const elapsedMs = (now - stamp) | 0;
    if (elapsedMs === 0) return;
    if (elapsedMs < 0) {
      // A reading older than the stamp: mostly this thread read the clock, was preempted, and
      // another thread stamped a later reading meanwhile. Moving the stamp back would credit
      // [now, stamp) a second time, so it is left, and nothing is credited. Only a clock
      // stepped back by CLOCK_STEP_BACK_MS or more restarts the stamp from now (else the key
      // would get no tokens until the clock caught up).
      if (elapsedMs > -CLOCK_STEP_BACK_MS) return;
      Atomics.compareExchange(words, base + BUCKET_STAMP, stamp, now);
      return;
    }
    // Whoever exchanges the stamp owns [stamp, now): no interval is credited twice.
    if (Atomics.compareExchange(words, base + BUCKET_STAMP, stamp, now) !== stamp) return;
    const capMilli = limit.burst * MILLI;
    const addMilli = Math.min(capMilli, elapsedMs * limit.requestsPerSecond);
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const tokens = Atomics.load(words, base + BUCKET_TOKENS);
      const next = Math.min(capMilli, tokens + addMilli);
      if (next <= tokens) return;
      if (Atomics.compareExchange(words, base + BUCKET_TOKENS, tokens, next) === tokens) return;
    }
    // Every attempt lost to a take: the credit is dropped, which only errs towards refusing.
  }

  /**
   * Takes whole tokens: `wanted` if there are that many, else as many as there are down to
   * `needed`; returns how many it took (0: fewer than `needed` were there, nothing taken).
   */
  take(slot: number, needed: number, wanted: number): number {
    const words = this.words;
    const index = slot * BUCKET_WORDS + BUCKET_TOKENS;
    const neededMilli = needed * MILLI;
    for (let attempt = 0; attempt < CAS_ATTEMPTS_MAX; attempt++) {
      const tokens = Atomics.load(words, index);
      if (tokens < neededMilli) return 0;
      const taken = Math.min(wanted, Math.floor(tokens / MILLI));
      if (Atomics.compareExchange(words, index, tokens, tokens - taken * MILLI) === tokens) {
        return taken;
      }
    }
    // Other threads took from this key CAS_ATTEMPTS_MAX times in a row: it is as busy as its
    // limit, so this request is refused like one that found the bucket empty.
    return 0;
  }

  /** Milliseconds until the shared bucket holds `needed` tokens at `rate`. */
  waitMs(slot: number, needed: number, limit: RateLimit): number {
    const tokens = Atomics.load(this.words, slot * BUCKET_WORDS + BUCKET_TOKENS);
    const missingMilli = Math.min(needed, limit.burst) * MILLI - tokens;
    return Math.max(1, Math.ceil(missingMilli / limit.requestsPerSecond));
  }

  countLimited(slot: number): void {
    Atomics.add(this.words, slot * BUCKET_WORDS + BUCKET_LIMITED, 1);
  }

  /** Requests refused for the slot's key since the slot was given to it (mod 2^32). */
  limited(slot: number): number {
    return Atomics.load(this.words, slot * BUCKET_WORDS + BUCKET_LIMITED) >>> 0;
  }

  /** Whole tokens in the shared bucket now (tests, and the main thread's view). */
  tokens(slot: number): number {
    return Math.floor(Atomics.load(this.words, slot * BUCKET_WORDS + BUCKET_TOKENS) / MILLI);
  }
}

/** The limit of each key of `table`: its own overrides, else the node's defaults. */
export function keyLimitOf(record: KeyTable['keys'][number], defaults: RateLimit): RateLimit {
  return {
    requestsPerSecond: record.requestsPerSecond ?? defaults.requestsPerSecond,
    burst: Math.min(KEY_BURST_MAX, record.burst ?? defaults.burst),
  };
}

/**
 * One thread's side of the per-key limits: tokens held locally per slot, spent without
 * touching shared memory, and refilled from the shared bucket in grants.
 */
export class KeyRateLimiter {
  /** Whole tokens this thread holds per slot, taken from the shared bucket already. */
  private readonly held = new Float64Array(CONNECTION_KEYS_MAX);
  private readonly grants = new Float64Array(CONNECTION_KEYS_MAX);
  private readonly limits: (RateLimit | undefined)[] = new Array(CONNECTION_KEYS_MAX);
  private readonly ids: (string | undefined)[] = new Array(CONNECTION_KEYS_MAX);

  constructor(
    private readonly shared: SharedKeyBuckets,
    private readonly defaults: RateLimit,
    private readonly threads: number,
    private readonly clock: () => number,
  ) {}

  /**
   * Takes on the limits of `table`'s keys. A slot that now belongs to another key forgets the
   * tokens this thread held for the old one; a removed key's slot forgets its tokens and its
   * limit (no identity of the table names it, so no request takes from it any more).
   */
  configure(table: KeyTable): void {
    const live = new Set<number>();
    for (const record of table.keys) {
      const slot = record.slot;
      live.add(slot);
      const limit = keyLimitOf(record, this.defaults);
      if (this.ids[slot] !== record.id) this.held[slot] = 0;
      this.ids[slot] = record.id;
      this.limits[slot] = limit;
      this.grants[slot] = grantOf(limit, this.threads);
    }
    for (let slot = 0; slot < CONNECTION_KEYS_MAX; slot++) {
      if (this.ids[slot] !== undefined && !live.has(slot)) {
        this.ids[slot] = undefined;
        this.limits[slot] = undefined;
        this.held[slot] = 0;
      }
    }
  }

  /**
   * Takes `weight` tokens for the key in `slot`: 0 when taken, otherwise the milliseconds
   * after which they could be (nothing is taken then, and the refusal is counted).
   */
  take(slot: number, weight: number): number {
    const held = this.held[slot];
    if (held >= weight) {
      this.held[slot] = held - weight;
      return 0;
    }
    return this.takeShared(slot, weight, held);
  }

  private takeShared(slot: number, weight: number, held: number): number {
    const limit = this.limits[slot];
    // A slot without a limit belongs to no key of this thread's table: nothing to limit.
    if (limit === undefined) return 0;
    const needed = weight - held;
    this.shared.refill(slot, limit, this.clock());
    const taken = this.shared.take(slot, needed, needed + this.grants[slot]);
    if (taken === 0) {
      this.shared.countLimited(slot);
      return this.shared.waitMs(slot, needed, limit);
    }
    this.held[slot] = held + taken - weight;
    return 0;
  }
}

/**
 * Tokens a thread takes beyond what a request needs, to spend locally: small against the burst
 * shared by the threads, and against the rate. 0 for a tight limit: every request then takes
 * exactly its tokens from the shared bucket, and no thread holds any back.
 */
export function grantOf(limit: RateLimit, threads: number): number {
  const byBurst = Math.floor(limit.burst / (KEY_GRANT_BURST_DIVISOR * Math.max(1, threads)));
  const byRate = Math.floor((limit.requestsPerSecond * KEY_GRANT_RATE_MS) / 1_000);
  return Math.min(KEY_GRANT_TOKENS_MAX, byBurst, byRate);
}

export class TokenBucket {
  private tokens: number;
  private refilledAtMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number,
  ) {
    this.tokens = limit.burst;
    this.refilledAtMs = clock();
  }

  private refill(): void {
    const nowMs = this.clock();
    const elapsedMs = nowMs - this.refilledAtMs;
    if (elapsedMs <= 0) return;
    this.refilledAtMs = nowMs;
    this.tokens = Math.min(
      this.limit.burst,
      this.tokens + (elapsedMs * this.limit.requestsPerSecond) / 1000,
    );
  }

  /**
   * Takes up to `wanted` tokens and returns how many it took: a frame of n requests runs the
   * first `taken` and refuses the rest, so a client sees exactly which requests were limited.
   */
  take(wanted: number): number {
    if (this.tokens < wanted) this.refill();
    const taken = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= taken;
    return taken;
  }

  /** Takes `weight` tokens if there are that many (a batch request counts its entries). */
  takeAll(weight: number): boolean {
    if (this.tokens < weight) this.refill();
    if (this.tokens < weight) return false;
    this.tokens -= weight;
    return true;
  }

  /** Returns tokens taken for a request another limit then refused. */
  giveBack(weight: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + weight);
  }

  /** Milliseconds until `weight` tokens are there (at least 1). */
  waitMs(weight: number): number {
    const missing = Math.min(weight, this.limit.burst) - this.tokens;
    return Math.max(1, Math.ceil((missing * 1000) / this.limit.requestsPerSecond));
  }
}
