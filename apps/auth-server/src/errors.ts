/** RFC 6749 §5.2 error codes, plus RFC 6750, RFC 8707 and the server's own. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'temporarily_unavailable'
  | 'server_error';

/** An error that is safe to show: its code, status, description and headers go to the client as they are. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  readonly headers: Record<string, string>;

  constructor(
    readonly code: OAuthErrorCode,
    readonly status: number,
    readonly description: string,
    headers: Record<string, string> = {},
  ) {
    super(description);
    this.headers = headers;
  }
}

export const invalidRequest = (description: string) => new OAuthError('invalid_request', 400, description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', 400, description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', 400, description);
export const invalidTarget = (description: string) => new OAuthError('invalid_target', 400, description);
export const unauthorizedClient = (description: string) => new OAuthError('unauthorized_client', 400, description);
export const unsupportedGrantType = (description: string) => new OAuthError('unsupported_grant_type', 400, description);
/** RFC 9449 §5: the DPoP proof of a token request is missing, malformed or fails a check. */
export const invalidDpopProof = (description: string, headers: Record<string, string> = {}) =>
  new OAuthError('invalid_dpop_proof', 400, description, headers);
export const notFound = (description: string) => new OAuthError('not_found', 404, description);
export const conflict = (description: string) => new OAuthError('conflict', 409, description);

/** 401 invalid_client; `basic` adds the challenge RFC 6749 §5.2 asks for when Basic was used. */
export const invalidClient = (description: string, basic = false) =>
  new OAuthError('invalid_client', 401, description, basic ? { 'WWW-Authenticate': 'Basic realm="tessera", charset="UTF-8"' } : {});

const bearerChallenge = (params: Record<string, string>) =>
  'Bearer ' +
  Object.entries({ realm: 'tessera-admin', ...params })
    .map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`)
    .join(', ');

/** RFC 6750 errors of the admin API. */
export const bearerMissing = () => new OAuthError('invalid_token', 401, 'an access token is required', { 'WWW-Authenticate': bearerChallenge({}) });
export const bearerInvalid = (description: string) =>
  new OAuthError('invalid_token', 401, description, {
    'WWW-Authenticate': bearerChallenge({ error: 'invalid_token', error_description: description }),
  });
export const bearerMalformed = (description: string) =>
  new OAuthError('invalid_request', 400, description, {
    'WWW-Authenticate': bearerChallenge({ error: 'invalid_request', error_description: description }),
  });
export const insufficientScope = (scope: string) =>
  new OAuthError('insufficient_scope', 403, `the access token needs scope "${scope}"`, {
    'WWW-Authenticate': bearerChallenge({ error: 'insufficient_scope', scope }),
  });

/** The store could not be reached in time. */
export const temporarilyUnavailable = (retryAfterSeconds = 1) =>
  new OAuthError('temporarily_unavailable', 503, 'the service is temporarily unavailable, retry shortly', {
    'Retry-After': String(retryAfterSeconds),
  });

/** Raised by a store when its backend cannot be reached or did not answer in time. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
