import { hash } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type JWK, type ProtectedHeaderParameters } from 'jose';
import { GuardError, InsufficientScopeError, InvalidTokenError, type KeysetFetchError } from './errors.js';
import { isHttpUrl, MAX_KID_LENGTH, RemoteKeyset, type KeysetStats } from './keyset.js';

/** Asymmetric JWS algorithms the guard can verify. `none` and HS* are never accepted. */
export const SUPPORTED_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
] as const;

/** A JWS algorithm accepted by the guard. */
export type SigningAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

/** Default `algorithms`: the algorithms Tessera's auth server may sign with. */
export const DEFAULT_ALGORITHMS: readonly SigningAlgorithm[] = ['ES256', 'EdDSA', 'RS256', 'PS256'];

/** Default number of verified tokens remembered (see `verifiedCacheSize`). */
export const DEFAULT_VERIFIED_CACHE_SIZE = 10_000;

/** Default maximum token length in characters (8 KiB). */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;

/**
 * RFC 8693 §4.1 actor claim of a delegated token (token exchange): `sub` is the party acting for the
 * token's subject, a nested `act` the party that acted before it. Only the outermost actor is the
 * current one; nested actors are history.
 */
export interface ActorClaim {
  /** The acting party (Tessera: the client id that exchanged the token). */
  sub: string;
  /** The previous actor, when the token was exchanged more than once. */
  act?: ActorClaim;
  [claim: string]: unknown;
}

/** Default `maxDelegationDepth`: no limit. */
export const DEFAULT_MAX_DELEGATION_DEPTH = Infinity;

/**
 * Claims of a verified RFC 9068 access token. Every listed claim except `scope` and
 * `nbf` is required and type-checked; other claims are passed through.
 */
export interface AccessTokenClaims {
  /** Issuer; equals the configured `issuer`. */
  iss: string;
  /** Subject (for client credentials: the client id). */
  sub: string;
  /** Audience(s); contains the configured `audience`. */
  aud: string | string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Not before, seconds since the epoch. */
  nbf?: number;
  /** Unique token id. */
  jti: string;
  /** The client the token was issued to. */
  client_id: string;
  /** Space-separated granted scopes. */
  scope?: string;
  /** The delegation chain of a token minted by token exchange (RFC 8693 §4.1); checked to be well-formed. */
  act?: ActorClaim;
  [claim: string]: unknown;
}

/** Options of {@link createVerifier}. They are validated once, by `createVerifier`. */
export interface VerifierOptions {
  /** Expected `iss`, compared exactly; an absolute http(s) URL. Also the base of RFC 8414 discovery. */
  issuer: string;
  /** Audience this resource server accepts; the token's `aud` must contain it. */
  audience: string;
  /** JWKS URL. Default: the `jwks_uri` of `<issuer>/.well-known/oauth-authorization-server` (RFC 8414). */
  jwksUri?: string | undefined;
  /** Accepted JWS algorithms. Default `['ES256', 'EdDSA', 'RS256', 'PS256']`; `none` and HS* are refused. */
  algorithms?: readonly string[] | undefined;
  /** Leeway in SECONDS applied to `exp`, `nbf` and `iat`. Default 5. */
  clockTolerance?: number | undefined;
  /** Longest accepted token, in characters, checked before any parsing. Default 8192. */
  maxTokenLength?: number | undefined;
  /** Minimum SECONDS between two fetches of the key set (unknown `kid`, failures). Default 30. */
  cooldown?: number | undefined;
  /** SECONDS to cache the key set when its response has no `Cache-Control: max-age`. Default 600. */
  cacheMaxAge?: number | undefined;
  /** Timeout of each metadata / key set request, in MILLISECONDS. Default 5000. */
  timeout?: number | undefined;
  /** fetch implementation. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch | undefined;
  /** Called once per episode in which the key set cannot be fetched (not per request). */
  onKeysetError?: ((error: KeysetFetchError) => void) | undefined;
  /**
   * Most verified tokens remembered, keyed by their SHA-256, each until its `exp` (plus `clockTolerance`)
   * and only while the key it was verified with is still the published one; the scopes are checked on
   * every call. A token presented again skips the signature and claim checks it already passed.
   * Default 10000; 0 turns the cache off.
   */
  verifiedCacheSize?: number | undefined;
  /**
   * Most `act` levels (delegation hops, RFC 8693 §4.1) a token may carry: 0 accepts only tokens without
   * `act`, 1 a token exchanged once, and so on. A deeper token is refused as invalid_token (401).
   * An integer >= 0 or `Infinity`. Default `Infinity` (no limit; a malformed `act` is always refused).
   */
  maxDelegationDepth?: number | undefined;
}

