import type { Verifier } from '@tessera/guard';
import { registerResourceServerMetrics, type RequestOutcome } from '@tessera/service-kit';
import type { Registry } from 'prom-client';

/** Records one finished HTTP request. */
export type ObserveRequest = (outcome: RequestOutcome, seconds: number) => void;

/**
 * Registers the collector's metrics on `registry`: HTTP request count and latency by
 * route and status, the guard's JWKS counters, and the default process metrics (the service kit's).
 */
export function registerMetrics(registry: Registry, verifier: Verifier): ObserveRequest {
  return registerResourceServerMetrics(registry, { keyset: verifier });
}
