import type { Verifier } from '@tessera/guard';
import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Records one finished HTTP request. */
export type ObserveRequest = (labels: { method: string; route: string; status: number }, seconds: number) => void;

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
 * Registers the collector's metrics on `registry`: HTTP request count and latency by
 * route and status, the guard's JWKS counters, and the default process metrics.
 */
export function registerMetrics(registry: Registry, verifier: Verifier): ObserveRequest {
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route and status',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
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
    const labels = { method, route, status: String(status) };
    requests.inc(labels);
    duration.observe(labels, seconds);
  };
}