/** Per-call options of {@link Verifier.verify}. */
export interface VerifyOptions {
  /** Scopes the token must all carry (array or space-separated string). */
  scopes?: string | readonly string[] | undefined;
  /**
   * Audiences accepted for this call: the token's `aud` must contain at least one of them.
   * Default: the verifier's `audience`. Checked on every call, cached tokens included.
   */
  audience?: string | readonly string[] | undefined;
}

/** Verifies access tokens against one issuer's published keys. */
export interface Verifier {
  /** The configured issuer. */
  readonly issuer: string;
  /** The configured audience. */
  readonly audience: string;
  /** Key set cache counters (fetches, fetch errors, cache misses, cached keys). */
  readonly stats: KeysetStats;
  /**
   * Verifies a compact JWT access token and returns its claims.
   * @throws {@link InvalidTokenError} (401), {@link InsufficientScopeError} (403) or
   *   {@link KeysetUnavailableError} (503); never any other {@link GuardError}.
   *   A TypeError when `options` are malformed.
   */
  verify(token: string, options?: VerifyOptions): Promise<AccessTokenClaims>;
  /**
   * Fetches the key set now (respecting the cooldown) so the first request does not wait.
   * Never rejects; resolves to whether keys are available.
   */
  refreshKeys(): Promise<boolean>;
}

const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'];
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const KEY_TYPES: Record<string, { kty: string; crv?: string }> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

function fail(name: string, requirement: string): never {
  throw new TypeError(`"${name}" ${requirement}`);
}

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(name, 'must be a finite number of seconds >= 0');
  }
  return value;
}

function positiveInteger(name: string, value: unknown, fallback: number, unit: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    fail(name, `must be a positive integer (${unit})`);
  }
  return value;
}

