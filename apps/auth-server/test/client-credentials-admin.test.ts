import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from '../../../test/support/redis.js';
import { startHarness, type Harness } from './harness.js';
import { testKey, type TestKey } from './support/assertions.js';

describe('secret overlap: POST /admin/clients/:id/secret {previous_secret_expires_in}', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('redis', { AUTH_FAILURE_LIMIT: '0' });
  });
  afterAll(() => h.close());

  const rotate = async (clientId: string, body?: object) =>
    h.http.post(`/admin/clients/${clientId}/secret`).set('Authorization', `Bearer ${await h.adminToken()}`).send(body);
  const works = async (client_id: string, client_secret: string) => (await h.clientCredentials({ client_id, client_secret })).status;

  it('keeps the previous secret valid for N seconds, then only the new one (injected clock)', async () => {
    const c = await h.createClient();
    const second = await rotate(c.client_id, { previous_secret_expires_in: 60 });
    expect(second.status).toBe(200);
    expect(second.body).toEqual({
      client_id: c.client_id,
      client_secret: expect.any(String),
      previous_secret_expires_at: new Date(h.clock.ms + 60_000).toISOString(),
    });
    expect(await works(c.client_id, c.client_secret)).toBe(200);
    expect(await works(c.client_id, second.body.client_secret)).toBe(200);
    h.clock.advance(59);
    expect(await works(c.client_id, c.client_secret)).toBe(200);
    h.clock.advance(2);
    expect(await works(c.client_id, c.client_secret)).toBe(401);
    expect(await works(c.client_id, second.body.client_secret)).toBe(200);
  });

  it('holds two valid secrets at most: a further rotation ends the older one at once', async () => {
    const c = await h.createClient();
    const second = await rotate(c.client_id, { previous_secret_expires_in: 600 });
    const third = await rotate(c.client_id, { previous_secret_expires_in: 600 });
    expect(await works(c.client_id, c.client_secret)).toBe(401);
    expect(await works(c.client_id, second.body.client_secret)).toBe(200);
    expect(await works(c.client_id, third.body.client_secret)).toBe(200);
    const view = await h.http.get(`/admin/clients/${c.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`);
    expect(view.body.previous_secret_expires_at).toBe(new Date(h.clock.ms + 600_000).toISOString());
    expect(JSON.stringify(view.body)).not.toContain(second.body.client_secret);
    expect(view.body).not.toHaveProperty('previous_secret_hash');
  });

  it('without the option every earlier secret stops at once, even inside an earlier overlap window', async () => {
    const c = await h.createClient();
    const second = await rotate(c.client_id, { previous_secret_expires_in: 600 });
    const third = await rotate(c.client_id);
    expect(third.body).not.toHaveProperty('previous_secret_expires_at');
    expect(await works(c.client_id, c.client_secret)).toBe(401);
    expect(await works(c.client_id, second.body.client_secret)).toBe(401);
    expect(await works(c.client_id, third.body.client_secret)).toBe(200);
  });

  it.each([0, 604_801, 1.5, '60', -1])('refuses previous_secret_expires_in %j with 400 naming the field', async (value) => {
    const c = await h.createClient();
    const res = await rotate(c.client_id, { previous_secret_expires_in: value });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/^previous_secret_expires_in: /) });
    expect(await works(c.client_id, c.client_secret)).toBe(200);
  });

  it('refuses a new secret for a private_key_jwt client (it has none)', async () => {
    const key = await testKey('ES256');
    const c = await h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    const res = await rotate(c.client_id);
    expect(res.status).toBe(400);
    expect(res.body.error_description).toMatch(/^token_endpoint_auth_method: /);
  });
});

