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
  | 'insufficient_scope'
  | 'temporarily_unavailable';

/** Characters allowed in an RFC 6750 quoted `error_description` / `scope`. */
const QUOTABLE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

function quote(value: string): string {
  return `"${value.replace(QUOTABLE, '')}"`;
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
    return `Bearer realm=${quote(realm)}, error=${quote(this.code)}, error_description=${quote(this.description)}`;
  }

  /** All response headers the error implies (`WWW-Authenticate`, `Retry-After`). */
  headers(realm: string): Record<string, string> {
    const challenge = this.wwwAuthenticate(realm);
    return challenge === undefined ? {} : { 'WWW-Authenticate': challenge };
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

  override wwwAuthenticate(realm: string): string {
    return `Bearer realm=${quote(realm)}`;
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

  override wwwAuthenticate(realm: string): string {
    return `${super.wwwAuthenticate(realm)}, scope=${quote(this.scopes.join(' '))}`;
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
