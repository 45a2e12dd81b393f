/**
 * @packageDocumentation
 * What Tessera's services (auth server, collector, forward-auth) share, written once: config parsing
 * primitives and the ConfigError format, the logger, request ids and the access line, the JSON 404,
 * the shared part of the error serializer and graceful shutdown. Apps only; the libraries
 * (@tessera/guard, @tessera/token-client) do not use it.
 */
export {
  ACCEPTS,
  ConfigError,
  LOG_LEVELS,
  configVar,
  isHttpUrl,
  loadConfigOrExit,
  loadEnv,
  parseDuration,
  parsePort,
  parseTrustProxy,
  type LogLevel,
} from './config.js';
export { REDACT_PATHS, createLogger, type Logger, type LoggerOptions } from './logger.js';
export {
  QUIET_PATHS,
  REQUEST_ID,
  errorHandler,
  BODY_LIMIT,
  chain,
  describeRequestError,
  isRequestError,
  notFoundHandler,
  requestContext,
  requestLogger,
  securityHeaders,
  type ErrorHandlerOptions,
  type ErrorResponse,
  type RequestContextOptions,
  type RequestOutcome,
} from './http.js';
export { createHttpServer, directRoutes, type DirectRoute, type DirectRoutesOptions, type DirectListener, type RequestListener } from './direct-routes.js';
export { httpObserver, registerResourceServerMetrics, type KeysetStatsSource, type ResourceServerMetricsOptions } from './metrics.js';
export { exitOnSignals, gracefulShutdown, type ShutdownOptions } from './shutdown.js';
