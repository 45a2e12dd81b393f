import { requireAccessToken, type Verifier } from '@tessera/guard';
import { BODY_LIMIT, chain, describeRequestError, directRoutes, errorHandler, isRequestError, notFoundHandler, requestContext, securityHeaders, type DirectListener, type Logger } from '@tessera/service-kit';
import express, { type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { CollectorConfig } from './config.js';
import { registerMetrics } from './metrics.js';

/** What {@link createApp} needs; tests build these themselves. */
export interface AppDeps {
  config: Pick<CollectorConfig, 'requiredScope' | 'trustProxy'> & Partial<Pick<CollectorConfig, 'corsOrigins' | 'dpop'>>;
  verifier: Verifier;
  logger: Logger;
  registry: Registry;
}


/** The `WWW-Authenticate` realm of the collector. */
export const REALM = 'collector';

/**
 * Opt-in CORS for browser callers (Swagger UI on the auth server): only the exact listed origins get
 * `Access-Control-Allow-Origin`; a preflight from one of them is answered 204 allowing GET with an
 * Authorization header. No credentials mode (bearer tokens, no cookies). With no origins: no CORS headers.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req, res, next) => {
    if (allowed.size === 0) return next();
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined || !allowed.has(origin)) return next();
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      res.vary('Access-Control-Request-Method').vary('Access-Control-Request-Headers');
      res.set({
        'Access-Control-Allow-Methods': 'GET',
        'Access-Control-Allow-Headers': 'Authorization, DPoP',
        'Access-Control-Max-Age': '600',
      });
      res.status(204).end();
      return;
    }
    res.set('Access-Control-Expose-Headers', 'WWW-Authenticate');
    next();
  };
}

/** A client error (a bad header, a body the route does not take) without details; the rest is the kit's server_error. */
function clientError(error: unknown) {
  if (isRequestError(error)) {
    const { status, description } = describeRequestError(error);
    return { status, body: { error: 'invalid_request', error_description: description } };
  }
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status !== 'number' || status < 400 || status >= 500) return undefined;
  return { status, body: { error: 'invalid_request', error_description: 'the request could not be processed' } };
}

/**
 * Builds the collector's request listener: `GET /collect`, `/healthz`, `/metrics`. `GET /collect` is served
 * directly on node:http (the service kit's directRoutes); every other request, and every other form of
 * that path, by the express app behind it (`.app`).
 */
export function createApp({ config, verifier, logger, registry }: AppDeps): DirectListener {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy);
  // no endpoint takes a body: one within 16 KiB is read and ignored, a bigger one is 413
  const readBody = express.raw({ type: () => true, limit: BODY_LIMIT });
  const front = chain(
    securityHeaders(),
    requestContext({ logger, observe: registerMetrics(registry, verifier) }),
    (req, res, next) => (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined ? next() : readBody(req, res, next)),
  );
  app.use(front);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });

  const corsStep = config.corsOrigins?.length ? [cors(config.corsOrigins)] : [];
  const guarded: RequestHandler[] = [
    requireAccessToken({ verifier, scopes: config.requiredScope, realm: REALM, dpop: config.dpop ?? 'allowed' }),
    (req, res) => {
      res.set('Cache-Control', 'no-store').json({ message: 'collected', claims: req.auth?.claims });
    },
  ];
  if (corsStep.length) app.all('/collect', ...corsStep);
  app.get('/collect', ...guarded);

  const onError = errorHandler({ logger, known: clientError });
  app.use(notFoundHandler);
  app.use(onError);
  return directRoutes({ app, before: [front], routes: [{ method: 'GET', path: '/collect', handlers: [...corsStep, ...guarded] }], notFound: notFoundHandler, onError });
}