describe('bad input to the private_key_jwt registration fields → 400 naming the field, nothing stored', () => {
  let h: Harness;
  let es: TestKey;
  let rsa: TestKey;
  beforeAll(async () => {
    h = await startHarness('memory');
    es = await testKey('ES256');
    rsa = await testKey('RS256');
  });
  afterAll(() => h.close());

  const base = { name: 'bad', scopes: ['collect'], audiences: ['collector'], token_endpoint_auth_method: 'private_key_jwt' };
  const cases: [string, () => Record<string, unknown>, RegExp][] = [
    ['a private EC key', () => ({ jwks: { keys: [es.privateJwk] } }), /^jwks\.keys\.0\.d: a private key member/],
    ['a private RSA key among public ones', () => ({ jwks: { keys: [es.publicJwk, { ...rsa.publicJwk, p: 'AQAB', q: 'AQAB' }] } }), /^jwks\.keys\.1\.p: /],
    ['a private member elsewhere in jwks', () => ({ jwks: { keys: [es.publicJwk], extra: { k: 'c2VjcmV0' } } }), /^jwks\.extra\.k: /],
    ['a symmetric key', () => ({ jwks: { keys: [{ kty: 'oct', kid: 'h', k: 'c2VjcmV0' }] } }), /^jwks\.keys\.0\.k: /],
    ['11 keys', () => ({ jwks: { keys: Array.from({ length: 11 }, (_, i) => ({ ...es.publicJwk, kid: `k${i}` })) } }), /^jwks\.keys: at most 10 keys/],
    ['no keys', () => ({ jwks: { keys: [] } }), /^jwks\.keys: /],
    ['a key without kid', () => ({ jwks: { keys: [{ ...es.publicJwk, kid: undefined }] } }), /^jwks\.keys\.0\.kid( is required|: )/],
    ['two keys with one kid', () => ({ jwks: { keys: [es.publicJwk, { ...rsa.publicJwk, kid: es.kid }] } }), /^jwks\.keys: every kid must be distinct/],
    ['a 1024-bit RSA key', () => ({ jwks: { keys: [{ ...rsa.publicJwk, n: Buffer.alloc(128, 0xff).toString('base64url') }] } }), /^jwks\.keys\.0\.n: .*2048/],
    ['a P-521 key', () => ({ jwks: { keys: [{ ...es.publicJwk, crv: 'P-521' }] } }), /^jwks\.keys\.0\.crv: /],
    ['a point off the curve', () => ({ jwks: { keys: [{ ...es.publicJwk, y: es.publicJwk.x }] } }), /^jwks\.keys\.0: not a usable public key/],
    ['a key for encryption', () => ({ jwks: { keys: [{ ...es.publicJwk, use: 'enc' }] } }), /^jwks\.keys\.0\.use: /],
    ['jwks not an object', () => ({ jwks: 'keys' }), /^jwks: /],
    ['jwks and jwks_uri together', () => ({ jwks: { keys: [es.publicJwk] }, jwks_uri: 'https://keys.example/jwks' }), /^jwks_uri: .*exactly one/],
    ['neither jwks nor jwks_uri', () => ({}), /^jwks: .*exactly one/],
    ['jwks for a secret client', () => ({ token_endpoint_auth_method: 'client_secret_basic', jwks: { keys: [es.publicJwk] } }), /^jwks: only for/],
    ['an unknown method', () => ({ token_endpoint_auth_method: 'tls_client_auth' }), /^token_endpoint_auth_method: /],
    ['alg HS256', () => ({ jwks: { keys: [es.publicJwk] }, token_endpoint_auth_signing_alg: 'HS256' }), /^token_endpoint_auth_signing_alg: /],
    ['alg none', () => ({ jwks: { keys: [es.publicJwk] }, token_endpoint_auth_signing_alg: 'none' }), /^token_endpoint_auth_signing_alg: /],
    ['a pinned alg no key fits', () => ({ jwks: { keys: [es.publicJwk] }, token_endpoint_auth_signing_alg: 'PS256' }), /^token_endpoint_auth_signing_alg: no key/],
    ['a key alg that does not fit', () => ({ jwks: { keys: [{ ...es.publicJwk, alg: 'RS256' }] } }), /^jwks\.keys\.0\.alg: /],
    ['an http jwks_uri on another host', () => ({ jwks_uri: 'http://keys.example/jwks' }), /^jwks_uri: /],
  ];

  it.each(cases)('%s', async (_name, body, message) => {
    const token = await h.adminToken();
    const before = (await h.http.get('/admin/clients?limit=200').set('Authorization', `Bearer ${token}`)).body.clients.length;
    const res = await h.http.post('/admin/clients').set('Authorization', `Bearer ${token}`).send({ ...base, ...body() });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(message) });
    const after = (await h.http.get('/admin/clients?limit=200').set('Authorization', `Bearer ${token}`)).body.clients.length;
    expect(after).toBe(before);
  });

  it('PUT /admin/clients/:id/jwks refuses bad keys the same way and keeps the old ones', async () => {
    const token = await h.adminToken();
    const c = await h.http.post('/admin/clients').set('Authorization', `Bearer ${token}`).send({ ...base, jwks: { keys: [es.publicJwk] } });
    const put = (body: unknown) => h.http.put(`/admin/clients/${c.body.client_id}/jwks`).set('Authorization', `Bearer ${token}`).send(body as object);
    for (const [body, message] of [
      [{ jwks: { keys: [rsa.privateJwk] } }, /^jwks\.keys\.0\.d: /],
      [{ jwks: { keys: [es.publicJwk] }, jwks_uri: 'https://keys.example/jwks' }, /exactly one of jwks and jwks_uri/],
      [{}, /exactly one of jwks and jwks_uri/],
    ] as const) {
      const res = await put(body);
      expect(res.status).toBe(400);
      expect(res.body.error_description).toMatch(message);
    }
    expect((await put({ jwks_uri: 'https://keys.example/jwks' })).body).toMatchObject({ jwks_uri: 'https://keys.example/jwks' });
    const secretClient = await h.createClient();
    const wrongKind = await h.http.put(`/admin/clients/${secretClient.client_id}/jwks`).set('Authorization', `Bearer ${token}`).send({ jwks: { keys: [es.publicJwk] } });
    expect(wrongKind.status).toBe(400);
    expect((await h.http.put('/admin/clients/nope/jwks').set('Authorization', `Bearer ${token}`).send({ jwks: { keys: [es.publicJwk] } })).status).toBe(404);
  });
});

describe('jwks_uri in production', () => {
  it('refuses http even for loopback hosts when NODE_ENV=production', async () => {
    const h = await startHarness('redis', { NODE_ENV: 'production', REDIS_URL: redisUrl() });
    try {
      const token = await h.adminToken();
      const post = (jwks_uri: string) =>
        h.http.post('/admin/clients').set('Authorization', `Bearer ${token}`).send({ name: 'p', scopes: ['collect'], audiences: ['collector'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri });
      const refused = await post('http://127.0.0.1:8080/jwks');
      expect(refused.status).toBe(400);
      expect(refused.body.error_description).toMatch(/^jwks_uri: .*production/);
      expect((await post('https://keys.example/jwks')).status).toBe(201);
    } finally {
      await h.close();
    }
  });
});
