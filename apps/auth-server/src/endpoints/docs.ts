import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { Router } from 'express';
import helmet from 'helmet';
import type { Config } from '../config.js';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tessera API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: true });`;

/**
 * GET /docs: Swagger UI over /openapi.json, served from swagger-ui-dist (no inline script, so helmet's CSP holds).
 * The page's CSP is helmet's default with one change: connect-src also allows the collector's origin
 * (COLLECTOR_URL), so "Try it out" on /collect can reach it; the token request goes to 'self'.
 */
export function docsRouter(config: Pick<Config, 'collectorUrl'>): Router {
  const router = Router();
  const pageCsp = helmet.contentSecurityPolicy({
    directives: { connectSrc: ["'self'", new URL(config.collectorUrl).origin] },
  });
  router.get('/docs', pageCsp, (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT);
  });
  router.use('/docs', express.static(swaggerUiDir, { index: false, maxAge: '1h' }));
  return router;
}
