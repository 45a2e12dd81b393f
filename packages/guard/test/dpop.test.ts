import { connect, type AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, redisDpopReplayStore, requireAccessToken, type RequireAccessTokenOptions, type Verifier } from '../src/index.js';
import { dpopKey, proof, type DpopKey } from '../../../test/support/dpop.js';
import { redisUrl, uniquePrefix } from '../../../test/support/redis.js';
import { TestIssuer } from './helpers/issuer.js';

const ALGS = 'DPoP algs="ES256 ES384 EdDSA RS256 PS256"';

let issuer: TestIssuer;
let verifier: Verifier;
let key: DpopKey;
let other: DpopKey;

function appWith(options: Partial<RequireAccessTokenOptions> = {}, setup: (app: Express) => void = () => {}): Express {
  const app = express();
  setup(app);
  const guard = requireAccessToken({ verifier, scopes: 'collect', ...options } as RequireAccessTokenOptions);
  app.all('/collect', guard, (req, res) => res.json({ claims: req.auth?.claims, scheme: req.auth?.scheme }));
  app.all('/other', guard, (_req, res) => res.json({ other: true }));
  const mounted = express.Router();
  mounted.get('/collect', guard, (req, res) => res.json({ claims: req.auth?.claims }));
  app.use('/api', mounted);
  return app;
}

/** Listens on port 0 so proofs can name the real URL; supertest then talks to that server. */
async function listen(app: Express): Promise<{ url: string; http: ReturnType<typeof request>; close: () => void }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, http: request(server), close: () => server.close() };
}

