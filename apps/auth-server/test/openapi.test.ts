import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every METHOD path the express app registers, with :param turned into {param}. */
function registeredRoutes(app: Express): string[] {
  const routes: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const raw of [layer.route.path].flat()) {
          const path = raw.replace(/:(\w+)/g, '{$1}');
          for (const method of Object.keys(layer.route.methods)) routes.push(`${method.toUpperCase()} ${path}`);
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return routes;
}

describe('GET /openapi.json', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('memory');
  });
  afterAll(() => h.close());

  it('is OpenAPI 3.1 and lists exactly the routes the app registers (plus the collector’s /collect)', async () => {
    const res = await h.http.get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    const registered = registeredRoutes(h.express).filter((r) => !r.startsWith('GET /docs/'));
    expect(registered.length).toBeGreaterThan(15);
    expect([...new Set(registered)].sort()).toEqual(documented.filter((r) => r !== 'GET /collect').sort());
    expect(res.body.paths['/collect'].servers[0].url).toBe('http://localhost:4001');
    expect(res.body.components.securitySchemes.oauth2.flows.clientCredentials.tokenUrl).toBe('http://auth.test/token');
  });

  it('resolves every $ref it uses', async () => {
    const doc = (await h.http.get('/openapi.json')).body;
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(5);
    for (const name of refs) expect(doc.components.schemas, name).toHaveProperty(name);
  });

  it('serves Swagger UI at /docs without inline scripts', async () => {
    const page = await h.http.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).not.toMatch(/<script>[^<]/);
    const bundle = await h.http.get('/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
    expect((await h.http.get('/docs/init.js')).text).toContain('/openapi.json');
  });

  it('relaxes the CSP of the /docs page only: connect-src adds the collector origin, nothing else changes', async () => {
    const page = (await h.http.get('/docs')).headers['content-security-policy'] as string;
    const other = (await h.http.get('/openapi.json')).headers['content-security-policy'] as string;
    const directives = (csp: string) => new Map(csp.split(';').filter(Boolean).map((d) => [d.split(' ')[0]!, d] as const));
    expect(directives(page).get('connect-src')).toBe("connect-src 'self' http://localhost:4001");
    expect(directives(other).has('connect-src')).toBe(false);
    const rest = (csp: string) => [...directives(csp)].filter(([name]) => name !== 'connect-src');
    expect(rest(page)).toEqual(rest(other));
    expect(directives(page).get('script-src')).toBe("script-src 'self'");
    expect((await h.http.get('/docs/init.js')).headers['content-security-policy']).toBe(other);
  });
});

describe('COLLECTOR_URL', () => {
  it('is the server of /collect in the OpenAPI document and the origin /docs may connect to', async () => {
    const h = await startHarness('memory', { COLLECTOR_URL: 'https://collector.example.com:8443/base/' });
    try {
      const doc = (await h.http.get('/openapi.json')).body;
      expect(doc.paths['/collect'].servers).toEqual([{ url: 'https://collector.example.com:8443/base', description: 'collector' }]);
      const csp = (await h.http.get('/docs')).headers['content-security-policy'] as string;
      expect(csp).toContain("connect-src 'self' https://collector.example.com:8443");
      expect(csp).not.toContain('/base');
    } finally {
      await h.close();
    }
  });
});
