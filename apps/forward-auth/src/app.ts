import { createRequestAuthenticator, type Verifier } from '@tessera/guard';
import { directRoutes, errorHandler, isRequestError, notFoundHandler, requestContext, type DirectListener, type Logger } from '@tessera/service-kit';
import express from 'express';
import type { Registry } from 'prom-client';
import type { ForwardAuthConfig } from './config.js';
import { healthEndpoint } from './endpoints/health.js';
import { metricsEndpoint } from './endpoints/metrics.js';
import { verifyEndpoint, type Policy } from './endpoints/verify.js';
import { registerMetrics } from './metrics.js';

/** What {@link createApp} needs; tests build these themselves. */
export interface AppDeps {
  config: Pick<ForwardAuthConfig, 'audience' | 'requiredScopes' | 'routes' | 'trustProxy'> & Partial<Pick<ForwardAuthConfig, 'dpop'>>;
  verifier: Verifier;
  logger: Logger;
  registry: Registry;
}

/** The policy the configuration describes: the ROUTES_FILE rules, or AUDIENCE and REQUIRED_SCOPE for every request. */
export function policyOf(config: AppDeps['config']): Policy {
  if (config.routes) return { routes: config.routes, audience: config.audience };
  if (config.audience === undefined) throw new TypeError('forward-auth needs an audience or routes');
  return { audience: config.audience, scopes: config.requiredScopes };
}

/**
 * Builds forward-auth's request listener: `/verify` (any method, and `/verify/*`), `/healthz`, `/metrics`.
 * `GET /verify`, what the proxies ask, is served directly on node:http (the service kit's directRoutes);
 * everything else by the express app behind it (`.app`).
 */
export function createApp({ config, verifier, logger, registry }: AppDeps): DirectListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  const context = requestContext({ logger, observe: registerMetrics(registry, verifier) });
  app.use(context);

  app.get('/healthz', healthEndpoint);
  app.get('/metrics', metricsEndpoint(registry));
  // DPoP proof jtis are remembered in this process (bounded); see the README on several instances.
  const authenticator = createRequestAuthenticator({ verifier, dpop: config.dpop ?? 'allowed' });
  const verify = verifyEndpoint({ authenticator, policy: policyOf(config) });
  app.all('/verify', verify);
  app.all('/verify/{*rest}', verify);

  const onError = errorHandler({
    logger,
    // body-parser's errors, and the router's 400 for a path it cannot decode (`/verify/%zz`).
    known: (error) =>
      isRequestError(error) || (error instanceof URIError && (error as { status?: unknown }).status === 400)
        ? { status: (error as { status: number }).status, body: { error: 'invalid_request', error_description: 'the request could not be processed' } }
        : undefined,
  });
  app.use(notFoundHandler);
  app.use(onError);
  return directRoutes({ app, before: [context], routes: [{ method: 'GET', path: '/verify', handlers: [verify] }], notFound: notFoundHandler, onError });
}
