import type { RequestHandler } from 'express';
import type { AppDeps } from '../deps.js';

/** GET /healthz: the process is alive. */
export const healthEndpoint: RequestHandler = (_req, res) => {
  res.set('Cache-Control', 'no-store').json({ status: 'ok' });
};

/** GET /readyz: the store answers and there is an active signing key. */
export function readinessEndpoint(deps: AppDeps): RequestHandler {
  return async (_req, res) => {
    const checks = { store: 'ok', signing_key: deps.keys.hasActiveKey() ? 'ok' : 'missing' };
    try {
      await deps.store.ping();
    } catch {
      checks.store = 'unreachable';
    }
    const ready = checks.store === 'ok' && checks.signing_key === 'ok';
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ready ? 'ready' : 'unavailable', checks });
  };
}

/** GET /metrics: Prometheus text. */
export function metricsEndpoint(deps: AppDeps): RequestHandler {
  return async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  };
}
