/**
 * Codes the client uses itself, when there is no OAuth error from the server:
 * - `network_error`: the request failed or timed out before any response (see `cause`);
 * - `invalid_metadata`: the RFC 8414 metadata was unavailable, malformed, or named another issuer;
 * - `invalid_response`: the token endpoint answered without a usable token or OAuth error body.
 */
export type TokenClientErrorCode = 'network_error' | 'invalid_metadata' | 'invalid_response';

/**
 * A failure to obtain an access token. For an OAuth error response (RFC 6749 §5.2) `error`
 * and `error_description` are the server's and `status` its HTTP status; otherwise `error` is
 * one of {@link TokenClientErrorCode}. Messages never contain secrets or tokens.
 */
export class TokenClientError extends Error {
  override name = 'TokenClientError';
  /** The OAuth `error` code (e.g. `invalid_client`, `invalid_grant`) or a {@link TokenClientErrorCode}. */
  readonly error: string;
  /** The server's `error_description`, or the client's own explanation. */
  readonly error_description: string | undefined;
  /** The HTTP status of the response, when there was one. */
  readonly status: number | undefined;

  constructor(error: string, description?: string, status?: number, options?: { cause?: unknown }) {
    super(
      [status === undefined ? undefined : `HTTP ${status}`, error].filter(Boolean).join(' ') + (description ? `: ${description}` : ''),
      options,
    );
    this.error = error;
    this.error_description = description;
    this.status = status;
  }
}
