import { directRoutes, httpObserver, notFoundHandler, requestContext, securityHeaders, type DirectListener, type DirectRoute } from '@tessera/service-kit';
import express, { type Express, type RequestHandler } from 'express';
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
  /**
   * token, discovery, health and metrics routes; the admin routes too unless `admin` is set. The OAuth
   * endpoints (POST /token, /token/refresh, /revoke, /introspect) are served directly on node:http
   * (the service kit's directRoutes), everything else by express.
   */
  public: DirectListener;
  /** the admin API on its own app when ADMIN_PORT is set (Hydra's public/admin split) */
  admin: Express | undefined;
}

/** The app-level middleware of every route: request id, access line and metrics; security headers. */
function front(deps: AppDeps): RequestHandler[] {
  return [
    requestContext({
      logger: deps.logger,
      observe: httpObserver(deps.metrics.httpRequests, deps.metrics.httpDuration, ({ route, method, status }) => ({ route, method, status: String(status) })),
    }),
    securityHeaders(),
  ];
}

function baseApp(deps: AppDeps, before: RequestHandler[]): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);
  app.set('etag', false);
  app.use(...before);
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

/** The OAuth endpoints: the hot paths, each registered on express and served directly too. */
function oauthRoutes(deps: AppDeps): DirectRoute[] {
  const oauthBody = body('application/x-www-form-urlencoded', 'application/json');
  const limits = rateLimits(deps);
  const grantLimits = rateLimits(deps, 'with-grant');
  return [
    { method: 'POST', path: '/token', handlers: [noStore, oauthBody, ...grantLimits, tokenEndpoint(deps)] },
    { method: 'POST', path: '/token/refresh', handlers: [noStore, oauthBody, ...grantLimits, tokenRefreshEndpoint(deps)] },
    { method: 'POST', path: '/revoke', handlers: [noStore, oauthBody, ...limits, revokeEndpoint(deps)] },
    { method: 'POST', path: '/introspect', handlers: [noStore, oauthBody, ...authFailureLimits(deps), introspectEndpoint(deps)] },
  ];
}

function registerPublic(app: Express, deps: AppDeps, oauth: DirectRoute[]): void {
  const none = body();
  app.get('/.well-known/oauth-authorization-server', none, metadataEndpoint(deps));
  app.get('/.well-known/jwks.json', none, jwksEndpoint(deps));
  for (const route of oauth) app.post(route.path, ...route.handlers);
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

/** Builds the auth server's request listener(s); the caller listens. */
export function createApp(deps: AppDeps): AuthServerApps {
  const before = front(deps);
  const oauth = oauthRoutes(deps);
  const pub = baseApp(deps, before);
  registerPublic(pub, deps, oauth);
  let admin: Express | undefined;
  if (deps.config.adminPort === undefined) {
    registerAdmin(pub, deps);
  } else {
    admin = baseApp(deps, front(deps));
    registerAdmin(admin, deps);
    finish(admin, deps);
  }
  finish(pub, deps);
  return { public: directRoutes({ app: pub, before, routes: oauth, notFound: notFoundHandler, onError: errorHandler(deps.logger, deps.metrics) }), admin };
}
