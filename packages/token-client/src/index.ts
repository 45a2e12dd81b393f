/**
 * `@tessera/token-client`: obtain and keep an access token from a Tessera (or any RFC 6749 /
 * RFC 8414) authorization server with client_credentials, refresh it with rotating refresh
 * tokens, single-flight concurrent callers, and call resource servers with it.
 * @packageDocumentation
 */
export { createTokenClient, type ExchangeRequest, type TokenClient } from './token-client.js';
export { TokenClientError, type TokenClientErrorCode } from './errors.js';
export {
  DEFAULT_REFRESH_SKEW,
  DEFAULT_TIMEOUT,
  type AssertionAlgorithm,
  type AuthMethod,
  type ClientAssertionOptions,
  type TokenClientOptions,
} from './options.js';
export type { DpopKeyOption } from './dpop.js';
