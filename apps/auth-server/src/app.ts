import { notFoundHandler, requestContext, securityHeaders } from '@tessera/service-kit';
import express, { type Express } from 'express';
import type { AppDeps } from './deps.js';
import { adminClientsRouter } from './endpoints/admin-clients.js';
import { adminKeysRouter } from './endpoints/admin-keys.js';
import { jwksEndpoint, metadataEndpoint } from './endpoints/discovery.js';
import { docsRouter } from './endpoints/docs.js';
import { healthEndpoint, metricsEndpoint, readinessEndpoint } from './endpoints/health.js';
import { introspectEndpoint } from './endpoints/introspect.js';
import { openApiEndpoint } from './endpoints/openapi.js';
import { revokeEndpoint } from './endpoints/revoke.js';
import { tokenRefreshEndpoint } from './endpoints/token-refresh.js';
import { tokenEndpoint } from './endpoints/token.js';
import { requireScope } from './http/bearer-authorization.js';
import { body } from './http/body.js';
import { errorHandler } from './http/error-handler.js';
import { authFailureLimits, rateLimits } from './http/rate-limit.js';

export interface AuthServerApps {
  /** token, discovery, health and metrics routes; the admin routes too unless `admin` is set */
  public: Express;
  /** the admin API on its own app when ADMIN_PORT is set (Hydra's public/admin split) */
  admin: Express | undefined;
}

function baseApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);
  app.set('etag', false);
  app.use(
    requestContext({
      logger: deps.logger,
      observe: ({ method, route, status }, seconds) => {
        const labels = { route, method, status: String(status) };
        deps.metrics.httpRequests.inc(labels);
        deps.metrics.httpDuration.observe(labels, seconds);
      },
    }),
  );
  app.use(securityHeaders());
  return app;
}

function finish(app: Express, deps: AppDeps): Express {
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger, deps.metrics));
  return app;
}

const noStore: express.RequestHandler = (_req, res, next) => {
  res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
  next();
};

function registerPublic(app: Express, deps: AppDeps): void {
  const oauthBody = body('application/x-www-form-urlencoded', 'application/json');
  const none = body();
  const limits = rateLimits(deps);
  const grantLimits = rateLimits(deps, 'with-grant');
  app.get('/.well-known/oauth-authorization-server', none, metadataEndpoint(deps));
  app.get('/.well-known/jwks.json', none, jwksEndpoint(deps));
  app.post('/token', noStore, oauthBody, ...grantLimits, tokenEndpoint(deps));
  app.post('/token/refresh', noStore, oauthBody, ...grantLimits, tokenRefreshEndpoint(deps));
  app.post('/revoke', noStore, oauthBody, ...limits, revokeEndpoint(deps));
  app.post('/introspect', noStore, oauthBody, ...authFailureLimits(deps), introspectEndpoint(deps));
  app.get('/healthz', none, healthEndpoint);
  app.get('/readyz', none, readinessEndpoint(deps));
  app.get('/metrics', none, metricsEndpoint(deps));
  app.get('/openapi.json', none, openApiEndpoint(deps.config));
  app.use('/docs', none);
  app.use(docsRouter(deps.config));
}

function registerAdmin(app: Express, deps: AppDeps): void {
  app.use('/admin', noStore, body('application/json'), requireScope(deps, 'admin'));
  app.use(adminClientsRouter(deps));
  app.use(adminKeysRouter(deps));
}

/** Builds the auth server's express app(s); the caller listens. */
export function createApp(deps: AppDeps): AuthServerApps {
  const pub = baseApp(deps);
  registerPublic(pub, deps);
  if (deps.config.adminPort === undefined) {
    registerAdmin(pub, deps);
    return { public: finish(pub, deps), admin: undefined };
  }
  const admin = baseApp(deps);
  registerAdmin(admin, deps);
  return { public: finish(pub, deps), admin: finish(admin, deps) };
}
