import type { Verifier } from '@tessera/guard';
import { registerResourceServerMetrics, type RequestOutcome } from '@tessera/service-kit';
import type { Registry } from 'prom-client';

/** Any method reaches /verify: only these keep their own label value, others count as `other`. */
const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Registers forward-auth's metrics on `registry` (the service kit's resource-server set): requests and
 * latency by method, route and status (`/verify` answers are its decisions: 200 allowed, 401/403 denied,
 * 400 malformed, 503 no keys), the guard's JWKS counters and the default process metrics.
 */
export function registerMetrics(registry: Registry, verifier: Verifier): (outcome: RequestOutcome, seconds: number) => void {
  return registerResourceServerMetrics(registry, { keyset: verifier, methods: STANDARD_METHODS });
}
