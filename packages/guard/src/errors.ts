/**
 * Errors raised by the guard. Each carries a stable `code`, the HTTP `status` to
 * answer with and the RFC 6750 `WWW-Authenticate` challenge for a realm.
 *
 * Descriptions are written by the guard and never echo the presented token.
 */

/** Stable error codes carried by {@link GuardError.code}. */
export type GuardErrorCode =
  | 'unauthorized'
  | 'invalid_request'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'insufficient_scope'
  | 'temporarily_unavailable';

/** Characters allowed in an RFC 6750 quoted `error_description` / `scope`. */
const QUOTABLE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

function quote(value: string): string {
  return `"${value.replace(QUOTABLE, '')}"`;
}

/** Which schemes a resource accepts (see `dpop` of the guard's options). */
export type DpopMode = 'allowed' | 'required' | 'disabled';

/** How to shape the challenges of a resource that may accept DPoP (RFC 9449 §7.1). */
export interface ChallengeContext {
  /** `disabled`: a `Bearer` challenge only; `allowed`: `Bearer` and `DPoP` in one header; `required`: `DPoP` only. */
  dpop: DpopMode;
  /** The proof algorithms, for the `algs` parameter of the `DPoP` challenge. */
  algorithms: readonly string[];
  /** The scheme the request used; the error parameters go on that challenge (on `Bearer` when unknown). */
  scheme?: 'Bearer' | 'DPoP' | undefined;
}

/** Base class of every error the guard raises. */
export abstract class GuardError extends Error {
  /** Stable machine-readable code, used as the JSON `error` member. */
  abstract readonly code: GuardErrorCode;
  /** HTTP status the error maps to. */
  abstract readonly status: number;

  constructor(description: string, options?: ErrorOptions) {
    super(description, options);
    this.name = new.target.name;
  }

  /** Human-readable description (the JSON `error_description` member). */
  get description(): string {
    return this.message;
  }

  /**
   * The `WWW-Authenticate` header value for this error, or `undefined` when the
   * response carries no challenge (503).
   * @param realm - the protection space, e.g. `"collector"`.
   */
  wwwAuthenticate(realm: string): string | undefined {
    return `Bearer realm=${quote(realm)}${this.challengeParams()}`;
  }

  /** The auth-params after the scheme's own ones: `, error="…", error_description="…"` (empty for none). */
  protected challengeParams(): string {
    return `, error=${quote(this.code)}, error_description=${quote(this.description)}`;
  }

  /**
   * All response headers the error implies (`WWW-Authenticate`, `Retry-After`). With a `context` whose
   * `dpop` is not `disabled`, the challenges follow RFC 9449 §7.1: with both schemes allowed, ONE header
   * `Bearer realm="…", DPoP algs="…"` (proxies pass on only the first header) with the error parameters on
   * the scheme the request used; with `required`, the `DPoP` challenge alone.
   */
  headers(realm: string, context?: ChallengeContext): Record<string, string> {
    const bearerOnly = this.wwwAuthenticate(realm);
    if (bearerOnly === undefined) return {};
    if (context === undefined || context.dpop === 'disabled') return { 'WWW-Authenticate': bearerOnly };
    const params = this.challengeParams();
    const dpop = `DPoP algs=${quote(context.algorithms.join(' '))}`;
    if (context.dpop === 'required') return { 'WWW-Authenticate': `${dpop}${params}` };
    const onDpop = context.scheme === 'DPoP';
    return { 'WWW-Authenticate': `Bearer realm=${quote(realm)}${onDpop ? '' : params}, ${dpop}${onDpop ? params : ''}` };
  }

  /** The JSON response body `{ error, error_description }`. */
  toJSON(): { error: GuardErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

/**
 * The request carried no access token at all: 401 with a bare
 * `Bearer realm="…"` challenge and no error code (RFC 6750 §3.1).
 */
export class MissingTokenError extends GuardError {
  readonly code = 'unauthorized';
  readonly status = 401;

  constructor(description = 'an access token is required') {
    super(description);
  }

  protected override challengeParams(): string {
    return '';
  }
}

/** The request is malformed (bad Authorization header, token sent twice…): 400. */
export class InvalidRequestError extends GuardError {
  readonly code = 'invalid_request';
  readonly status = 400;
}

/** The access token is expired, revoked, malformed or otherwise invalid: 401. */
export class InvalidTokenError extends GuardError {
  readonly code = 'invalid_token';
  readonly status = 401;
}

/**
 * The DPoP proof is missing, malformed or fails a rule of RFC 9449 §4.3 (htm, htu, iat, jti replay, ath,
 * key ≠ `cnf.jkt`): 401 `invalid_dpop_proof` on the `DPoP` challenge.
 */
export class InvalidDpopProofError extends GuardError {
  readonly code = 'invalid_dpop_proof';
  readonly status = 401;
}

/** The token is valid but lacks a required scope: 403 with `scope="…"`. */
export class InsufficientScopeError extends GuardError {
  readonly code = 'insufficient_scope';
  readonly status = 403;
  /** The scopes the resource requires. */
  readonly scopes: readonly string[];

  constructor(scopes: readonly string[], description = 'the access token lacks a required scope') {
    super(description);
    this.scopes = scopes;
  }

  /** Adds `scope="…"` unless no scopes are named (a refusal that no scope would lift). */
  protected override challengeParams(): string {
    return this.scopes.length === 0 ? super.challengeParams() : `${super.challengeParams()}, scope=${quote(this.scopes.join(' '))}`;
  }
}

/**
 * No verification keys could ever be obtained from the issuer (it is unreachable
 * or misconfigured): 503 `temporarily_unavailable` with `Retry-After`.
 */
export class KeysetUnavailableError extends GuardError {
  readonly code = 'temporarily_unavailable';
  readonly status = 503;
  /** Seconds after which a retry may succeed (the `Retry-After` header). */
  readonly retryAfter: number;

  constructor(retryAfter: number, options?: ErrorOptions) {
    super('the token signing keys are temporarily unavailable', options);
    this.retryAfter = Math.max(1, Math.ceil(retryAfter));
  }

  override wwwAuthenticate(): undefined {
    return undefined;
  }

  override headers(): Record<string, string> {
    return { 'Retry-After': String(this.retryAfter) };
  }
}

/**
 * Why a key set (or metadata) fetch failed. Passed to `onKeysetError`; never
 * thrown from `verify`.
 */
export class KeysetFetchError extends Error {
  /** The URL that was being fetched. */
  readonly url: string;

  constructor(url: string, message: string, options?: ErrorOptions) {
    super(`${message} (${url})`, options);
    this.name = 'KeysetFetchError';
    this.url = url;
  }
}
