/**
 * `@tessera/guard`: verify RFC 9068 JWT access tokens against an issuer's published
 * JWKS, with a framework-free core ({@link createVerifier}, {@link createRequestAuthenticator},
 * {@link createRequestGuard}), express glue ({@link requireAccessToken}) and node:http glue
 * ({@link createAuthenticator}). The fastify plugin is the subpath `@tessera/guard/fastify`, so that
 * nothing here needs fastify or its types.
 * @packageDocumentation
 */
export {
  createVerifier,
  normalizeScopes,
  DEFAULT_ALGORITHMS,
  DEFAULT_MAX_TOKEN_LENGTH,
  DEFAULT_MAX_DELEGATION_DEPTH,
  SUPPORTED_ALGORITHMS,
  type AccessTokenClaims,
  type ActorClaim,
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
  InvalidDpopProofError,
  InsufficientScopeError,
  KeysetUnavailableError,
  KeysetFetchError,
  type GuardErrorCode,
  type ChallengeContext,
  type DpopMode,
} from './errors.js';
export {
  verifyDpopProof,
  normalizeHtu,
  accessTokenHash,
  DpopProofError,
  MemoryDpopReplayStore,
  redisDpopReplayStore,
  DEFAULT_DPOP_ALGORITHMS,
  DEFAULT_DPOP_PROOF_MAX_AGE,
  DEFAULT_DPOP_REPLAY_CACHE_SIZE,
  DPOP_PROOF_FUTURE_SKEW,
  DPOP_PROOF_MAX_LENGTH,
  type DpopProof,
  type DpopReplayStore,
  type RedisSetNx,
  type VerifyDpopProofInput,
} from './dpop.js';
export {
  createRequestAuthenticator,
  type AuthResult,
  type AuthenticateOptions,
  type CredentialRequest,
  type RequestAuthenticator,
  type RequestAuthenticatorOptions,
} from './authenticate.js';
export {
  createRequestGuard,
  absoluteUrl,
  headerValues,
  type GuardGlueOptions,
  type GuardOptions,
  type RequestGuard,
  type RequestParts,
} from './request.js';
export { requireAccessToken, extractBearerToken, requestUrl, type RequireAccessTokenOptions } from './express.js';
export { createAuthenticator, sendGuardError, type Authenticator, type AuthenticatorOptions } from './node.js';
