import type { Verifier } from '@tessera/guard';
import type { RequestOutcome } from '@tessera/service-kit';
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** A counter whose value is read from a monotonic source at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * Registers forward-auth's metrics on `registry`: requests and latency by method, route and status
 * (`/verify` answers are its decisions: 200 allowed, 401/403 denied, 400 malformed, 503 no keys), the
 * guard's JWKS counters and the default process metrics. Returns the observer for the request context.
 */
export function registerMetrics(registry: Registry, verifier: Verifier): (outcome: RequestOutcome, seconds: number) => void {
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route and status', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route and status',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  mirroredCounter(registry, 'jwks_fetches_total', 'Key set fetch attempts (including discovery)', () => verifier.stats.fetches);
  mirroredCounter(registry, 'jwks_fetch_errors_total', 'Key set fetch attempts that failed', () => verifier.stats.fetchErrors);
  mirroredCounter(registry, 'jwks_cache_misses_total', 'Token kids not found in the cached key set', () => verifier.stats.cacheMisses);
  new Gauge({
    name: 'jwks_keys',
    help: 'Signing keys currently cached',
    registers: [registry],
    collect() {
      this.set(verifier.stats.keys);
    },
  });
  return ({ method, route, status }, seconds) => {
    // Any method reaches /verify: label only the standard ones, so odd methods cannot grow the series.
    const labels = { method: STANDARD_METHODS.has(method) ? method : 'other', route, status: String(status) };
    requests.inc(labels);
    duration.observe(labels, seconds);
  };
}

const STANDARD_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
