import { once } from 'node:events';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, requireAccessToken, type RequireAccessTokenOptions } from '../src/index.js';
import { runAdapterCases } from './helpers/cases.js';
import { TestIssuer } from './helpers/issuer.js';

let issuer: TestIssuer;
let app: Express;

function appWith(options: RequireAccessTokenOptions): Express {
  const server = express();
  server.use(express.json());
  server.all('/collect', requireAccessToken(options), (req, res) => {
    res.json({ claims: req.auth?.claims, tokenLength: req.auth?.token.length });
  });
  return server;
}

beforeAll(async () => {
  issuer = await TestIssuer.start();
  const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
  app = appWith({ verifier, scopes: 'collect' });
});

afterAll(() => issuer.stop());

describe('requireAccessToken', () => {
  it('puts the verified claims on req.auth', async () => {
    const token = await issuer.sign({ jti: 'j-1' });
    const res = await request(app).get('/collect').set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body).toMatchObject({ claims: { jti: 'j-1', client_id: 'client-1' }, tokenLength: token.length });
  });

  it('accepts the scheme in any case', async () => {
    await request(app).get('/collect').set('Authorization', `bEaReR ${await issuer.sign()}`).expect(200);
  });

  it('answers 401 with a bare challenge when there is no token', async () => {
    const res = await request(app).get('/collect').expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="collector", DPoP algs="ES256 ES384 EdDSA RS256 PS256"');
    expect(res.body).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
  });

  it('answers 401 invalid_token without echoing the token', async () => {
    const token = await issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await request(app).get('/collect').set('Authorization', `Bearer ${token}`).expect(401);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="collector", error="invalid_token", error_description="the access token has expired", DPoP algs="ES256 ES384 EdDSA RS256 PS256"',
    );
    expect(res.body).toEqual({ error: 'invalid_token', error_description: 'the access token has expired' });
    expect(res.text).not.toContain(token);
  });

  it('answers 403 insufficient_scope with the required scope', async () => {
    const token = await issuer.sign({ scope: 'read' });
    const res = await request(app).get('/collect').set('Authorization', `Bearer ${token}`).expect(403);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="insufficient_scope", error_description="[^"]+", scope="collect", DPoP algs="[^"]+"$/);
    expect(res.body.error).toBe('insufficient_scope');
  });

  it.each([
    ['another scheme', 'Basic Y2xpZW50OnNlY3JldA=='],
    ['the scheme alone', 'Bearer'],
    ['an empty value', ''],
    ['two tokens', 'Bearer abc.def.ghi jkl.mno.pqr'],
    ['a token with invalid characters', 'Bearer abc,def'],
    ['a token with a quote', 'Bearer "abc"'],
  ])('answers 400 invalid_request for %s', async (_name, header) => {
    const res = await request(app).get('/collect').set('Authorization', header).expect(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="invalid_request", error_description="/);
  });

  it('answers 400 when the token is also sent in the query or the body', async () => {
    const token = await issuer.sign();
    await request(app).get(`/collect?access_token=${token}`).set('Authorization', `Bearer ${token}`).expect(400);
    await request(app).post('/collect').set('Authorization', `Bearer ${token}`).send({ access_token: token }).expect(400);
    const res = await request(app).get(`/collect?access_token=${token}`).expect(400);
    expect(res.body.error).toBe('invalid_request');
  });

  it('answers 400 to two Authorization headers', async () => {
    const token = await issuer.sign();
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const raw = await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `GET /collect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer other\r\nConnection: close\r\n\r\n`,
        );
      });
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    server.close();
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('invalid_request');
  });

  it('answers 503 with Retry-After while no keys can be obtained', async () => {
    const down = await TestIssuer.start();
    await down.stop();
    const unavailable = appWith({ issuer: down.url, audience: 'collector', realm: 'collector' });
    const res = await request(unavailable).get('/collect').set('Authorization', `Bearer ${await down.sign()}`).expect(503);
    expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  it('builds its own verifier from options, with the audience as default realm', async () => {
    const own = appWith({ issuer: issuer.url, audience: 'billing' });
    await request(own).get('/collect').set('Authorization', `Bearer ${await issuer.sign({}, { audience: 'billing' })}`).expect(200);
    const res = await request(own).get('/collect').expect(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="billing", DPoP algs="ES256 ES384 EdDSA RS256 PS256"');
  });

  it('checks its own options at construction', () => {
    expect(() => requireAccessToken({ issuer: 'nope', audience: 'a' })).toThrow(/"issuer" must be an absolute http\(s\) URL/);
    expect(() => requireAccessToken({ issuer: issuer.url, audience: 'a', realm: 'a"b' })).toThrow(/"realm"/);
    expect(() => requireAccessToken({ issuer: issuer.url, audience: 'a', scopes: ['has space'] })).toThrow(/"scopes"/);
  });
});

runAdapterCases('express', async ({ verifier, down }) => {
  const server = express();
  server.use(express.json());
  server.all('/collect', requireAccessToken({ verifier, scopes: 'collect', realm: 'collector' }), (req, res) => {
    res.json({ claims: req.auth?.claims, tokenLength: req.auth?.token.length });
  });
  server.all('/down', requireAccessToken({ verifier: down, realm: 'collector' }), (_req, res) => {
    res.json({});
  });
  const listening = server.listen(0, '127.0.0.1');
  await once(listening, 'listening');
  return listening;
});
