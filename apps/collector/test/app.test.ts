import { createServer, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { createVerifier, type Verifier, type VerifierOptions } from '@tessera/guard';
import type { DirectListener } from '@tessera/service-kit';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { badTokens } from '../../../packages/guard/test/helpers/attacks.js';
import { makeKey, TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { createApp } from '../src/app.js';

const config = { requiredScope: 'collect', trustProxy: false };

function build(issuer: TestIssuer, options: Partial<VerifierOptions> = {}) {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
  );
  const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600, ...options });
  const app = createApp({ config, verifier, logger, registry: new Registry() });
  return { app, verifier, logs: () => lines.join('') };
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('collector API', () => {
  let issuer: TestIssuer;
  let attacker: TestIssuer;
  let app: DirectListener;
  let logs: () => string;

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    attacker = await TestIssuer.start();
    ({ app, logs } = build(issuer));
  });

  afterAll(async () => {
    await issuer.stop();
    await attacker.stop();
  });

  it('GET /collect answers the verified claims', async () => {
    const token = await issuer.sign({ jti: 'jti-collect' });
    const res = await request(app).get('/collect').set(bearer(token)).expect(200);
    expect(res.body).toEqual({
      message: 'collected',
      claims: expect.objectContaining({ iss: issuer.url, aud: 'collector', jti: 'jti-collect', client_id: 'client-1', scope: 'collect' }),
    });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers 401 with a bare Bearer challenge when no token is sent', async () => {
    const res = await request(app).get('/collect').expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="collector", DPoP algs="ES256 ES384 EdDSA RS256 PS256"');
    expect(res.headers['www-authenticate']).not.toContain('error');
  });

  it('answers 403 insufficient_scope when the collect scope is missing', async () => {
    const res = await request(app).get('/collect').set(bearer(await issuer.sign({ scope: 'read' }))).expect(403);
    expect(res.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(res.headers['www-authenticate']).toContain('scope="collect"');
    expect(res.body.error).toBe('insufficient_scope');
  });

  it.each(['Basic Y2xpZW50OnNlY3JldA==', 'Bearer', 'Bearer a.b.c d.e.f'])('answers 400 invalid_request to "%s"', async (header) => {
    const res = await request(app).get('/collect').set('Authorization', header).expect(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('answers 400 when the token is in the header and the query', async () => {
    const token = await issuer.sign();
    await request(app).get(`/collect?access_token=${token}`).set(bearer(token)).expect(400);
  });

  it.each(badTokens)('answers 401 invalid_token to: $name', async ({ make, description }) => {
    const token = await make(issuer, attacker);
    const res = await request(app).get('/collect').set(bearer(token)).expect(401);
    expect(res.body).toEqual({ error: 'invalid_token', error_description: expect.stringMatching(description) });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="invalid_token", error_description="[^"]+", DPoP algs="[^"]+"$/);
    expect(res.text).not.toContain(token);
  });

  it('serves /healthz and a JSON 404', async () => {
    await request(app).get('/healthz').expect(200, { status: 'ok' });
    const res = await request(app).get('/nope').expect(404);
    expect(res.body).toEqual({ error: 'not_found', error_description: expect.any(String) });
  });

  it('reads and ignores a body within 16 KiB, refuses a bigger one with 413 (with and without Content-Length)', async () => {
    const token = await issuer.sign();
    await request(app).get('/collect').set(bearer(token)).set('Content-Type', 'text/plain').send('x'.repeat(16 * 1024)).expect(200);
    const big = await request(app).get('/collect').set(bearer(token)).set('Content-Type', 'text/plain').send('x'.repeat(16 * 1024 + 1)).expect(413);
    expect(big.body).toEqual({ error: 'invalid_request', error_description: 'the body is too large (16 KiB at most)' });
    const chunked = await new Promise<number>((resolve, reject) => {
      const server = createServer(app).listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        const req = httpRequest({ port, host: '127.0.0.1', path: '/collect', method: 'GET', headers: { ...bearer(token), 'Transfer-Encoding': 'chunked' } }, (res) => {
          res.resume();
          server.close();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('x'.repeat(10 * 1024));
        req.end('y'.repeat(10 * 1024));
      });
    });
    expect(chunked).toBe(413);
  });

  it('never logs a token', async () => {
    const token = await issuer.sign();
    await request(app).get('/collect').set(bearer(token)).expect(200);
    await request(app).get(`/collect?access_token=${token}`).expect(400);
    expect(logs()).toContain('"route":"/collect"');
    expect(logs()).not.toContain(token);
    expect(logs()).not.toContain(token.split('.')[2]);
  });
});

describe('GET /metrics', () => {
  it('publishes request counts, latency, JWKS counters and process metrics', async () => {
    const issuer = await TestIssuer.start();
    const { app } = build(issuer);
    await request(app).get('/collect').set(bearer(await issuer.sign())).expect(200);
    await request(app).get('/collect').set(bearer(await issuer.sign())).expect(200);
    await request(app).get('/collect').set(bearer(await issuer.sign({}, { key: await makeKey() }))).expect(401);
    await request(app).get('/nope').expect(404);
    const res = await request(app).get('/metrics').expect(200);
    await issuer.stop();

    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('http_requests_total{method="GET",route="/collect",status="200"} 2');
    expect(res.text).toContain('http_requests_total{method="GET",route="/collect",status="401"} 1');
    expect(res.text).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/collect",status="200"\} 2/);
    expect(issuer.requests.jwks).toBe(1);
    expect(res.text).toContain('jwks_fetches_total 1');
    expect(res.text).toContain('jwks_fetch_errors_total 0');
    expect(res.text).toContain('jwks_cache_misses_total 1');
    expect(res.text).toContain('jwks_keys 1');
    expect(res.text).toContain('process_cpu_user_seconds_total');
  });
});

describe('signing key availability', () => {
  const issuers: TestIssuer[] = [];
  afterEach(async () => {
    await Promise.all(issuers.splice(0).map((issuer) => issuer.stop()));
  });

  async function startIssuer(): Promise<TestIssuer> {
    const issuer = await TestIssuer.start();
    issuers.push(issuer);
    return issuer;
  }

  it('keeps answering 200 with cached keys while the issuer is down, then picks up new keys', async () => {
    const issuer = await startIssuer();
    const { app } = build(issuer, { cooldown: 0 });
    const token = await issuer.sign();
    await request(app).get('/collect').set(bearer(token)).expect(200);

    await issuer.stop();
    await request(app).get('/collect').set(bearer(token)).expect(200);
    await request(app).get('/collect').set(bearer(await issuer.sign())).expect(200);

    issuer.keys = [await makeKey()];
    await issuer.start();
    await request(app).get('/collect').set(bearer(await issuer.sign())).expect(200);
  });

  it('starts while the issuer is down: 503 with Retry-After, then 200 once it is up', async () => {
    const issuer = await startIssuer();
    await issuer.stop();
    const { app, verifier } = build(issuer, { cooldown: 0 });
    expect(await verifier.refreshKeys()).toBe(false);

    const token = await issuer.sign();
    const res = await request(app).get('/collect').set(bearer(token)).expect(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    await request(app).get('/healthz').expect(200);

    await issuer.start();
    await request(app).get('/collect').set(bearer(token)).expect(200);
  });
});

describe('error handling', () => {
  it('answers 500 without a stack when something unexpected breaks', async () => {
    const broken: Verifier = {
      issuer: 'http://localhost:4000',
      audience: 'collector',
      stats: { fetches: 0, fetchErrors: 0, cacheMisses: 0, keys: 0 },
      refreshKeys: async () => false,
      verify: async () => {
        throw new Error('database exploded at /secret/path.ts:12');
      },
    };
    const app = createApp({ config, verifier: broken, logger: pino({ level: 'silent' }), registry: new Registry() });
    const res = await request(app).get('/collect').set('Authorization', 'Bearer a.b.c').expect(500);
    expect(res.body).toEqual({ error: 'server_error', error_description: 'the server could not handle the request' });
    expect(res.text).not.toMatch(/exploded|secret|\.ts/);
  });
});
