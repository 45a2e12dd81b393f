import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { buildTestDeps, openStore, TestClock, type TestStore } from './harness.js';
import { testKey, type TestAlg, type TestKey } from './support/assertions.js';

const listen = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const close = (server: Server) => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
};

/** openid-client v6 (a real, independent RFC 7523 client) against a running auth server on port 0. */
describe('openid-client PrivateKeyJwt against the running auth server', () => {
  const clock = new TestClock();
  let testStore: TestStore;
  let authServer: Server;
  let keyServer: Server;
  let keyServerHits = 0;
  let keyServerUrl: string;
  let issuer: string;
  let adminToken: string;
  const served: TestKey[] = [];

  const register = async (body: Record<string, unknown>) => {
    const res = await fetch(`${issuer}/admin/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'openid-client', scopes: ['collect'], audiences: ['collector'], token_endpoint_auth_method: 'private_key_jwt', ...body }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { client_id: string; client_secret?: string };
  };

  const grant = async (clientId: string, key: TestKey) => {
    clock.ms = Date.now();
    const config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    return oidc.clientCredentialsGrant(config, { scope: 'collect', resource: 'collector' });
  };

  beforeAll(async () => {
    keyServer = createServer((_req, res) => {
      keyServerHits++;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300' }).end(JSON.stringify({ keys: served.map((k) => k.publicJwk) }));
    });
    keyServerUrl = await listen(keyServer);
    authServer = createServer();
    issuer = await listen(authServer);
    testStore = await openStore('redis', clock);
    const { deps, admin } = await buildTestDeps(testStore, clock, { ISSUER: issuer });
    authServer.on('request', createApp(deps).public);
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${admin.clientId}:${admin.secret}`)}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    adminToken = ((await res.json()) as { access_token: string }).access_token;
    served.push(await testKey('ES256'));
  });
  afterAll(async () => {
    await close(authServer);
    await close(keyServer);
    await testStore.store.close();
  });

  it.each<TestAlg>(['ES256', 'EdDSA', 'RS256', 'PS256'])('gets a token with a %s key registered by value', async (alg) => {
    const key = await testKey(alg);
    const client = await register({ jwks: { keys: [key.publicJwk] } });
    expect(client.client_secret).toBeUndefined();
    const tokens = await grant(client.client_id, key);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.access_token).toMatch(/^ey/);
    // the same client again: a fresh assertion (new jti) each time
    expect((await grant(client.client_id, key)).access_token).not.toBe(tokens.access_token);
  });

  it('gets a token with a key served from a jwks_uri on a real HTTP server', async () => {
    const client = await register({ jwks_uri: `${keyServerUrl}/jwks.json` });
    const tokens = await grant(client.client_id, served[0]!);
    expect(tokens.access_token).toMatch(/^ey/);
    expect(keyServerHits).toBe(1);
  });

  it('answers openid-client with invalid_client when the key is not the registered one', async () => {
    const registered = await testKey('ES256');
    const other = await testKey('ES256', registered.kid);
    const client = await register({ jwks: { keys: [registered.publicJwk] } });
    const error = await grant(client.client_id, other).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(oidc.ResponseBodyError);
    expect(error).toMatchObject({ error: 'invalid_client', status: 401, error_description: expect.stringMatching(/\(signature\)/) });
  });
});
