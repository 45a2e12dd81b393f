import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier, type Verifier } from '@tessera/guard';
import { createLogger, type DirectListener } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { dpopKey, proof, type DpopKey } from '../../../test/support/dpop.js';
import { createApp, type AppDeps } from '../src/app.js';
import { parseRoutes } from '../src/routes.js';

/** The second challenge of every 401/403 (DPOP=allowed, RFC 9449 §7.1). */
const DPOP = 'DPoP algs="ES256 ES384 EdDSA RS256 PS256"';

let issuer: TestIssuer;
let verifier: Verifier;

const logger = createLogger({ service: 'forward-auth', level: 'silent' });

function appWith(config: Partial<AppDeps['config']>, own: Verifier = verifier): DirectListener {
  return createApp({
    config: { audience: undefined, requiredScopes: [], routes: undefined, trustProxy: false, ...config },
    verifier: own,
    logger,
    registry: new Registry(),
  });
}

beforeAll(async () => {
  issuer = await TestIssuer.start();
  verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
});

afterAll(() => issuer.stop());

const bearer = async (claims: Record<string, unknown> = {}, audience = 'collector') => `Bearer ${await issuer.sign(claims, { audience })}`;

describe('/verify with AUDIENCE and REQUIRED_SCOPE', () => {
  let app: DirectListener;
  beforeAll(() => {
    app = appWith({ audience: 'collector', requiredScopes: ['collect'] });
  });

  it('answers 200 with the identity headers for a good token', async () => {
    const res = await request(app)
      .get('/verify')
      .set('Authorization', await bearer({ sub: 'svc-1', client_id: 'client-9', scope: 'collect  read', aud: ['collector', 'other'] }))
      .expect(200);
    expect(res.headers).toMatchObject({
      'x-auth-subject': 'svc-1',
      'x-auth-client-id': 'client-9',
      'x-auth-scope': 'collect read',
      'x-auth-audience': 'collector other',
      'cache-control': 'no-store',
    });
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'])('answers %s on /verify and under /verify/ alike', async (method) => {
    const auth = await bearer();
    for (const path of ['/verify', '/verify/some/original/path?x=1']) {
      const res = await request(app)[method.toLowerCase() as 'get'](path).set('Authorization', auth);
      expect(res.status).toBe(200);
      expect(res.headers['x-auth-subject']).toBe('client-1');
    }
  });

  it('answers 401 with a bare challenge when there is no token', async () => {
    const res = await request(app).get('/verify').expect(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="collector", ${DPOP}`);
    expect(res.headers['x-auth-subject']).toBeUndefined();
  });

  it('answers 401 invalid_token for a bad or foreign-audience token', async () => {
    const expired = await request(app).get('/verify').set('Authorization', await bearer({ exp: 1 })).expect(401);
    expect(expired.headers['www-authenticate']).toBe(`Bearer realm="collector", error="invalid_token", error_description="the access token has expired", ${DPOP}`);
    const foreign = await request(app).get('/verify').set('Authorization', await bearer({}, 'billing')).expect(401);
    expect(foreign.body).toEqual({ error: 'invalid_token', error_description: 'the access token is not intended for this audience' });
  });

  it('answers 403 insufficient_scope naming REQUIRED_SCOPE', async () => {
    const res = await request(app).get('/verify').set('Authorization', await bearer({ scope: 'read' })).expect(403);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="insufficient_scope", error_description="[^"]+", scope="collect", DPoP algs="[^"]+"$/);
  });

  it('answers 400 invalid_request for a malformed Authorization header', async () => {
    const res = await request(app).get('/verify').set('Authorization', 'Basic abc').expect(400);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="invalid_request"/);
  });

  it('answers 401 invalid_token for a token whose claims cannot travel in a header', async () => {
    const res = await request(app).get('/verify').set('Authorization', await bearer({ sub: 'line\r\nX-Evil: 1' })).expect(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it('answers 503 with Retry-After while no keys were ever fetched', async () => {
    const down = await TestIssuer.start();
    await down.stop();
    const unavailable = appWith({ audience: 'collector', requiredScopes: ['collect'] }, createVerifier({ issuer: down.url, audience: 'collector' }));
    const res = await request(unavailable).get('/verify').set('Authorization', `Bearer ${await down.sign()}`).expect(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.body.error).toBe('temporarily_unavailable');
  });

  it('serves /healthz, /metrics and a JSON 404', async () => {
    await request(app).get('/healthz').expect(200, { status: 'ok' });
    await request(app).get('/verify').set('Authorization', await bearer());
    const metrics = await request(app).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/http_requests_total\{method="GET",route="\/verify",status="200"\} [1-9]/);
    expect(metrics.text).toMatch(/jwks_fetches_total [1-9]/);
    const missing = await request(app).get('/nope').expect(404);
    expect(missing.body.error).toBe('not_found');
  });
});

describe('/verify with ROUTES_FILE rules, behind a trusted proxy', () => {
  let app: DirectListener;
  beforeAll(() => {
    const routes = parseRoutes(
      {
        routes: [
          { prefix: '/api', audience: 'collector', scopes: ['read'] },
          { prefix: '/api/admin', audience: 'collector', scopes: ['admin'] },
          { prefix: '/api/admin', methods: ['GET'], audience: 'collector', scopes: ['admin:read'] },
          { prefix: '/billing', methods: ['GET'], audience: 'billing' },
        ],
      },
      undefined,
    );
    app = appWith({ routes, trustProxy: 'loopback' });
  });

  const check = async (method: string, uri: string, claims: Record<string, unknown> = {}, audience = 'collector') =>
    request(app)
      .get('/verify')
      .set('X-Forwarded-Method', method)
      .set('X-Forwarded-Uri', uri)
      .set('Authorization', await bearer(claims, audience));

  it('lets the longest prefix win', async () => {
    expect((await check('POST', '/api/x', { scope: 'read' })).status).toBe(200);
    expect((await check('POST', '/api/admin/x', { scope: 'read' })).status).toBe(403);
    const admin = await check('POST', '/api/admin/x', { scope: 'admin' });
    expect(admin.status).toBe(200);
    expect(admin.headers['x-auth-scope']).toBe('admin');
  });

  it('matches the method, and never falls back to a shorter prefix', async () => {
    expect((await check('GET', '/api/admin', { scope: 'admin:read' })).status).toBe(200);
    expect((await check('GET', '/api/admin', { scope: 'admin' })).status).toBe(403);
    expect((await check('POST', '/billing', {}, 'billing')).status).toBe(403);
    expect((await check('GET', '/billing/invoices', {}, 'billing')).status).toBe(200);
  });

  it('takes the method from X-Original-Method too', async () => {
    const res = await request(app)
      .post('/verify')
      .set('X-Original-Method', 'GET')
      .set('X-Original-URI', '/api/admin')
      .set('Authorization', await bearer({ scope: 'admin:read' }));
    expect(res.status).toBe(200);
  });

  it('checks the audience of the matched rule', async () => {
    const res = await check('GET', '/billing', {}, 'collector');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="billing", error="invalid_token"/);
  });

  it('answers 403 when no rule matches, at a segment boundary', async () => {
    const res = await check('GET', '/apix', { scope: 'read admin' });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="forward-auth", error="insufficient_scope", error_description="no route rule allows this request", ${DPOP}`);
    expect((await check('GET', '/', { scope: 'read' })).status).toBe(403);
  });

  it('checks the token first: none or bad is 401 even where no rule matches', async () => {
    const none = await request(app).get('/verify').set('X-Forwarded-Uri', '/nothing-here');
    expect(none.status).toBe(401);
    const bad = await request(app).get('/verify').set('X-Forwarded-Uri', '/nothing-here').set('Authorization', 'Bearer a.b.c');
    expect(bad.status).toBe(401);
    const foreign = await check('GET', '/nothing-here', {}, 'unknown-audience');
    expect(foreign.status).toBe(401);
  });

  it('removes dot segments and decodes once before matching', async () => {
    expect((await check('GET', '/api/../api/admin/x', { scope: 'read' })).status).toBe(403);
    expect((await check('GET', '/api/%2e%2e/billing', {}, 'billing')).status).toBe(200);
    expect((await check('GET', '/%61pi/admin', { scope: 'read' })).status).toBe(403);
    expect((await check('GET', '//api//admin', { scope: 'read' })).status).toBe(403);
  });

  it.each(['/api%2Fadmin', '/api%2fadmin/x', '/api\\admin', '/api/%5Cadmin', '/api/%zz', 'api/x', '/api/\u00e9'])(
    'answers 400 invalid_request to the original path %s',
    async (uri) => {
      const res = await request(app).get('/verify').set('X-Forwarded-Uri', uri).set('Authorization', await bearer({ scope: 'read admin' }));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    },
  );

  it('refuses a token in the original query, as the guard does', async () => {
    const res = await check('GET', '/api/x?access_token=abc', { scope: 'read' });
    expect(res.status).toBe(400);
  });

  it('takes the original path from under /verify/ (Envoy path_prefix) when no X-Forwarded-Uri is sent', async () => {
    const auth = await bearer({ scope: 'read' });
    expect((await request(app).get('/verify/api/x?y=1').set('Authorization', auth)).status).toBe(200);
    expect((await request(app).get('/verify/api/admin').set('Authorization', auth)).status).toBe(403);
  });

  it('answers 403 when the original URI is unknown', async () => {
    const res = await request(app).get('/verify').set('Authorization', await bearer({ scope: 'read admin' }));
    expect(res.status).toBe(403);
    expect(res.body.error_description).toMatch(/original URI is unknown/);
  });

  it('answers 400 to malformed forwarded headers from the trusted proxy', async () => {
    const auth = await bearer({ scope: 'read' });
    for (const [name, value] of [
      ['X-Forwarded-Proto', 'gopher'],
      ['X-Forwarded-Host', 'a b'],
      ['X-Forwarded-Method', 'G E T'],
      ['X-Forwarded-Uri', 'http://elsewhere/api'],
    ] as const) {
      const res = await request(app).get('/verify').set('X-Original-URI', '/api/x').set(name, value).set('Authorization', auth);
      expect(res.status, `${name}: ${value}`).toBe(400);
    }
    const disagree = await request(app).get('/verify').set('X-Forwarded-Uri', '/api/x').set('X-Original-URI', '/api/admin').set('Authorization', auth);
    expect(disagree.status).toBe(400);
  });
});

