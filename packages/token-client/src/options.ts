import type { KeyObject } from 'node:crypto';
import type { CryptoKey, JWK } from 'jose';
import { checkDpopOption, type DpopKeyOption } from './dpop.js';

/** How the client authenticates to the token endpoint with its secret (RFC 6749 §2.3.1). */
export type AuthMethod = 'client_secret_basic' | 'client_secret_post';

/** JWS algorithms a client assertion may be signed with (Tessera's allowlist, README "Client authentication"). */
export type AssertionAlgorithm = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519' | 'RS256' | 'PS256';

/**
 * private_key_jwt client authentication (RFC 7523): the key signs a fresh assertion for every token
 * request (new `jti`, `aud` = the issuer, `exp` 60 s ahead); it never leaves the process.
 */
export interface ClientAssertionOptions {
  /** The private key: a WebCrypto CryptoKey, a node:crypto KeyObject or a private JWK. */
  privateKey: CryptoKey | KeyObject | JWK;
  /** The `kid` of the registered public key. Default: none (the server then uses its one key of that alg). */
  kid?: string | undefined;
  /** The JWS alg. Default: from the key (P-256 ES256, P-384 ES384, Ed25519 EdDSA, RSA RS256, RSA-PSS PS256). */
  alg?: AssertionAlgorithm | undefined;
}

/** Options of `createTokenClient`. They are validated once, at construction. */
export interface TokenClientOptions {
  /**
   * The authorization server's issuer identifier, an absolute http(s) URL (a trailing slash is
   * ignored). Its RFC 8414 metadata must name exactly this issuer.
   */
  issuer: string;
  /** The registered client id. */
  clientId: string;
  /** The client secret. It is sent only to the token endpoint and never appears in errors. Exactly one of this and `clientAssertion`. */
  clientSecret?: string | undefined;
  /** Authenticate with private_key_jwt instead of a secret. Exactly one of this and `clientSecret`. */
  clientAssertion?: ClientAssertionOptions | undefined;
  /** Scopes to request with client_credentials (array or space-separated string). Default: the client's registered scopes. */
  scope?: string | readonly string[] | undefined;
  /** RFC 8707 `resource` (Tessera: the audience) to request with client_credentials. Default: the client's first audience. */
  resource?: string | undefined;
  /** Token endpoint authentication with `clientSecret`. Default `client_secret_basic`. Not with `clientAssertion`. */
  authMethod?: AuthMethod | undefined;
  /** Seconds before expiry at which a cached access token is replaced. Default 30; never more than half the token's lifetime. */
  refreshSkew?: number | undefined;
  /** Timeout of each metadata and token request, in milliseconds. Default 10000. */
  timeout?: number | undefined;
  /** The fetch used for every request, including `client.fetch`. Default: the global fetch. */
  fetch?: typeof fetch | undefined;
  /** The current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: (() => number) | undefined;
  /**
   * RFC 9449 DPoP: `true` makes a fresh ES256 key for this client instance, `{ privateKey }` uses yours. Token
   * requests then carry a proof (the server binds the access token to the key), `fetch` sends
   * `Authorization: DPoP <token>` with a proof per request (with `ath`), and a `use_dpop_nonce` answer from the
   * token endpoint or a resource server is retried once with the server's `DPoP-Nonce`. The key lives as long
   * as the client instance; refreshes reuse it (a public client's refresh tokens are bound to it). Default off.
   */
  dpop?: boolean | DpopKeyOption | undefined;
}

export interface ResolvedOptions {
  issuer: string;
  metadataUrl: string;
  clientId: string;
  clientSecret: string | undefined;
  clientAssertion: { privateKey: CryptoKey | KeyObject | JWK; kid: string | undefined; alg: AssertionAlgorithm } | undefined;
  scope: string | undefined;
  resource: string | undefined;
  authMethod: AuthMethod;
  refreshSkew: number;
  timeout: number;
  fetch: typeof fetch;
  clock: () => number;
  dpop: true | DpopKeyOption | undefined;
}

/** Default `refreshSkew`, in seconds. */
export const DEFAULT_REFRESH_SKEW = 30;
/** Default `timeout`, in milliseconds. */
export const DEFAULT_TIMEOUT = 10_000;

const AUTH_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post'];
const ASSERTION_ALGORITHMS: readonly AssertionAlgorithm[] = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];
const EC_ALGS: Record<string, AssertionAlgorithm> = { 'P-256': 'ES256', prime256v1: 'ES256', 'P-384': 'ES384', secp384r1: 'ES384' };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** The alg a private key signs with by default; undefined when it is not a usable private signing key. */
function keyAlgorithm(key: unknown): AssertionAlgorithm | undefined {
  if (!isObject(key)) return undefined;
  if (typeof key.asymmetricKeyType === 'string' || key.type === 'secret') {
    const k = key as unknown as KeyObject;
    if (k.type !== 'private') return undefined;
    if (k.asymmetricKeyType === 'ec') return EC_ALGS[k.asymmetricKeyDetails?.namedCurve ?? ''];
    return ({ ed25519: 'EdDSA', rsa: 'RS256', 'rsa-pss': 'PS256' } as Record<string, AssertionAlgorithm>)[k.asymmetricKeyType ?? ''];
  }
  if (isObject(key.algorithm) && typeof key.type === 'string') {
    if (key.type !== 'private') return undefined;
    const { name, namedCurve } = key.algorithm as { name?: string; namedCurve?: string };
    if (name === 'ECDSA') return EC_ALGS[namedCurve ?? ''];
    return ({ Ed25519: 'EdDSA', 'RSASSA-PKCS1-v1_5': 'RS256', 'RSA-PSS': 'PS256' } as Record<string, AssertionAlgorithm>)[name ?? ''];
  }
  if (typeof key.kty === 'string' && typeof key.d === 'string') {
    if (key.kty === 'EC') return EC_ALGS[String(key.crv)];
    if (key.kty === 'OKP') return key.crv === 'Ed25519' ? 'EdDSA' : undefined;
    if (key.kty === 'RSA') return 'RS256';
  }
  return undefined;
}

