import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenClient, type TokenClientOptions } from '../src/index.js';
import { recordingFetch, startAuthServer, type AuthServer } from './helpers/auth-server.js';

describe('clientAssertion options', () => {
  const base = { issuer: 'http://localhost:4000', clientId: 'svc' };

  it('takes exactly one of clientSecret and clientAssertion', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    expect(() => createTokenClient({ ...base, clientSecret: 's3cret', clientAssertion: { privateKey } })).toThrow(
      /^"clientSecret" and "clientAssertion" are exclusive/,
    );
    expect(() => createTokenClient(base as TokenClientOptions)).toThrow(/^"clientSecret" must be a non-empty string \(or give clientAssertion instead\)/);
    expect(() => createTokenClient({ ...base, clientAssertion: { privateKey }, authMethod: 'client_secret_post' })).toThrow(/^"authMethod" applies to clientSecret only/);
    expect(() => createTokenClient({ ...base, clientAssertion: { privateKey } })).not.toThrow();
  });

  it.each<[string, () => Promise<unknown>, RegExp]>([
    ['a public key', async () => ({ privateKey: (await generateKeyPair('ES256')).publicKey }), /^"clientAssertion\.privateKey" must be a private/],
    ['a public JWK', async () => ({ privateKey: await exportJWK((await generateKeyPair('ES256')).publicKey) }), /^"clientAssertion\.privateKey"/],
    ['a secret', async () => ({ privateKey: 'secret' }), /^"clientAssertion\.privateKey"/],
    ['a P-521 key', async () => ({ privateKey: generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey }), /^"clientAssertion\.privateKey"/],
    ['alg HS256', async () => ({ privateKey: (await generateKeyPair('ES256')).privateKey, alg: 'HS256' }), /^"clientAssertion\.alg" must be ES256, ES384/],
    ['an alg the key cannot sign', async () => ({ privateKey: (await generateKeyPair('ES256')).privateKey, alg: 'RS256' }), /^"clientAssertion\.alg" must be an alg the key can sign with \(ES256\)/],
    ['an empty kid', async () => ({ privateKey: (await generateKeyPair('ES256')).privateKey, kid: '' }), /^"clientAssertion\.kid"/],
    ['not an object', async () => 'key', /^"clientAssertion" must be an object/],
  ])('refuses %s with a TypeError naming the option', async (_name, make, message) => {
    const clientAssertion = (await make()) as TokenClientOptions['clientAssertion'];
    expect(() => createTokenClient({ ...base, clientAssertion })).toThrow(TypeError);
    expect(() => createTokenClient({ ...base, clientAssertion })).toThrow(message);
  });
});

describe('clientAssertion against a real auth server', () => {
  let server: AuthServer;
  beforeAll(async () => {
    server = await startAuthServer({ ACCESS_TOKEN_TTL: '60' });
  });
  afterAll(() => server?.close());

  it.each(['ES256', 'EdDSA', 'PS256'] as const)('gets tokens with a %s key and signs a fresh assertion for every request', async (alg) => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `k-${alg}`;
    const client = await server.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid }] } });
    const recorder = recordingFetch();
    const tokens = createTokenClient({
      issuer: server.issuer,
      clientId: client.client_id,
      clientAssertion: { privateKey, kid },
      clock: server.clock.now,
      fetch: recorder.fetch,
    });
    const first = await tokens.getAccessToken();
    tokens.invalidate();
    const second = await tokens.getAccessToken();
    expect(second).not.toBe(first);
    const assertions = recorder.calls.filter((c) => c.url.endsWith('/token')).map((c) => c.assertion!);
    expect(assertions).toHaveLength(2);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
    const claims = assertions.map((a) => decodeJwt(a));
    expect(claims[0]!.jti).not.toBe(claims[1]!.jti);
    for (const [i, c] of claims.entries()) {
      expect(c).toMatchObject({ iss: client.client_id, sub: client.client_id, aud: server.issuer });
      expect(c.exp! - c.iat!).toBe(60);
      expect(decodeProtectedHeader(assertions[i]!)).toEqual({ alg, kid });
    }
    for (const call of recorder.calls) expect(call.authorization).toBeNull();
  });

  it('signs with a private JWK (the alg taken from the key)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const client = await server.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'jwk-1' }] } });
    const tokens = createTokenClient({ issuer: server.issuer, clientId: client.client_id, clientAssertion: { privateKey: await exportJWK(privateKey) }, clock: server.clock.now });
    expect(await tokens.getAccessToken()).toMatch(/^ey/);
  });
});
