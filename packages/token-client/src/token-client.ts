import type { KeyObject } from 'node:crypto';
import { importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { asksForNonce, createDpopSigner, type DpopSigner } from './dpop.js';
import { TokenClientError } from './errors.js';
import { isHttpUrl, resolveOptions, resolveScope, type ResolvedOptions, type TokenClientOptions } from './options.js';

/** A client of one authorization server, holding one client's tokens. Create it with {@link createTokenClient}. */
export interface TokenClient {
  /** The issuer, without a trailing slash. */
  readonly issuer: string;
  /**
   * A valid access token: the cached one until `refreshSkew` seconds before it expires, else a new
   * one — by the refresh token when there is one (each rotated refresh token is kept), by
   * client_credentials otherwise or when the refresh token is rejected with `invalid_grant`.
   * Concurrent callers share one request, so a refresh token is never presented twice.
   * The token endpoint is discovered once from the issuer's RFC 8414 metadata.
   * @throws {@link TokenClientError}
   */
  getAccessToken(): Promise<string>;
  /** Drops the cached access token (not the refresh token): the next `getAccessToken()` gets a new one. */
  invalidate(): void;
  /**
   * RFC 8693 token exchange: trades `subjectToken` (an access token this client's service received,
   * meant for it) for a token to call `resource` on the subject's behalf, with `scope` (default: what
   * the subject token and this client both hold). The result is cached per (SHA-256 of the subject
   * token, resource, scope) until `refreshSkew` seconds before it expires; concurrent calls for the same
   * key share one request. Errors are not cached.
   * @throws {@link TokenClientError} with the server's error (`invalid_grant`, `invalid_target`, …);
   *   a `TypeError` for a bad argument.
   */
  exchange(request: ExchangeRequest): Promise<string>;
  /**
   * `fetch` with `Authorization: Bearer <access token>` (replacing any Authorization header), or with `dpop`
   * and a DPoP-bound token `Authorization: DPoP <access token>` plus a fresh `DPoP` proof for this method and URL.
   * A 401 asking for a DPoP nonce is retried once with it. On another 401 it invalidates that token and
   * retries once with a fresh one; the last response is returned whatever it is. A streamed request body
   * is buffered for the retries.
   * @throws {@link TokenClientError} when no token can be obtained; whatever `fetch` throws.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

/** The arguments of {@link TokenClient.exchange}. */
export interface ExchangeRequest {
  /** The access token to exchange (the caller's token this service received). */
  subjectToken: string;
  /** The target service: RFC 8707 `resource`, one of the client's registered `exchange_audiences`. */
  resource: string;
  /** Scopes to request (array or space-separated string). Default: the intersection the server grants. */
  scope?: string | readonly string[] | undefined;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Most exchanged tokens kept; beyond it, expired ones and then the oldest are dropped. */
const EXCHANGE_CACHE_SIZE = 1000;

interface Issued {
  accessToken: string;
  /** the token_type: DPoP when the token is bound to the client's DPoP key */
  scheme: 'Bearer' | 'DPoP';
  /** seconds; undefined when the server did not say */
  expiresIn: number | undefined;
  refreshToken: string | undefined;
}

/** RFC 6749 §5.2 error code characters */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
/** RFC 6750 §2.1 b64token */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_DESCRIPTION = 300;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** seconds */
const ASSERTION_LIFETIME = 60;

/** A CryptoKey or KeyObject (anything but a JWK object). */
const isKeyLike = (key: unknown): key is CryptoKey | KeyObject =>
  typeof key === 'object' && key !== null && ('algorithm' in key || 'asymmetricKeyType' in key);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** base64 of SHA-256 (WebCrypto, so the client stays free of node: imports). */
async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest));
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return undefined;
  }
}