function resolveAssertion(value: unknown): ResolvedOptions['clientAssertion'] {
  if (!isObject(value)) return fail('clientAssertion', 'an object {privateKey, kid?, alg?}');
  const { privateKey, kid, alg } = value;
  const inferred = keyAlgorithm(privateKey);
  if (!inferred) fail('clientAssertion.privateKey', 'a private EC (P-256, P-384), Ed25519 or RSA key: a CryptoKey, KeyObject or private JWK');
  if (kid !== undefined && !nonEmpty(kid)) fail('clientAssertion.kid', 'a non-empty string');
  if (alg !== undefined && !ASSERTION_ALGORITHMS.includes(alg as AssertionAlgorithm)) fail('clientAssertion.alg', ASSERTION_ALGORITHMS.join(', '));
  const fits =
    alg === undefined ||
    alg === inferred ||
    (inferred === 'EdDSA' && alg === 'Ed25519') ||
    (inferred === 'RS256' && alg === 'PS256' && !(isObject(privateKey) && isObject(privateKey.algorithm)));
  if (!fits) fail('clientAssertion.alg', `an alg the key can sign with (${inferred})`);
  return { privateKey: privateKey as CryptoKey | KeyObject | JWK, kid: kid as string | undefined, alg: (alg as AssertionAlgorithm | undefined) ?? inferred! };
}
/** RFC 6749 §3.3 scope-token */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

/** RFC 8414 §3: the well-known segment goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

const fail = (name: string, what: string): never => {
  throw new TypeError(`"${name}" must be ${what}`);
};

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

/** A scope option as one space-separated string; TypeError naming `scope` when malformed. */
export function resolveScope(scope: unknown): string | undefined {
  if (scope === undefined) return undefined;
  const list = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : Array.isArray(scope) ? (scope as unknown[]) : undefined;
  if (!list || list.length === 0 || !list.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))) {
    fail('scope', 'a non-empty space-separated string or array of scope tokens');
  }
  return (list as string[]).join(' ');
}

export function resolveOptions(options: TokenClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { issuer, clientId, clientSecret, resource, authMethod, refreshSkew, timeout } = options;
  if (!isHttpUrl(issuer)) fail('issuer', 'an absolute http(s) URL without query, fragment or credentials');
  if (!nonEmpty(clientId)) fail('clientId', 'a non-empty string');
  if (clientSecret !== undefined && options.clientAssertion !== undefined) {
    throw new TypeError('"clientSecret" and "clientAssertion" are exclusive: give exactly one');
  }
  const clientAssertion = options.clientAssertion === undefined ? undefined : resolveAssertion(options.clientAssertion);
  if (!clientAssertion && !nonEmpty(clientSecret)) fail('clientSecret', 'a non-empty string (or give clientAssertion instead)');
  if (clientAssertion && authMethod !== undefined) throw new TypeError('"authMethod" applies to clientSecret only; clientAssertion always sends private_key_jwt');
  if (resource !== undefined && !nonEmpty(resource)) fail('resource', 'a non-empty string');
  if (authMethod !== undefined && !AUTH_METHODS.includes(authMethod)) fail('authMethod', AUTH_METHODS.join(' or '));
  if (refreshSkew !== undefined && !(typeof refreshSkew === 'number' && Number.isFinite(refreshSkew) && refreshSkew >= 0)) {
    fail('refreshSkew', 'a finite number of seconds, at least 0');
  }
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && timeout > 0)) fail('timeout', 'a positive integer (milliseconds)');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') fail('fetch', 'a function');
  if (options.clock !== undefined && typeof options.clock !== 'function') fail('clock', 'a function returning milliseconds since the epoch');
  const normalized = issuer.replace(/\/+$/, '');
  return {
    issuer: normalized,
    metadataUrl: metadataUrl(normalized),
    clientId,
    clientSecret,
    clientAssertion,
    scope: resolveScope(options.scope),
    resource,
    authMethod: authMethod ?? 'client_secret_basic',
    refreshSkew: refreshSkew ?? DEFAULT_REFRESH_SKEW,
    timeout: timeout ?? DEFAULT_TIMEOUT,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    clock: options.clock ?? Date.now,
    dpop: checkDpopOption(options.dpop),
  };
}
