import type { JWK } from 'jose';
import { KeysetFetchError, KeysetUnavailableError } from './errors.js';

/** Counters describing the key set cache, for metrics. All values only grow, except `keys`. */
export interface KeysetStats {
  /** Key set fetch attempts (including metadata discovery), successful or not. */
  readonly fetches: number;
  /** Fetch attempts that failed (network error, timeout, bad status, bad document). */
  readonly fetchErrors: number;
  /** Lookups of a `kid` that was not in the cached key set. */
  readonly cacheMisses: number;
  /** Number of usable keys currently cached. */
  readonly keys: number;
}

/** Options of {@link RemoteKeyset}. Durations are in seconds unless named otherwise. */
export interface RemoteKeysetOptions {
  /** Issuer identifier; used for RFC 8414 discovery when `jwksUri` is not given. */
  issuer: string;
  /** JWKS URL. When absent it is read from the issuer's RFC 8414 metadata. */
  jwksUri?: string | undefined;
  /** Minimum seconds between two fetch attempts of the whole key set. */
  cooldown: number;
  /** Seconds to cache the key set when the response has no usable `Cache-Control: max-age`. */
  cacheMaxAge: number;
  /** Per-request timeout in milliseconds. */
  timeout: number;
  /** The fetch implementation. */
  fetch: typeof globalThis.fetch;
  /** Called once per failure episode (first failure after a success or at start). */
  onError?: ((error: KeysetFetchError) => void) | undefined;
  /** Largest accepted response body in bytes; a larger one is refused without reading the rest. Default 512 KiB. */
  maxBytes?: number | undefined;
  /** Whether HTTP redirects are followed. Default `true`; when `false` a 3xx answer is a failed fetch. */
  followRedirects?: boolean | undefined;
  /** Lower bound on the cache lifetime in seconds, applied to `max-age`, `no-store` and `no-cache` alike. Default 0. */
  minCacheAge?: number | undefined;
  /** Upper bound on a honoured `Cache-Control: max-age`, in seconds. Default 86400 (24 h). */
  maxCacheAge?: number | undefined;
}

/** Seconds between attempts while no key set was ever obtained (a cooldown longer than this waits no longer). */
const UNLOADED_RETRY = 1;
/** Upper bound on a honoured `Cache-Control: max-age`, in seconds. */
const MAX_CACHE_AGE = 24 * 60 * 60;
/** Responses larger than this are refused. */
const MAX_DOCUMENT_BYTES = 512 * 1024;
/** Longest `kid` accepted from a key set or a token header. */
export const MAX_KID_LENGTH = 256;

const PUBLIC_MEMBERS = ['kty', 'kid', 'use', 'alg', 'crv', 'x', 'y', 'n', 'e'] as const;
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
  RSA: ['n', 'e'],
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether a value is an absolute http: or https: URL. */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/** The RFC 8414 metadata URL of an issuer (well-known segment before any path). */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/** Keeps a public, signature-capable JWK with a kid, stripped of every other member; else undefined. */
function toPublicSigningKey(value: unknown): JWK | undefined {
  if (!isRecord(value)) return undefined;
  const { kty, kid, use } = value;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) return undefined;
  if (use !== undefined && use !== 'sig') return undefined;
  if (typeof kty !== 'string') return undefined;
  const required = REQUIRED_MEMBERS[kty];
  if (!required || required.some((member) => typeof value[member] !== 'string')) return undefined;
  if (value.alg !== undefined && typeof value.alg !== 'string') return undefined;
  const key: Record<string, unknown> = {};
  for (const member of PUBLIC_MEMBERS) if (value[member] !== undefined) key[member] = value[member];
  return key as JWK;
}