/**
 * Creates a token client. Options are checked here (a `TypeError` names the bad one); nothing is
 * fetched until the first `getAccessToken()` or `fetch()`.
 *
 * @example
 * const tokens = createTokenClient({ issuer: 'http://localhost:4000', clientId, clientSecret, resource: 'collector' });
 * const res = await tokens.fetch('http://localhost:4001/collect');
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const o: ResolvedOptions = resolveOptions(options);
  let tokenEndpoint: Promise<string> | undefined;
  let cached: { token: string; scheme: 'Bearer' | 'DPoP'; renewAt: number } | undefined;
  let refreshToken: string | undefined;
  let pending: Promise<string> | undefined;
  let signer: Promise<DpopSigner> | undefined;
  /** the latest DPoP-Nonce each origin sent */
  const nonces = new Map<string, string>();
  const dpopSigner = (): Promise<DpopSigner> | undefined => (o.dpop === undefined ? undefined : (signer ??= createDpopSigner(o.dpop, o.clock)));
  const rememberNonce = (url: string, res: Response) => {
    const nonce = res.headers.get('dpop-nonce');
    if (nonce && nonce.length <= 1024) nonces.set(new URL(url).origin, nonce);
  };

  const exchanged = new Map<string, { token: string; renewAt: number }>();
  const exchanging = new Map<string, Promise<string>>();

  const redact = (text: string, extra: readonly string[] = []) => {
    let out = text;
    for (const secret of [o.clientSecret, refreshToken, ...extra]) if (secret) out = out.split(secret).join('[redacted]');
    out = out.replace(/[\x00-\x1F\x7F]+/g, ' ');
    return out.length > MAX_DESCRIPTION ? `${out.slice(0, MAX_DESCRIPTION)}…` : out;
  };

  let signingKey: Promise<CryptoKey | KeyObject | Uint8Array> | undefined;
  /** A fresh RFC 7523 client assertion: new jti, aud = the issuer, exp 60 s ahead. */
  async function signAssertion(): Promise<string> {
    const { privateKey, kid, alg } = o.clientAssertion!;
    signingKey ??= isKeyLike(privateKey) ? Promise.resolve(privateKey) : importJWK(privateKey as JWK, alg);
    const now = Math.floor(o.clock() / 1000);
    return new SignJWT({})
      .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
      .setIssuer(o.clientId)
      .setSubject(o.clientId)
      .setAudience(o.issuer)
      .setJti(globalThis.crypto.randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_LIFETIME)
      .sign(await signingKey);
  }

  async function send(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await o.fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(o.timeout) });
    } catch (cause) {
      const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
      throw new TokenClientError('network_error', `${what} request ${timedOut ? `timed out after ${o.timeout} ms` : 'failed'}`, undefined, { cause });
    }
  }

  async function discover(): Promise<string> {
    const res = await send(o.metadataUrl, { headers: { accept: 'application/json' } }, 'metadata');
    const body = await readJson(res);
    if (res.status !== 200) throw new TokenClientError('invalid_metadata', `metadata endpoint answered ${res.status}`, res.status);
    if (!isObject(body)) throw new TokenClientError('invalid_metadata', 'metadata is not a JSON object', res.status);
    if (body.issuer !== o.issuer) {
      const named = typeof body.issuer === 'string' ? JSON.stringify(body.issuer.slice(0, 200)) : 'no issuer';
      throw new TokenClientError('invalid_metadata', `metadata names ${named}, expected ${JSON.stringify(o.issuer)}`, res.status);
    }
    if (!isHttpUrl(body.token_endpoint)) throw new TokenClientError('invalid_metadata', 'metadata has no absolute http(s) token_endpoint', res.status);
    return body.token_endpoint;
  }

  const endpoint = (): Promise<string> =>
    (tokenEndpoint ??= discover().catch((error: unknown) => {
      tokenEndpoint = undefined;
      throw error;
    }));

  async function requestToken(url: string, params: Record<string, string>, secrets: readonly string[] = []): Promise<Issued> {
    const body = new URLSearchParams(params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (o.clientAssertion) {
      body.set('client_id', o.clientId);
      body.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
      body.set('client_assertion', await signAssertion());
    } else if (o.authMethod === 'client_secret_basic') {
      headers.authorization = `Basic ${btoa(`${formEncode(o.clientId)}:${formEncode(o.clientSecret!)}`)}`;
    } else {
      body.set('client_id', o.clientId);
      body.set('client_secret', o.clientSecret!);
    }
    const dpop = dpopSigner();
    let res: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      if (dpop) headers.dpop = await (await dpop).proof('POST', url, { nonce: nonces.get(new URL(url).origin) });
      if (o.clientAssertion && attempt > 0) body.set('client_assertion', await signAssertion());
      res = await send(url, { method: 'POST', headers, body }, 'token');
      if (!dpop) break;
      rememberNonce(url, res);
      if (attempt > 0 || res.status !== 400 || !res.headers.get('dpop-nonce')) break;
      const error = await readJson(res.clone());
      if (!isObject(error) || error.error !== 'use_dpop_nonce') break;
    }
    res = res!;
    const json = await readJson(res);
    if (res.status !== 200) {
      if (isObject(json) && typeof json.error === 'string' && ERROR_CODE.test(json.error)) {
        const description = typeof json.error_description === 'string' ? redact(json.error_description, secrets) : undefined;
        throw new TokenClientError(json.error, description, res.status);
      }
      throw new TokenClientError('invalid_response', `token endpoint answered ${res.status} without an OAuth error`, res.status);
    }
    const invalid = (what: string) => new TokenClientError('invalid_response', `token response ${what}`, res.status);
    if (!isObject(json)) throw invalid('is not a JSON object');
    const { access_token, token_type, expires_in, refresh_token } = json;
    if (typeof access_token !== 'string' || !B64TOKEN.test(access_token)) throw invalid('has no usable access_token');
    const scheme = typeof token_type === 'string' ? token_type.toLowerCase() : undefined;
    if (scheme !== 'bearer' && !(scheme === 'dpop' && dpop)) throw invalid(dpop ? 'token_type is neither Bearer nor DPoP' : 'token_type is not Bearer');
    if (expires_in !== undefined && !(typeof expires_in === 'number' && Number.isFinite(expires_in) && expires_in > 0)) {
      throw invalid('expires_in is not a positive number');
    }
    if (refresh_token !== undefined && (typeof refresh_token !== 'string' || refresh_token.length === 0)) throw invalid('refresh_token is not a string');
    return { accessToken: access_token, scheme: scheme === 'dpop' ? 'DPoP' : 'Bearer', expiresIn: expires_in, refreshToken: refresh_token };
  }

  /** Whether the refresh token may still be good after this failure: only a definite 4xx answer other than invalid_grant. */
  const keepsRefreshToken = (error: unknown) =>
    error instanceof TokenClientError && error.status !== undefined && error.status >= 400 && error.status < 500 && error.error !== 'invalid_grant';

  async function obtain(): Promise<string> {
    const url = await endpoint();
    const startedAt = o.clock();
    const presented = refreshToken;
    let issued: Issued | undefined;
    if (presented) {
      try {
        issued = await requestToken(url, { grant_type: 'refresh_token', refresh_token: presented });
        refreshToken = issued.refreshToken ?? presented;
      } catch (error) {
        if (!keepsRefreshToken(error)) refreshToken = undefined;
        if (!(error instanceof TokenClientError && error.error === 'invalid_grant')) throw error;
      }
    }
    if (!issued) {
      const params: Record<string, string> = { grant_type: 'client_credentials' };
      if (o.scope) params.scope = o.scope;
      if (o.resource) params.resource = o.resource;
      issued = await requestToken(url, params);
      refreshToken = issued.refreshToken;
    }
    cached = { token: issued.accessToken, scheme: issued.scheme, renewAt: renewAt(startedAt, issued.expiresIn) };
    return issued.accessToken;
  }

  const renewAt = (startedAt: number, expiresIn: number | undefined) =>
    expiresIn === undefined ? Infinity : startedAt + (expiresIn - Math.min(o.refreshSkew, expiresIn / 2)) * 1000;

  async function obtainExchanged(key: string, params: Record<string, string>, subjectToken: string): Promise<string> {
    const url = await endpoint();
    const startedAt = o.clock();
    const issued = await requestToken(url, params, [subjectToken]);
    const now = o.clock();
    if (exchanged.size >= EXCHANGE_CACHE_SIZE) {
      for (const [k, entry] of exchanged) if (entry.renewAt <= now) exchanged.delete(k);
      if (exchanged.size >= EXCHANGE_CACHE_SIZE) exchanged.delete(exchanged.keys().next().value!);
    }
    exchanged.set(key, { token: issued.accessToken, renewAt: renewAt(startedAt, issued.expiresIn) });
    return issued.accessToken;
  }

  async function exchange(request: ExchangeRequest): Promise<string> {
    if (typeof request !== 'object' || request === null) throw new TypeError('exchange() takes {subjectToken, resource, scope?}');
    const { subjectToken, resource } = request;
    if (typeof subjectToken !== 'string' || !B64TOKEN.test(subjectToken)) throw new TypeError('"subjectToken" must be an access token');
    if (typeof resource !== 'string' || resource.length === 0) throw new TypeError('"resource" must be a non-empty string');
    const scope = resolveScope(request.scope);
    const key = [await sha256(subjectToken), resource, scope ?? ''].join('\n');
    const hit = exchanged.get(key);
    if (hit && o.clock() < hit.renewAt) return hit.token;
    const inFlight = exchanging.get(key);
    if (inFlight) return inFlight;
    const params: Record<string, string> = { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, resource };
    if (scope) params.scope = scope;
    const pendingExchange = obtainExchanged(key, params, subjectToken).finally(() => exchanging.delete(key));
    exchanging.set(key, pendingExchange);
    return pendingExchange;
  }

  async function getAccessToken(): Promise<string> {
    if (cached && o.clock() < cached.renewAt) return cached.token;
    pending ??= obtain().finally(() => {
      pending = undefined;
    });
    return pending;
  }

  async function authorizedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    const attempt = async (req: Request) => {
      const token = await getAccessToken();
      const scheme = cached?.token === token ? cached.scheme : 'Bearer';
      req.headers.set('authorization', `${scheme} ${token}`);
      if (scheme === 'DPoP') {
        const dpop = await dpopSigner()!;
        req.headers.set('dpop', await dpop.proof(req.method, req.url, { accessToken: token, nonce: nonces.get(new URL(req.url).origin) }));
      } else {
        req.headers.delete('dpop');
      }
      const response = await o.fetch(req);
      if (scheme === 'DPoP') rememberNonce(req.url, response);
      return { token, scheme, response };
    };
    let nonceRetried = false;
    let tokenRetried = false;
    for (;;) {
      const current = await attempt(request.clone());
      if (current.response.status !== 401) return current.response;
      const nonceAsked = current.scheme === 'DPoP' && asksForNonce(current.response);
      if (nonceAsked ? nonceRetried : tokenRetried) return current.response;
      await current.response.body?.cancel().catch(() => undefined);
      if (nonceAsked) {
        nonceRetried = true;
      } else {
        tokenRetried = true;
        if (cached?.token === current.token) cached = undefined;
      }
    }
  }

  return {
    issuer: o.issuer,
    getAccessToken,
    invalidate() {
      cached = undefined;
    },
    exchange,
    fetch: authorizedFetch,
  };
}
