import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparable, expressEntries } from '../../../test/support/direct-routes.js';
import { startHarness, type Harness } from './harness.js';

/**
 * The OAuth endpoints are served directly on node:http (the service kit's directRoutes) and, for every
 * other form of their path, by express: both must answer alike. `/token/` (a trailing slash) goes to
 * express's route, `/token` to the direct one; the same request to each must get the same status,
 * body and headers (but the ones that differ per request), the same access line and metrics.
 */
/** tokens differ per answer: compare that both sent one */
function withoutTokens(res: supertest.Response) {
  const compared = comparable(res, ['ratelimit']);
  const body = { ...(compared.body as Record<string, unknown>) };
  for (const name of ['access_token', 'refresh_token']) if (typeof body[name] === 'string') body[name] = 'a token';
  return { ...compared, body };
}

describe('OAuth endpoints served directly answer as express would', () => {
  let h: Harness;
  let client: { client_id: string; client_secret: string };
  beforeAll(async () => {
    h = await startHarness('redis', { RATE_LIMIT: '1000', AUTH_FAILURE_LIMIT: '1000' });
    client = await h.createClient({ grant_types: ['client_credentials', 'refresh_token'], scopes: ['collect', 'introspect'] });
  });
  afterAll(() => h.close());

  const big = 'x'.repeat(17 * 1024);
  const cases: [string, string, (r: supertest.Test, c: { client_id: string; client_secret: string }) => supertest.Test][] = [
    ['client_credentials', '/token', (r, c) => r.auth(c.client_id, c.client_secret).type('form').send({ grant_type: 'client_credentials', scope: 'collect' })],
    ['client_credentials as JSON', '/token', (r, c) => r.auth(c.client_id, c.client_secret).type('json').send({ grant_type: 'client_credentials' })],
    ['a wrong secret', '/token', (r, c) => r.auth(c.client_id, 'wrong').type('form').send({ grant_type: 'client_credentials' })],
    ['no credentials', '/token', (r) => r.type('form').send({ grant_type: 'client_credentials' })],
    ['an unsupported grant', '/token', (r, c) => r.auth(c.client_id, c.client_secret).type('form').send({ grant_type: 'password' })],
    ['a refresh token that is not one', '/token', (r, c) => r.auth(c.client_id, c.client_secret).type('form').send({ grant_type: 'refresh_token', refresh_token: 'x' })],
    ['a body of another type', '/token', (r) => r.type('text/plain').send('grant_type=client_credentials')],
    ['a body over 16 KiB', '/token', (r) => r.type('form').send(`grant_type=${big}`)],
    ['broken JSON', '/token', (r) => r.type('json').send('{"grant_type":')],
    ['a malformed DPoP header', '/token', (r, c) => r.auth(c.client_id, c.client_secret).set('DPoP', 'a.b.c').type('form').send({ grant_type: 'client_credentials' })],
    ['the seed refresh endpoint', '/token/refresh', (r, c) => r.auth(c.client_id, c.client_secret).type('json').send({ refresh_token: 'x' })],
    ['revocation', '/revoke', (r, c) => r.auth(c.client_id, c.client_secret).type('form').send({ token: 'x' })],
    ['introspection', '/introspect', (r, c) => r.auth(c.client_id, c.client_secret).type('form').send({ token: 'x' })],
    ['introspection without credentials', '/introspect', (r) => r.type('form').send({ token: 'x' })],
  ];

  it.each(cases)('%s', async (_name, path, send) => {
    const viaExpress = await send(h.http.post(`${path}/`), client);
    const direct = await send(h.http.post(path), client);
    expect(withoutTokens(direct)).toEqual(withoutTokens(viaExpress));
    expect(direct.headers['x-request-id']).toMatch(/^[\w.:-]+$/);
    if (viaExpress.headers.ratelimit) expect(direct.headers.ratelimit).toMatch(/^"requests"; r=\d+; t=\d+$/);
  });

  it('serves the exact path with a query string, and logs and counts it as the route', async () => {
    const before = h.logs.lines.length;
    const res = await h.http.post('/token?ignored=1').auth(client.client_id, client.client_secret).set('X-Request-Id', 'direct-1').type('form').send({ grant_type: 'client_credentials' });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('direct-1');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).toBeDefined();
    const line = h.logs.lines.slice(before).find((l) => l.req_id === 'direct-1' && l.msg === 'request');
    expect(line).toMatchObject({ method: 'POST', route: '/token', status: 200 });
    expect(await h.deps.metrics.registry.getSingleMetricAsString('http_requests_total')).toMatch(/route="\/token",method="POST",status="200"} \d+/);
  });

  it('serves the OAuth endpoints without entering express, and everything else through it', async () => {
    const entered = expressEntries(h.express);
    try {
      await h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials' }).expect(200);
      await h.http.post('/introspect').auth(client.client_id, client.client_secret).type('form').send({ token: 'x' }).expect(200);
      await h.http.post('/token/').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials' }).expect(200);
      await h.http.get('/healthz').expect(200);
      expect(entered.urls).toEqual(['/token/', '/healthz']);
    } finally {
      entered.stop();
    }
  });

  it('leaves every other method and path to express', async () => {
    expect((await h.http.get('/token')).status).toBe(404);
    expect((await h.http.get('/.well-known/oauth-authorization-server')).status).toBe(200);
    expect((await h.http.post('/TOKEN').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials' })).status).toBe(200);
  });
});