function parseKeyset(document: unknown, url: string): Map<string, JWK> {
  if (!isRecord(document) || !Array.isArray(document.keys)) {
    throw new KeysetFetchError(url, 'the key set is not a JSON object with a "keys" array');
  }
  const keys = new Map<string, JWK>();
  for (const entry of document.keys) {
    const key = toPublicSigningKey(entry);
    if (key?.kid !== undefined && !keys.has(key.kid)) keys.set(key.kid, key);
  }
  return keys;
}

function maxAgeOf(cacheControl: string | null, fallback: number, max: number): number {
  if (cacheControl === null) return fallback;
  if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(cacheControl)) return 0;
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
  return match?.[1] === undefined ? fallback : Math.min(Number(match[1]), max);
}

/** The body as text, reading at most `maxBytes` (the stream is cancelled beyond that). */
async function readLimited(response: Response, maxBytes: number, url: string): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new KeysetFetchError(url, 'the response is too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A cache of an issuer's published signing keys (RFC 7517 JWK Set).
 *
 * - Keys are cached for the response's `Cache-Control: max-age` (at most 24 h), else
 *   for `cacheMaxAge`; an expired set is refreshed in the background while it keeps serving.
 * - An unknown `kid` triggers a refetch, at most once per `cooldown` for the whole set;
 *   concurrent misses share one in-flight fetch.
 * - When the issuer is unreachable the last good keys keep serving (stale-if-error) and
 *   `onError` is called once per failure episode.
 * - When no key set was ever obtained, {@link RemoteKeyset.getKey} throws
 *   {@link KeysetUnavailableError}, and attempts are retried at most once a second (not once per
 *   cooldown), so an issuer that starts after its resource servers is picked up promptly.
 */
export class RemoteKeyset {
  readonly #options: RemoteKeysetOptions;
  #jwksUri: string | undefined;
  #keys: Map<string, JWK> | undefined;
  #expiresAt = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #inflight: Promise<void> | undefined;
  #failing = false;
  #lastError: KeysetFetchError | undefined;
  #fetches = 0;
  #fetchErrors = 0;
  #cacheMisses = 0;

  constructor(options: RemoteKeysetOptions) {
    this.#options = options;
    this.#jwksUri = options.jwksUri;
  }

  /** A snapshot of the cache counters. */
  get stats(): KeysetStats {
    return {
      fetches: this.#fetches,
      fetchErrors: this.#fetchErrors,
      cacheMisses: this.#cacheMisses,
      keys: this.#keys?.size ?? 0,
    };
  }

  /** Whether a key set has been obtained at least once. */
  get loaded(): boolean {
    return this.#keys !== undefined;
  }

  /**
   * The cached JWK with this `kid`, without fetching it (an expired set is still refreshed in the
   * background, as by {@link RemoteKeyset.getKey}). The verifier's token cache uses it to check that
   * the key a remembered token was verified with is still the published one.
   */
  peekKey(kid: string): JWK | undefined {
    if (this.#keys === undefined) return undefined;
    if (Date.now() >= this.#expiresAt) void this.refresh();
    return this.#keys.get(kid);
  }

  /**
   * The public JWK with this `kid`, or `undefined` when the issuer does not publish it.
   * @throws {@link KeysetUnavailableError} when no key set has ever been obtained.
   */
  async getKey(kid: string): Promise<JWK | undefined> {
    if (this.#keys === undefined) {
      await this.refresh();
      if (this.#keys === undefined) {
        throw new KeysetUnavailableError(this.#retryAfter(), { cause: this.#lastError });
      }
    } else if (Date.now() >= this.#expiresAt) {
      void this.refresh();
    }
    const cached = this.#keys.get(kid);
    if (cached) return cached;
    this.#cacheMisses++;
    await this.refresh();
    return this.#keys.get(kid);
  }

  /**
   * Every cached key (for a token without `kid`), fetching the set first when it was never obtained.
   * @throws {@link KeysetUnavailableError} when no key set has ever been obtained.
   */
  async getKeys(): Promise<JWK[]> {
    if (this.#keys === undefined) {
      await this.refresh();
      if (this.#keys === undefined) throw new KeysetUnavailableError(this.#retryAfter(), { cause: this.#lastError });
    } else if (Date.now() >= this.#expiresAt) {
      void this.refresh();
    }
    return [...this.#keys.values()];
  }

  /**
   * Fetches the key set unless a fetch is in flight (then joins it) or the last attempt
   * was less than `cooldown` seconds ago (then does nothing). Never rejects.
   */
  refresh(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    if (Date.now() - this.#lastAttemptAt < this.#cooldown() * 1000) return Promise.resolve();
    this.#lastAttemptAt = Date.now();
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** The cooldown, shortened while nothing was ever loaded so a late issuer is picked up promptly. */
  #cooldown(): number {
    return this.#keys === undefined ? Math.min(this.#options.cooldown, UNLOADED_RETRY) : this.#options.cooldown;
  }

  #retryAfter(): number {
    return (this.#lastAttemptAt + this.#cooldown() * 1000 - Date.now()) / 1000;
  }

  async #load(): Promise<void> {
    this.#fetches++;
    try {
      const url = await this.#resolveJwksUri();
      const { document, cacheControl } = await this.#fetchJson(url);
      this.#keys = parseKeyset(document, url);
      const { minCacheAge = 0, maxCacheAge = MAX_CACHE_AGE } = this.#options;
      const maxAge = Math.max(minCacheAge, maxAgeOf(cacheControl, this.#options.cacheMaxAge, maxCacheAge));
      this.#expiresAt = Date.now() + maxAge * 1000;
      this.#failing = false;
    } catch (error) {
      this.#fetchErrors++;
      this.#lastError =
        error instanceof KeysetFetchError
          ? error
          : new KeysetFetchError(this.#jwksUri ?? this.#options.issuer, 'key set fetch failed', { cause: error });
      if (!this.#failing) {
        this.#failing = true;
        try {
          this.#options.onError?.(this.#lastError);
        } catch {
          // a failing hook must not break verification
        }
      }
    }
  }

  async #resolveJwksUri(): Promise<string> {
    if (this.#jwksUri !== undefined) return this.#jwksUri;
    const url = metadataUrl(this.#options.issuer);
    const { document } = await this.#fetchJson(url);
    if (!isRecord(document)) throw new KeysetFetchError(url, 'the metadata is not a JSON object');
    if (document.issuer !== this.#options.issuer) {
      throw new KeysetFetchError(url, 'the metadata "issuer" does not match the configured issuer');
    }
    const jwksUri = document.jwks_uri;
    if (!isHttpUrl(jwksUri)) {
      throw new KeysetFetchError(url, 'the metadata has no http(s) "jwks_uri"');
    }
    this.#jwksUri = jwksUri;
    return jwksUri;
  }

  async #fetchJson(url: string): Promise<{ document: unknown; cacheControl: string | null }> {
    const { timeout, maxBytes = MAX_DOCUMENT_BYTES, followRedirects = true } = this.#options;
    let text: string;
    let cacheControl: string | null;
    try {
      const response = await this.#options.fetch(url, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(timeout),
        redirect: followRedirects ? 'follow' : 'manual',
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new KeysetFetchError(url, `unexpected HTTP status ${response.status}`);
      }
      if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
        await response.body?.cancel();
        throw new KeysetFetchError(url, 'the response is too large');
      }
      cacheControl = response.headers.get('cache-control');
      text = await readLimited(response, maxBytes, url);
    } catch (error) {
      if (error instanceof KeysetFetchError) throw error;
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      throw new KeysetFetchError(url, timedOut ? `no answer within ${timeout} ms` : 'the request failed', {
        cause: error,
      });
    }
    try {
      return { document: JSON.parse(text) as unknown, cacheControl };
    } catch (error) {
      throw new KeysetFetchError(url, 'the response is not JSON', { cause: error });
    }
  }
}
