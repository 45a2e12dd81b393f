import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The auth server's Prometheus series, on a registry of its own. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    tokensIssued: new Counter({ name: 'tokens_issued_total', help: 'Access tokens issued by grant', labelNames: ['grant'] as const, registers }),
    tokenExchanges: new Counter({
      name: 'token_exchanges_total',
      help: 'Access tokens minted by token exchange (RFC 8693), by target audience',
      labelNames: ['audience'] as const,
      registers,
    }),
    refreshRotations: new Counter({ name: 'refresh_token_rotations_total', help: 'Refresh tokens rotated', registers }),
    reuseDetected: new Counter({
      name: 'refresh_token_reuse_detected_total',
      help: 'Spent refresh tokens presented again; each revoked its family',
      registers,
    }),
    familiesEvicted: new Counter({
      name: 'refresh_families_evicted_total',
      help: 'Refresh families revoked because their client started more than MAX_FAMILIES_PER_CLIENT',
      registers,
    }),
    underReplicatedWrites: new Counter({
      name: 'redis_writes_under_replicated_total',
      help: 'Writes fewer than REDIS_WAIT_REPLICAS replicas acknowledged in time (answered anyway)',
      labelNames: ['operation'] as const,
      registers,
    }),
    clientAuthFailures: new Counter({
      name: 'client_authentication_failures_total',
      help: 'Failed client authentications by the method tried (client_secret_basic, client_secret_post, private_key_jwt, none)',
      labelNames: ['method'] as const,
      registers,
    }),
    rateLimited: new Counter({ name: 'rate_limited_requests_total', help: 'Requests refused with 429', labelNames: ['limit'] as const, registers }),
    keyRotations: new Counter({ name: 'signing_key_rotations_total', help: 'Signing key rotations made by this instance', labelNames: ['reason'] as const, registers }),
    storeErrors: new Counter({ name: 'store_errors_total', help: 'Store operations that failed or timed out', registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