describe('/verify from an untrusted peer', () => {
  it('ignores forwarded headers: a forged X-Forwarded-Uri or method gains nothing', async () => {
    const routes = parseRoutes({ routes: [{ prefix: '/public', audience: 'collector' }, { prefix: '/admin', audience: 'collector', scopes: ['admin'] }] }, undefined);
    const app = appWith({ routes, trustProxy: false });
    const auth = await bearer({ scope: 'read' });
    const forged = await request(app).get('/verify').set('X-Forwarded-Uri', '/public/x').set('X-Original-URI', '/public/x').set('Authorization', auth);
    expect(forged.status).toBe(403);
    const envoy = await request(app).get('/verify/admin').set('X-Forwarded-Uri', '/public/x').set('Authorization', auth);
    expect(envoy.status).toBe(403);
    const trusting = appWith({ routes, trustProxy: 'loopback' });
    expect((await request(trusting).get('/verify').set('X-Forwarded-Uri', '/public/x').set('Authorization', auth)).status).toBe(200);
  });
});

describe('/verify with DPoP: the proof is checked against the ORIGINAL request, never /verify', () => {
  let app: DirectListener;
  let key: DpopKey;
  beforeAll(async () => {
    key = await dpopKey();
    app = appWith({ audience: 'collector', requiredScopes: ['collect'], trustProxy: 'loopback' });
  });

  const original = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com', 'X-Forwarded-Method': 'PUT', 'X-Forwarded-Uri': '/items/7?v=1' };
  async function bound(): Promise<string> {
    return issuer.sign({ cnf: { jkt: key.jkt } });
  }

  it('passes a bound token with a proof for the original method and URL, and refuses the same proof again', async () => {
    const token = await bound();
    const dpop = await proof(key, { htm: 'PUT', htu: 'https://api.example.com/items/7', accessToken: token });
    const first = await request(app).get('/verify').set(original).set('Authorization', `DPoP ${token}`).set('DPoP', dpop);
    expect(first.status).toBe(200);
    expect(first.headers['x-auth-subject']).toBe('client-1');
    const replay = await request(app).get('/verify').set(original).set('Authorization', `DPoP ${token}`).set('DPoP', dpop);
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toMatch(/^Bearer realm="collector", DPoP algs="[^"]+", error="invalid_dpop_proof", error_description="[^"]+"$/);
  });

  it('refuses a proof for the /verify URL or for the check request method', async () => {
    const token = await bound();
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const [htm, htu] of [
        ['GET', `http://127.0.0.1:${port}/verify`],
        ['GET', 'https://api.example.com/items/7'],
      ] as const) {
        const res = await fetch(`http://127.0.0.1:${port}/verify`, {
          headers: { ...original, Authorization: `DPoP ${token}`, DPoP: await proof(key, { htm, htu, accessToken: token }) },
        });
        expect(res.status, `${htm} ${htu}`).toBe(401);
        expect(((await res.json()) as { error: string }).error).toBe('invalid_dpop_proof');
      }
    } finally {
      server.close();
    }
  });

  it('takes the htu from the check request itself when the peer is not trusted', async () => {
    const untrusting = appWith({ audience: 'collector', requiredScopes: ['collect'], trustProxy: false });
    const token = await bound();
    const forged = await proof(key, { htm: 'PUT', htu: 'https://api.example.com/items/7', accessToken: token });
    const res = await request(untrusting).put('/verify').set(original).set('Authorization', `DPoP ${token}`).set('DPoP', forged);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_dpop_proof');
  });

  it('refuses Bearer tokens with DPOP=required, with the DPoP challenge alone', async () => {
    const strict = appWith({ audience: 'collector', requiredScopes: ['collect'], dpop: 'required' });
    const res = await request(strict).get('/verify').set('Authorization', await bearer());
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
  });
});
