import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RequestOutcome } from './http.js';

/** Counters of a key set cache (`@tessera/guard`'s `Verifier.stats`), read at scrape time. */
export interface KeysetStatsSource {
  readonly stats: { readonly fetches: number; readonly fetchErrors: number; readonly cacheMisses: number; readonly keys: number };
}

/** Options of {@link registerResourceServerMetrics}. */
export interface ResourceServerMetricsOptions {
  /** The verifier whose JWKS counters are exported. */
  keyset: KeysetStatsSource;
  /** Methods kept as their own label value; others count as `other` (so odd methods cannot grow the series). Default: all kept. */
  methods?: readonly string[] | undefined;
}

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
 * The metrics of a resource server (the collector, forward-auth) on `registry`: `http_requests_total` and
 * `http_request_duration_seconds` by method, route and status; the guard's `jwks_fetches_total`,
 * `jwks_fetch_errors_total`, `jwks_cache_misses_total` and `jwks_keys`; the default process metrics.
 * @returns the observer to pass to `requestContext({ observe })`
 */
export function registerResourceServerMetrics(registry: Registry, { keyset, methods }: ResourceServerMetricsOptions): (outcome: RequestOutcome, seconds: number) => void {
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route and status', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route and status',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  mirroredCounter(registry, 'jwks_fetches_total', 'Key set fetch attempts (including discovery)', () => keyset.stats.fetches);
  mirroredCounter(registry, 'jwks_fetch_errors_total', 'Key set fetch attempts that failed', () => keyset.stats.fetchErrors);
  mirroredCounter(registry, 'jwks_cache_misses_total', 'Token kids not found in the cached key set', () => keyset.stats.cacheMisses);
  new Gauge({
    name: 'jwks_keys',
    help: 'Signing keys currently cached',
    registers: [registry],
    collect() {
      this.set(keyset.stats.keys);
    },
  });
  const known = methods === undefined ? undefined : new Set(methods);
  return httpObserver(requests, duration, ({ method, route, status }) => ({
    method: known === undefined || known.has(method) ? method : 'other',
    route,
    status: String(status),
  }));
}

/**
 * The observer to pass to `requestContext({ observe })` that counts each finished request on `requests`
 * and times it on `duration`, under the labels `labelsOf` makes (shown in /metrics in that object's
 * order). Each series is looked up once and then reused, so a request costs no label hashing.
 */
export function httpObserver(
  requests: Counter<string>,
  duration: Histogram<string>,
  labelsOf: (outcome: RequestOutcome) => Record<string, string>,
): (outcome: RequestOutcome, seconds: number) => void {
  const series = new Map<string, { counter: { inc(): void }; histogram: { observe(value: number): void } }>();
  return (outcome, seconds) => {
    const key = `${outcome.method} ${outcome.status} ${outcome.route}`;
    let bound = series.get(key);
    if (bound === undefined) {
      const labels = labelsOf(outcome);
      bound = { counter: requests.labels(labels), histogram: duration.labels(labels) };
      series.set(key, bound);
    }
    bound.counter.inc();
    bound.histogram.observe(seconds);
  };
}