function checkAlgorithms(value: unknown): SigningAlgorithm[] {
  if (value === undefined) return [...DEFAULT_ALGORITHMS];
  if (!Array.isArray(value) || value.length === 0) fail('algorithms', 'must be a non-empty array');
  for (const alg of value) {
    if (typeof alg === 'string' && (alg.toLowerCase() === 'none' || /^HS/i.test(alg))) {
      fail('algorithms', `must not contain ${alg}: only asymmetric algorithms are accepted`);
    }
    if (!(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(alg)) {
      fail('algorithms', `may only contain ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }
  return [...new Set(value as SigningAlgorithm[])];
}

/**
 * Normalizes required scopes given as an array or a space-separated string.
 * @throws TypeError when a scope is not an RFC 6749 scope-token.
 */
export function normalizeScopes(scopes: string | readonly string[] | undefined, name = 'scopes'): string[] {
  if (scopes === undefined) return [];
  const list = typeof scopes === 'string' ? scopes.split(' ').filter(Boolean) : scopes;
  if (!Array.isArray(list) || list.some((scope) => typeof scope !== 'string' || !SCOPE_TOKEN.test(scope))) {
    fail(name, 'must be scope tokens (a string array or a space-separated string)');
  }
  return [...list];
}

function checkAudiences(value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((entry) => typeof entry !== 'string' || entry.length === 0)) {
    fail('audience', 'must be a non-empty string or a non-empty array of them');
  }
  return list as string[];
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the access token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `the access token lacks the required ${error.claim} claim`;
    if (error.reason === 'invalid') return `the access token has an invalid ${error.claim} claim`;
    switch (error.claim) {
      case 'iss':
        return 'the access token was not issued by the expected issuer';
      case 'aud':
        return 'the access token is not intended for this audience';
      case 'nbf':
        return 'the access token is not valid yet';
      case 'iat':
        return 'the access token was issued in the future';
      case 'typ':
        return 'the token type (typ) must be at+jwt';
      default:
        return `the access token failed the ${error.claim} check`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the signing algorithm is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature is invalid';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'the access token is malformed';
  return 'the access token is invalid';
}

function readHeader(token: string): ProtectedHeaderParameters {
  if (token.split('.').length !== 3) throw new InvalidTokenError('the access token is not a JWT');
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new InvalidTokenError('the access token is not a JWT');
  }
}

function checkHeader(header: ProtectedHeaderParameters, algorithms: readonly string[]): void {
  for (const name of FORBIDDEN_HEADERS) {
    if (Object.hasOwn(header, name)) throw new InvalidTokenError(`the token header must not carry ${name}`);
  }
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    throw new InvalidTokenError('the signing algorithm is not allowed');
  }
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt') {
    throw new InvalidTokenError('the token type (typ) must be at+jwt');
  }
  const { kid } = header;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    throw new InvalidTokenError('the token header has no usable kid');
  }
}

function keyFits(key: JWK, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  const expected = KEY_TYPES[alg] ?? { kty: 'RSA' };
  return key.kty === expected.kty && (expected.crv === undefined || key.crv === expected.crv);
}

/** The number of `act` levels, or undefined when one is not an object with a string `sub`. */
function delegationDepth(act: unknown): number | undefined {
  let depth = 0;
  for (let actor = act; actor !== undefined; actor = (actor as { act?: unknown }).act) {
    if (typeof actor !== 'object' || actor === null || Array.isArray(actor) || typeof (actor as { sub?: unknown }).sub !== 'string') return undefined;
    depth++;
  }
  return depth;
}

function checkClaims(claims: Record<string, unknown>, now: number, tolerance: number, maxDepth: number): AccessTokenClaims {
  for (const name of ['sub', 'jti', 'client_id', 'iss']) {
    if (typeof claims[name] !== 'string') throw new InvalidTokenError(`the access token has an invalid ${name} claim`);
  }
  const { aud } = claims;
  if (typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((entry) => typeof entry === 'string'))) {
    throw new InvalidTokenError('the access token has an invalid aud claim');
  }
  if (claims.scope !== undefined && typeof claims.scope !== 'string') {
    throw new InvalidTokenError('the access token has an invalid scope claim');
  }
  if (typeof claims.iat !== 'number' || claims.iat > now + tolerance) {
    throw new InvalidTokenError('the access token was issued in the future');
  }
  const depth = delegationDepth(claims.act);
  if (depth === undefined) throw new InvalidTokenError('the access token has an invalid act claim');
  if (depth > maxDepth) throw new InvalidTokenError(`the access token has ${depth} delegation levels (act), more than the ${maxDepth} accepted`);
  return claims as AccessTokenClaims;
}

/** A deep copy of a JSON value (a JWT payload is parsed JSON: objects, arrays, strings, numbers, booleans, null). */
function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const member = copyJson((value as Record<string, unknown>)[key]);
    if (key === '__proto__') Object.defineProperty(copy, key, { value: member, enumerable: true, writable: true, configurable: true });
    else copy[key] = member;
  }
  return copy as T;
}

interface Remembered {
  claims: AccessTokenClaims;
  kid: string;
  key: JWK;
  /** seconds since the epoch from which the token counts as expired (exp + clock tolerance) */
  until: number;
}

class JwtAccessTokenVerifier implements Verifier {
  readonly #verified = new Map<string, Remembered>();
  readonly #verifiedCacheSize: number;
  readonly issuer: string;
  readonly audience: string;
  readonly #audiences: readonly string[];
  readonly #algorithms: SigningAlgorithm[];
  readonly #clockTolerance: number;
  readonly #maxTokenLength: number;
  readonly #maxDelegationDepth: number;
  readonly #keyset: RemoteKeyset;

  constructor(options: VerifierOptions) {
    if (typeof options !== 'object' || options === null) fail('options', 'must be an object');
    const { issuer, audience, jwksUri, fetch, onKeysetError } = options;
    if (!isHttpUrl(issuer) || /[?#]/.test(issuer)) fail('issuer', 'must be an absolute http(s) URL without query or fragment');
    if (typeof audience !== 'string' || audience.length === 0) fail('audience', 'must be a non-empty string');
    if (jwksUri !== undefined && !isHttpUrl(jwksUri)) fail('jwksUri', 'must be an absolute http(s) URL');
    if (fetch !== undefined && typeof fetch !== 'function') fail('fetch', 'must be a function');
    if (onKeysetError !== undefined && typeof onKeysetError !== 'function') fail('onKeysetError', 'must be a function');
    this.issuer = issuer;
    this.audience = audience;
    this.#audiences = [audience];
    this.#algorithms = checkAlgorithms(options.algorithms);
    this.#clockTolerance = seconds('clockTolerance', options.clockTolerance, 5);
    this.#maxTokenLength = positiveInteger('maxTokenLength', options.maxTokenLength, DEFAULT_MAX_TOKEN_LENGTH, 'characters');
    const cacheSize = options.verifiedCacheSize;
    if (cacheSize !== undefined && (typeof cacheSize !== 'number' || !Number.isSafeInteger(cacheSize) || cacheSize < 0)) {
      fail('verifiedCacheSize', 'must be an integer >= 0 (0 turns the cache off)');
    }
    this.#verifiedCacheSize = cacheSize ?? DEFAULT_VERIFIED_CACHE_SIZE;
    const maxDepth = options.maxDelegationDepth;
    if (maxDepth !== undefined && maxDepth !== Infinity && (typeof maxDepth !== 'number' || !Number.isSafeInteger(maxDepth) || maxDepth < 0)) {
      fail('maxDelegationDepth', 'must be an integer >= 0 or Infinity');
    }
    this.#maxDelegationDepth = maxDepth ?? DEFAULT_MAX_DELEGATION_DEPTH;
    this.#keyset = new RemoteKeyset({
      issuer,
      jwksUri,
      cooldown: seconds('cooldown', options.cooldown, 30),
      cacheMaxAge: seconds('cacheMaxAge', options.cacheMaxAge, 600),
      timeout: positiveInteger('timeout', options.timeout, 5000, 'milliseconds'),
      fetch: fetch ?? globalThis.fetch,
      onError: onKeysetError,
    });
  }

  get stats(): KeysetStats {
    return this.#keyset.stats;
  }

  async refreshKeys(): Promise<boolean> {
    await this.#keyset.refresh();
    return this.#keyset.loaded;
  }

  async verify(token: string, options: VerifyOptions = {}): Promise<AccessTokenClaims> {
    const scopes = normalizeScopes(options.scopes);
    const audiences = options.audience === undefined ? this.#audiences : checkAudiences(options.audience);
    if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('the access token is empty');
    if (token.length > this.#maxTokenLength) {
      throw new InvalidTokenError(`the access token is longer than ${this.#maxTokenLength} characters`);
    }
    const cacheKey = this.#verifiedCacheSize > 0 ? hash('sha256', token, 'base64url') : undefined;
    const remembered = cacheKey === undefined ? undefined : this.#remembered(cacheKey);
    const claims = remembered ? copyJson(remembered) : await this.#verifyFully(token, cacheKey);

    const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
    if (!audiences.some((audience) => aud.includes(audience))) {
      throw new InvalidTokenError('the access token is not intended for this audience');
    }

    if (scopes.length > 0) {
      const granted = new Set((claims.scope ?? '').split(' '));
      if (scopes.some((scope) => !granted.has(scope))) throw new InsufficientScopeError(scopes);
    }
    return claims;
  }

  /** Claims of a token verified before, still unexpired, whose key is still the published one. */
  #remembered(cacheKey: string): AccessTokenClaims | undefined {
    const entry = this.#verified.get(cacheKey);
    if (!entry) return undefined;
    if (Math.floor(Date.now() / 1000) >= entry.until || this.#keyset.peekKey(entry.kid) !== entry.key) {
      this.#verified.delete(cacheKey);
      return undefined;
    }
    return entry.claims;
  }

  async #verifyFully(token: string, cacheKey: string | undefined): Promise<AccessTokenClaims> {
    const header = readHeader(token);
    checkHeader(header, this.#algorithms);

    let payload: Record<string, unknown>;
    let key: JWK | undefined;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (h) => {
          key = await this.#resolveKey(h);
          return key;
        },
        {
          issuer: this.issuer,
          algorithms: this.#algorithms,
          clockTolerance: this.#clockTolerance,
          typ: 'at+jwt',
          requiredClaims: REQUIRED_CLAIMS,
        },
      ));
    } catch (error) {
      if (error instanceof GuardError) throw error;
      throw new InvalidTokenError(describe(error));
    }
    const claims = checkClaims(payload, Math.floor(Date.now() / 1000), this.#clockTolerance, this.#maxDelegationDepth);
    if (cacheKey !== undefined && key !== undefined) {
      if (this.#verified.size >= this.#verifiedCacheSize) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(cacheKey, { claims: copyJson(claims), kid: header.kid as string, key, until: claims.exp + this.#clockTolerance });
    }
    return claims;
  }

  async #resolveKey(header: ProtectedHeaderParameters): Promise<JWK> {
    const key = await this.#keyset.getKey(header.kid as string);
    if (!key) throw new InvalidTokenError('no published key matches the token kid');
    if (!keyFits(key, header.alg as string)) throw new InvalidTokenError('the token kid names a key of another algorithm');
    return key;
  }
}

/**
 * Creates a verifier for RFC 9068 JWT access tokens issued by `issuer` for `audience`.
 * All options are checked here, once.
 * @throws TypeError naming the offending option.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  return new JwtAccessTokenVerifier(options);
}
