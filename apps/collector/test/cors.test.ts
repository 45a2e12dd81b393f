import { createVerifier } from '@tessera/guard';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { createApp } from '../src/app.js';

const DOCS = 'http://localhost:4000';
const OTHER = 'https://evil.example';

function build(issuer: TestIssuer, corsOrigins?: string[]) {
  const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
  return createApp({
    config: { requiredScope: 'collect', trustProxy: false, ...(corsOrigins ? { corsOrigins } : {}) },
    verifier,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
  });
}

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
  'access-control-expose-headers',
  'access-control-allow-credentials',
];

function corsHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => CORS_HEADERS.includes(name)));
}

const preflight = (app: ReturnType<typeof build>, origin: string) =>
  request(app)
    .options('/collect')
    .set('Origin', origin)
    .set('Access-Control-Request-Method', 'GET')
    .set('Access-Control-Request-Headers', 'authorization');

describe('collector CORS (CORS_ORIGINS)', () => {
  let issuer: TestIssuer;
  let token: string;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    token = await issuer.sign({});
  });
  afterAll(() => issuer.stop());

  describe('with CORS_ORIGINS listing the docs origin', () => {
    let app: ReturnType<typeof build>;
    beforeAll(() => {
      app = build(issuer, [DOCS, 'https://docs.example.com']);
    });

    it('answers a preflight from a listed origin: GET with an Authorization header, no credentials', async () => {
      const res = await preflight(app, DOCS).expect(204);
      expect(res.headers['access-control-allow-origin']).toBe(DOCS);
      expect(res.headers['access-control-allow-methods']).toBe('GET');
      expect(res.headers['access-control-allow-headers']?.toLowerCase()).toBe('authorization, dpop');
      expect(res.headers['access-control-max-age']).toBe('600');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(res.headers.vary).toMatch(/Origin/);
      expect(res.text).toBe('');
    });

    it('adds Access-Control-Allow-Origin for a listed origin on 200 and on 401', async () => {
      const ok = await request(app).get('/collect').set('Origin', DOCS).set('Authorization', `Bearer ${token}`).expect(200);
      expect(ok.body.message).toBe('collected');
      expect(ok.headers['access-control-allow-origin']).toBe(DOCS);
      expect(ok.headers['access-control-expose-headers']).toBe('WWW-Authenticate');
      expect(ok.headers.vary).toMatch(/Origin/);

      const other = await request(app).get('/collect').set('Origin', 'https://docs.example.com').expect(401);
      expect(other.headers['access-control-allow-origin']).toBe('https://docs.example.com');
      expect(other.headers['www-authenticate']).toBe('Bearer realm="collector", DPoP algs="ES256 ES384 EdDSA RS256 PS256"');
    });

    it('gives a disallowed origin no CORS header, on the request and on the preflight', async () => {
      const res = await request(app).get('/collect').set('Origin', OTHER).set('Authorization', `Bearer ${token}`).expect(200);
      expect(corsHeaders(res.headers)).toEqual({});
      expect(res.headers.vary).toMatch(/Origin/);

      const pre = await preflight(app, OTHER);
      expect(pre.status).not.toBe(204);
      expect(corsHeaders(pre.headers)).toEqual({});
    });

    it('matches origins exactly (scheme, host and port)', async () => {
      for (const origin of ['http://localhost:4001', 'https://localhost:4000', 'http://localhost', 'http://127.0.0.1:4000', 'null']) {
        const res = await preflight(app, origin);
        expect(corsHeaders(res.headers), origin).toEqual({});
      }
    });

    it('adds nothing to requests without an Origin, nor to the other routes', async () => {
      const res = await request(app).get('/collect').set('Authorization', `Bearer ${token}`).expect(200);
      expect(corsHeaders(res.headers)).toEqual({});
      for (const path of ['/healthz', '/metrics']) {
        expect(corsHeaders((await request(app).get(path).set('Origin', DOCS)).headers), path).toEqual({});
      }
    });
  });

  it('sends no CORS headers at all when CORS_ORIGINS is unset', async () => {
    for (const app of [build(issuer), build(issuer, [])]) {
      const pre = await preflight(app, DOCS);
      expect(pre.status).not.toBe(204);
      expect(corsHeaders(pre.headers)).toEqual({});
      const res = await request(app).get('/collect').set('Origin', DOCS).set('Authorization', `Bearer ${token}`).expect(200);
      expect(corsHeaders(res.headers)).toEqual({});
      expect(res.headers.vary ?? '').not.toMatch(/Origin/);
    }
  });
});