/** Sends a request exactly as written (supertest folds repeated headers into one). */
function raw(url: string, lines: string[]): Promise<string> {
  const { port } = new URL(url);
  return new Promise<string>((resolve, reject) => {
    let data = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

const bound = (jkt: string, extra: Record<string, unknown> = {}) => issuer.sign({ cnf: { jkt, ...extra } });

beforeAll(async () => {
  issuer = await TestIssuer.start();
  verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
  key = await dpopKey();
  other = await dpopKey('EdDSA');
});

afterAll(() => issuer.stop());

describe('guard: DPoP through the express glue', () => {
  let server: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    server = await listen(appWith());
  });
  afterAll(() => server.close());

  const get = (token: string, dpop?: string, path = '/collect') => {
    let req = server.http.get(path).set('Authorization', `DPoP ${token}`);
    if (dpop !== undefined) req = req.set('DPoP', dpop);
    return req;
  };

  it('accepts a bound token with a valid proof and returns the claims, cnf included', async () => {
    const token = await bound(key.jkt);
    const res = await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(200);
    expect(res.body).toMatchObject({ scheme: 'DPoP', claims: { cnf: { jkt: key.jkt }, client_id: 'client-1' } });
  });

  it('verifies every proof signature with a proof key it already imported, and keys it by the jwk header as sent', async () => {
    const token = await bound(key.jkt);
    const htu = `${server.url}/collect`;
    await get(token, await proof(key, { htm: 'GET', htu, accessToken: token })).expect(200);
    const good = await proof(key, { htm: 'GET', htu, accessToken: token });
    const [head, body] = good.split('.');
    const forged = `${head}.${body}.${(await proof(other, { htm: 'GET', htu, accessToken: token })).split('.')[2]}`;
    const res = await get(token, forged).expect(401);
    expect(res.headers['www-authenticate']).toContain('invalid_dpop_proof');
    const encUse = await proof(key, { htm: 'GET', htu, accessToken: token, header: { jwk: { ...key.publicJwk, use: 'enc' } } });
    await get(token, encUse).expect(401);
    await get(token, good).expect(200);
  });

  it('accepts extra cnf members next to jkt (express-oauth2-jwt-bearer #258)', async () => {
    const token = await bound(key.jkt, { 'x5t#S256': 'abc', kid: 'k1' });
    await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(200);
  });

  it('compares scheme and host case-insensitively and ignores query and fragment, but not the path case', async () => {
    const token = await bound(key.jkt);
    await get(token, await proof(key, { htm: 'GET', htu: `HTTP://127.0.0.1:${new URL(server.url).port}/collect?a=1#f`, accessToken: token })).expect(200);
    const res = await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/COLLECT`, accessToken: token })).expect(401);
    expect(res.body.error).toBe('invalid_dpop_proof');
  });

  it('takes the full path under a mount point as htu (node-oidc-provider)', async () => {
    const token = await bound(key.jkt);
    await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/api/collect`, accessToken: token }), '/api/collect').expect(200);
    await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token }), '/api/collect').expect(401);
  });

  it.each([
    ['a proof for another URL', async (t: string) => proof(key, { htm: 'GET', htu: `${server.url}/other`, accessToken: t }), /htu/],
    ['a proof for another method', async (t: string) => proof(key, { htm: 'POST', htu: `${server.url}/collect`, accessToken: t }), /htm/],
    ['an ath of another token', async () => proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: 'another-token' }), /ath/],
    ['no ath', async () => proof(key, { htm: 'GET', htu: `${server.url}/collect` }), /ath/],
    ['a proof key other than cnf.jkt (mcp-oauth #384)', async (t: string) => proof(other, { htm: 'GET', htu: `${server.url}/collect`, accessToken: t }), /key/],
    ['a stale iat', async (t: string) => proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: t, iat: Math.floor(Date.now() / 1000) - 120 }), /old/],
    ['an iat ahead', async (t: string) => proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: t, iat: Math.floor(Date.now() / 1000) + 60 }), /future/],
    ['garbage', async () => 'not-a-jws', /compact JWS/],
    ['a 9 KiB proof', async () => 'a'.repeat(9 * 1024), /longer/],
    ['typ JWT', async (t: string) => proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: t, header: { typ: 'JWT' } }), /typ/],
    ['a private key in jwk', async (t: string) => proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: t, header: { jwk: key.privateJwk } }), /private/],
  ])('answers 401 invalid_dpop_proof with the RFC 9449 challenge to %s', async (_name, make, description) => {
    const token = await bound(key.jkt);
    const res = await get(token, await make(token)).expect(401);
    expect(res.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(description) });
    expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="collector", ${ALGS}, error="invalid_dpop_proof", error_description="[^"]+"$`));
  });

  it('refuses a replayed proof (express-oauth2-jwt-bearer keeps no jti cache)', async () => {
    const token = await bound(key.jkt);
    const once = await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token });
    await get(token, once).expect(200);
    const res = await get(token, once).expect(401);
    expect(res.body.error_description).toMatch(/already used/);
  });

  it('never lets the verified-token cache skip the proof of a DPoP token', async () => {
    const token = await bound(key.jkt);
    const first = await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token });
    await get(token, first).expect(200);
    await get(token, first).expect(401);
    expect((await get(token).expect(401)).body.error).toBe('invalid_dpop_proof');
    await get(token, await proof(other, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(401);
    await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(200);
  });

  it('refuses a bound token without a proof, or with two DPoP headers (wso2 #19606)', async () => {
    const token = await bound(key.jkt);
    const missing = await get(token).expect(401);
    expect(missing.body).toEqual({ error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required' });
    const p = await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token });
    const host = new URL(server.url).host;
    const two = await raw(server.url, ['GET /collect HTTP/1.1', `Host: ${host}`, `Authorization: DPoP ${token}`, `DPoP: ${p}`, `DPoP: ${p}`]);
    expect(two).toMatch(/^HTTP\/1\.1 401 /);
    expect(two).toContain('exactly one DPoP header');
  });

  it('refuses a bound token presented as Bearer with invalid_token on the Bearer challenge', async () => {
    const token = await bound(key.jkt);
    const p = await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token });
    const res = await server.http.get('/collect').set('Authorization', `Bearer ${token}`).set('DPoP', p).expect(401);
    expect(res.body.error).toBe('invalid_token');
    expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="collector", error="invalid_token", error_description="[^"]*DPoP-bound[^"]*", ${ALGS}$`));
  });

  it('refuses an unbound token under the DPoP scheme with invalid_token', async () => {
    const token = await issuer.sign();
    const res = await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(401);
    expect(res.body).toEqual({ error: 'invalid_token', error_description: expect.stringMatching(/not DPoP-bound/) });
    expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="collector", ${ALGS}, error="invalid_token"`));
  });

  it('puts insufficient_scope on the DPoP challenge for a DPoP request', async () => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt }, scope: 'read' });
    const res = await get(token, await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token })).expect(403);
    expect(res.headers['www-authenticate']).toMatch(new RegExp(`^Bearer realm="collector", ${ALGS}, error="insufficient_scope", error_description="[^"]+", scope="collect"$`));
  });

  it('still accepts an unbound Bearer token, with both challenges on failures', async () => {
    await server.http.get('/collect').set('Authorization', `Bearer ${await issuer.sign()}`).expect(200);
    const res = await server.http.get('/collect').expect(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="collector", ${ALGS}`);
  });

  it('refuses a Host that smuggles a path into htu (express-oauth2-jwt-bearer #244)', async () => {
    const token = await bound(key.jkt);
    const p = await proof(key, { htm: 'GET', htu: 'http://victim.test/collect', accessToken: token });
    const res = await raw(server.url, ['GET /other HTTP/1.1', 'Host: victim.test/collect?', `Authorization: DPoP ${token}`, `DPoP: ${p}`]);
    expect(res).toMatch(/^HTTP\/1\.1 400 /);
    expect(res).not.toContain('"other":true');
  });

  it('ignores X-Forwarded-Host without trust proxy, and honours it with trust proxy', async () => {
    const token = await bound(key.jkt);
    const forged = () => proof(key, { htm: 'GET', htu: 'https://public.example/collect', accessToken: token });
    const res = await get(token, await forged()).set('X-Forwarded-Host', 'public.example').set('X-Forwarded-Proto', 'https').expect(401);
    expect(res.body.error_description).toMatch(/htu/);
    const proxied = await listen(appWith({}, (app) => app.set('trust proxy', 'loopback')));
    try {
      await proxied.http
        .get('/collect')
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', await forged())
        .set('X-Forwarded-Host', 'public.example')
        .set('X-Forwarded-Proto', 'https')
        .expect(200);
    } finally {
      proxied.close();
    }
  });

  it('answers 4xx, never 500, to malformed DPoP and Authorization headers', async () => {
    const token = await bound(key.jkt);
    for (const value of ['', '...', 'a.b.c', 'eyJ9.eyJ9.x', `${'e'.repeat(100)}.${'e'.repeat(100)}.${'e'.repeat(100)}`, '\u00ff\u00fe']) {
      const res = await get(token, value);
      expect(res.status, JSON.stringify(value)).toBe(401);
    }
    for (const header of ['DPoP', 'DPoP a b', `DPoP ${'x'.repeat(9000)}`, 'dpop ,,,']) {
      const res = await server.http.get('/collect').set('Authorization', header).set('DPoP', 'x');
      expect([400, 401], header.slice(0, 20)).toContain(res.status);
    }
  });
});

describe('guard: DPoP modes and shared replay store', () => {
  it('DPOP required: a Bearer token gets 401 with the DPoP challenge alone', async () => {
    const server = await listen(appWith({ dpop: 'required' }));
    try {
      const res = await server.http.get('/collect').set('Authorization', `Bearer ${await issuer.sign()}`).expect(401);
      expect(res.body.error).toBe('invalid_token');
      expect(res.headers['www-authenticate']).toMatch(new RegExp(`^${ALGS}, error="invalid_token", error_description="[^"]+"$`));
      const token = await bound(key.jkt);
      await server.http
        .get('/collect')
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', await proof(key, { htm: 'GET', htu: `${server.url}/collect`, accessToken: token }))
        .expect(200);
    } finally {
      server.close();
    }
  });

  it('DPoP disabled: only Bearer, and still refuses a bound token', async () => {
    const server = await listen(appWith({ dpop: 'disabled' }));
    try {
      const token = await bound(key.jkt);
      const res = await server.http.get('/collect').set('Authorization', `Bearer ${token}`).expect(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="invalid_token"/);
      expect(res.headers['www-authenticate']).not.toContain('DPoP algs');
      await server.http.get('/collect').set('Authorization', `DPoP ${token}`).expect(400);
    } finally {
      server.close();
    }
  });

  it('refuses the same proof at a second guard instance sharing the Redis replay store', async () => {
    const redis = new Redis(redisUrl());
    const prefix = uniquePrefix();
    const one = await listen(appWith({ dpopReplayStore: redisDpopReplayStore(redis, prefix) }));
    const two = express();
    const twoServer = await listen(
      (() => {
        two.get('/collect', requireAccessToken({ verifier, dpopReplayStore: redisDpopReplayStore(redis, prefix) }), (_req, res) => res.json({}));
        return two;
      })(),
    );
    try {
      const token = await bound(key.jkt);
      // both listen on 127.0.0.1 but on different ports: the proof names the first; forward it to the second as a proxy would
      const p = await proof(key, { htm: 'GET', htu: `${one.url}/collect`, accessToken: token });
      await one.http.get('/collect').set('Authorization', `DPoP ${token}`).set('DPoP', p).expect(200);
      const res = await twoServer.http.get('/collect').set('Host', new URL(one.url).host).set('Authorization', `DPoP ${token}`).set('DPoP', p).expect(401);
      expect(res.body.error_description).toMatch(/already used/);
      const fresh = await proof(key, { htm: 'GET', htu: `${one.url}/collect`, accessToken: token });
      await twoServer.http.get('/collect').set('Host', new URL(one.url).host).set('Authorization', `DPoP ${token}`).set('DPoP', fresh).expect(200);
    } finally {
      one.close();
      twoServer.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('checks its DPoP options at construction', () => {
    expect(() => requireAccessToken({ verifier, dpop: 'sometimes' as never })).toThrow(/"dpop"/);
    expect(() => requireAccessToken({ verifier, dpopReplayStore: {} as never })).toThrow(/"replayStore"/);
    expect(() => requireAccessToken({ verifier, dpopProofMaxAge: -1 })).toThrow(/"proofMaxAge"/);
  });
});
