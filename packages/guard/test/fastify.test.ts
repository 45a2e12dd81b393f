import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { accessTokenHook, fastifyGuard } from '../src/fastify.js';
import { runAdapterCases } from './helpers/cases.js';
import { TestIssuer } from './helpers/issuer.js';

runAdapterCases('fastify plugin', async ({ verifier, down }) => {
  const app = Fastify();
  await app.register(async (scope) => {
    await scope.register(fastifyGuard, { verifier, scopes: 'collect', realm: 'collector' });
    scope.route({ method: ['GET', 'POST'], url: '/collect', handler: async (request) => ({ claims: request.auth?.claims, tokenLength: request.auth?.token.length }) });
  });
  await app.register(async (scope) => {
    await scope.register(fastifyGuard, { verifier: down, realm: 'collector' });
    scope.get('/down', async () => ({}));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
});

runAdapterCases('fastify route hook', async ({ verifier, down }) => {
  const app = Fastify();
  app.route({
    method: ['GET', 'POST'],
    url: '/collect',
    preHandler: accessTokenHook({ verifier, scopes: 'collect', realm: 'collector' }),
    handler: async (request) => ({ claims: request.auth?.claims, tokenLength: request.auth?.token.length }),
  });
  app.get('/down', { preHandler: accessTokenHook({ verifier: down, realm: 'collector' }) }, async () => ({}));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app.server;
});

describe('fastifyGuard', () => {
  it('protects only the context it is registered in', async () => {
    const issuer = await TestIssuer.start();
    const app = Fastify();
    app.get('/public', async () => ({ open: true }));
    await app.register(async (scope) => {
      await scope.register(fastifyGuard, { issuer: issuer.url, audience: 'collector' });
      scope.get('/private', async (request) => ({ sub: request.auth?.claims.sub }));
    });
    expect((await app.inject({ url: '/public' })).statusCode).toBe(200);
    const denied = await app.inject({ url: '/private' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="collector", DPoP algs="ES256 ES384 EdDSA RS256 PS256"');
    const ok = await app.inject({ url: '/private', headers: { authorization: `Bearer ${await issuer.sign()}` } });
    expect(ok.json()).toEqual({ sub: 'client-1' });
    await app.close();
    await issuer.stop();
  });

  it('checks its options when registered', async () => {
    const app = Fastify();
    await expect(app.register(fastifyGuard, { issuer: 'nope', audience: 'a' }).ready()).rejects.toThrow(/"issuer"/);
    expect(() => accessTokenHook({ issuer: 'http://localhost:4000', audience: 'a', realm: 'a"b' })).toThrow(/"realm"/);
  });
});
