/**
 * `@tessera/guard`: verify RFC 9068 JWT access tokens against an issuer's published
 * JWKS, with a framework-free core ({@link createVerifier}) and express glue
 * ({@link requireAccessToken}).
 * @packageDocumentation
 */
export {
  createVerifier,
  normalizeScopes,
  DEFAULT_ALGORITHMS,
  DEFAULT_MAX_TOKEN_LENGTH,
  SUPPORTED_ALGORITHMS,
  type AccessTokenClaims,
  type SigningAlgorithm,
  type Verifier,
  type VerifierOptions,
  type VerifyOptions,
} from './verifier.js';
export { RemoteKeyset, metadataUrl, type KeysetStats, type RemoteKeysetOptions } from './keyset.js';
export {
  GuardError,
  MissingTokenError,
  InvalidRequestError,
  InvalidTokenError,
  InsufficientScopeError,
  KeysetUnavailableError,
  KeysetFetchError,
  type GuardErrorCode,
} from './errors.js';
export { requireAccessToken, extractBearerToken, type AuthResult, type RequireAccessTokenOptions } from './express.js';
