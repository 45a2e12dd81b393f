import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT } from 'jose';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ISSUER, buildTestDeps, openStore, startHarness, TestClock, type Harness } from './harness.js';
import { uniquePrefix } from '../../../test/support/redis.js';
import { ASSERTION_TYPE, signAssertion, testKey, type TestAlg, type TestKey } from './support/assertions.js';

const TOKEN_URL = `${ISSUER}/token`;

describe('private_key_jwt client authentication (SPEC §10)', () => {
  let h: Harness;
  let key: TestKey;
  let client: { client_id: string } & Record<string, unknown>;
  let attacker: Server;
  let attackerHits = 0;
  let attackerUrl: string;

  const now = () => Math.floor(h.clock.ms / 1000);
  const token = (assertion: string, extra: Record<string, string> = {}) =>
    h.http.post('/token').type('form').send({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...extra });
  const assertion = (options: Parameters<typeof signAssertion>[3] = {}, k = key, id = client.client_id, aud = TOKEN_URL) =>
    signAssertion(k, id, aud, { now: now(), ...options });

  beforeAll(async () => {
    h = await startHarness('redis', { AUTH_FAILURE_LIMIT: '0' });
    key = await testKey('ES256');
    client = await h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    attacker = createServer((_req, res) => {
      attackerHits++;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => attacker.close(resolve));
    await h.close();
  });

  it('registers a secretless client: 201 without a secret; GET shows the method and the public keys', async () => {
    expect(client).not.toHaveProperty('client_secret');
    expect(client).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    const res = await h.http.get(`/admin/clients/${client.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
    for (const field of ['client_secret', 'secret_hash', 'previous_secret_hash']) expect(res.body).not.toHaveProperty(field);
  });

  it('issues tokens to a valid assertion whose aud is the issuer or the token endpoint URL', async () => {
    for (const aud of [ISSUER, TOKEN_URL]) {
      const res = await token(await assertion({}, key, client.client_id, aud));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.token_type).toBe('Bearer');
    }
    const withId = await token(await assertion(), { client_id: client.client_id });
    expect(withId.status).toBe(200);
  });

  it.each<TestAlg>(['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'])('verifies %s assertions (no hard-coded RS256, hydra #1817/#3673)', async (alg) => {
    const k = await testKey(alg);
    const c = await h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [k.publicJwk] }, token_endpoint_auth_signing_alg: alg });
    const res = await token(await assertion({}, k, c.client_id));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // without a kid: the one key of that alg
    const noKid = await token(await assertion({ header: { kid: undefined } }, k, c.client_id));
    expect(noKid.status, JSON.stringify(noKid.body)).toBe(200);
  });

  it('refuses a replayed assertion: the same jti twice (GHSA-3p3g-vpw6-4w66)', async () => {
    const once = await assertion();
    expect((await token(once)).status).toBe(200);
    const again = await token(once);
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ error: 'invalid_client', error_description: expect.stringMatching(/\(jti\).*already used/) });
  });

  it("keeps the jti for the assertion's remaining life only (PTTL in Redis)", async () => {
    const exp = now() + 45;
    const jti = 'ttl-probe-' + Math.random().toString(36).slice(2);
    expect((await token(await assertion({ claims: { exp, jti } }))).status).toBe(200);
    const { redis, prefix } = h.testStore;
    const key = `${prefix}once:client-assertion:${createHash('sha256').update(`${client.client_id}:${jti}`).digest('base64url')}`;
    const pttl = await redis!.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(exp * 1000 - h.clock.ms);
  });

  const broken: [string, RegExp, () => Promise<Record<string, string>>][] = [
    ['wrong iss', /\(iss\)/, async () => ({ client_assertion: await assertion({ claims: { iss: 'no-such-client' } }) })],
    ['wrong sub', /\(sub\)/, async () => ({ client_assertion: await assertion({ claims: { sub: 'someone-else' } }) })],
    ['aud an array', /\(aud\).*single string/, async () => ({ client_assertion: await assertion({ claims: { aud: [TOKEN_URL] } }) })],
    ['aud another server (CVE-2025-27370)', /\(aud\)/, async () => ({ client_assertion: await assertion({ claims: { aud: 'https://other-server.example/token' } }) })],
    ['exp missing', /\(exp\)/, async () => ({ client_assertion: await assertion({ claims: { exp: undefined } }) })],
    ['exp 10 minutes out', /\(exp\).*300 s/, async () => ({ client_assertion: await assertion({ claims: { exp: now() + 600 } }) })],
    ['exp passed', /\(exp\)/, async () => ({ client_assertion: await assertion({ claims: { iat: now() - 120, exp: now() - 60 } }) })],
    ['iat in the future', /\(iat\)/, async () => ({ client_assertion: await assertion({ claims: { iat: now() + 60, exp: now() + 120 } }) })],
    ['nbf in the future', /\(nbf\)/, async () => ({ client_assertion: await assertion({ claims: { nbf: now() + 60, exp: now() + 120 } }) })],
    ['jti missing', /\(jti\)/, async () => ({ client_assertion: await assertion({ claims: { jti: undefined } }) })],
    ['jti over 256 characters', /\(jti\)/, async () => ({ client_assertion: await assertion({ claims: { jti: 'j'.repeat(257) } }) })],
    [
      'alg none',
      /\(alg\)/,
      async () => ({
        client_assertion: new UnsecuredJWT({ iss: client.client_id, sub: client.client_id, aud: TOKEN_URL, exp: now() + 60, jti: 'none-1' }).encode(),
      }),
    ],
    [
      'HS256 keyed with the public key',
      /\(alg\)/,
      async () => ({
        client_assertion: await new SignJWT({ iss: client.client_id, sub: client.client_id, aud: TOKEN_URL, exp: now() + 60, jti: 'hs-1' })
          .setProtectedHeader({ alg: 'HS256', kid: key.kid })
          .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk))),
      }),
    ],
    ['typ of an access token', /\(typ\)/, async () => ({ client_assertion: await assertion({ header: { typ: 'at+jwt' } }) })],
    ['unknown kid', /\(kid\)/, async () => ({ client_assertion: await assertion({ header: { kid: 'no-such-kid' } }) })],
    ['signed by another key', /\(signature\)/, async () => ({ client_assertion: await assertion({}, { ...(await testKey('ES256')), kid: key.kid }) })],
    ['oversized', /\(size\)/, async () => ({ client_assertion: await assertion({ claims: { pad: 'x'.repeat(9000) } }) })],
    ['client_id differs from iss', /\(client_id\)/, async () => ({ client_assertion: await assertion(), client_id: 'another-client' })],
    ['not a JWS', /\(malformed\)/, async () => ({ client_assertion: 'not.a.jws' })],
  ];

  it.each(broken)('refuses an assertion with %s: 401 invalid_client naming the rule', async (_name, rule, make) => {
    const res = await h.http
      .post('/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, ...(await make()) });
    expect(res.status, JSON.stringify(res.body)).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(res.body.error_description).toMatch(rule);
    expect(res.body.error_description.length).toBeLessThan(300);
  });

  it('never fetches a jku, x5u or jwk header: an attacker key server gets zero requests', async () => {
    const evil = await testKey('ES256', key.kid);
    for (const header of [{ jku: `${attackerUrl}/jwks` }, { x5u: `${attackerUrl}/cert.pem` }, { jwk: evil.publicJwk }]) {
      const res = await token(await assertion({ header }, evil));
      expect(res.status).toBe(401);
      expect(res.body.error_description).toMatch(/\(header\)/);
    }
    expect(attackerHits).toBe(0);
  });

  it('pins token_endpoint_auth_signing_alg: another alg with a registered key of its own is refused', async () => {
    const es = await testKey('ES256');
    const rs = await testKey('RS256');
    const pinned = await h.createClient({
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [es.publicJwk, rs.publicJwk] },
      token_endpoint_auth_signing_alg: 'ES256',
    });
    expect((await token(await assertion({}, es, pinned.client_id))).status).toBe(200);
    const res = await token(await assertion({}, rs, pinned.client_id));
    expect(res.status).toBe(401);
    expect(res.body.error_description).toMatch(/\(alg\).*ES256/);
  });

  it('authenticates a client only with the method it registered', async () => {
    const bySecret = await h.http.post('/token').auth(client.client_id, 'any-secret-at-all').type('form').send({ grant_type: 'client_credentials' });
    expect(bySecret.status).toBe(401);
    expect(bySecret.body).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/private_key_jwt/) });
    const byPost = await h.http.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: '' });
    expect(byPost.status).toBe(401);

    const secretClient = await h.createClient();
    const other = await testKey('ES256');
    const byAssertion = await token(await assertion({}, other, secretClient.client_id));
    expect(byAssertion.status).toBe(401);
    expect(byAssertion.body.error_description).toMatch(/client secret/);
    expect((await h.clientCredentials(secretClient)).status).toBe(200);
  });

  it('is the one client authentication of /token/refresh, /revoke and /introspect (aud may be the endpoint URL)', async () => {
    const inspector = await testKey('EdDSA');
    const introspector = await h.createClient({ scopes: ['introspect'], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [inspector.publicJwk] } });
    const issued = await token(await assertion());
    expect(issued.status).toBe(200);
    const form = async (path: string, k: TestKey, id: string, body: Record<string, string>) =>
      h.http
        .post(path)
        .type('form')
        .send({ client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion({}, k, id, `${ISSUER}${path}`), ...body });

    const introspected = await form('/introspect', inspector, introspector.client_id, { token: issued.body.access_token });
    expect(introspected.status).toBe(200);
    expect(introspected.body).toMatchObject({ active: true, client_id: client.client_id });

    const refreshed = await form('/token/refresh', key, client.client_id, { refresh_token: issued.body.refresh_token });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const revoked = await form('/revoke', key, client.client_id, { token: refreshed.body.refresh_token });
    expect(revoked.status).toBe(200);
    const after = await form('/token/refresh', key, client.client_id, { refresh_token: refreshed.body.refresh_token });
    expect(after.status).toBe(400);

    // an assertion for one endpoint is not accepted at another
    const wrongEndpoint = await h.http
      .post('/revoke')
      .type('form')
      .send({ client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion({}, key, client.client_id, `${ISSUER}/introspect`), token: 'x' });
    expect(wrongEndpoint.status).toBe(401);
    expect(wrongEndpoint.body.error_description).toMatch(/\(aud\)/);
  });

  it('counts failures by method and logs the rule, never the assertion', async () => {
    const sample = async () => {
      const text = (await h.http.get('/metrics')).text;
      const line = text.split('\n').find((l) => l.startsWith('client_authentication_failures_total{method="private_key_jwt"}'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const before = await sample();
    const bad = await assertion({ claims: { aud: 'https://elsewhere.example' } });
    expect((await token(bad)).status).toBe(401);
    expect(await sample()).toBe(before + 1);
    const line = h.logs.lines.filter((l) => l.event === 'client_authentication_failed').at(-1);
    expect(line).toMatchObject({ method: 'private_key_jwt', client_id: client.client_id, rule: 'aud', req_id: expect.any(String) });
    expect(h.logs.raw.join('\n')).not.toContain(bad.split('.')[2]);
  });

  it('lists private_key_jwt and the algorithms in the metadata', async () => {
    const { body } = await h.http.get('/.well-known/oauth-authorization-server');
    for (const endpoint of ['token', 'revocation', 'introspection']) {
      expect(body[`${endpoint}_endpoint_auth_methods_supported`]).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
      expect(body[`${endpoint}_endpoint_auth_signing_alg_values_supported`]).toEqual(['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256']);
    }
  });

  it('replaces the keys with PUT /admin/clients/:id/jwks: old and new together, then the new alone', async () => {
    const k1 = await testKey('ES256');
    const k2 = await testKey('ES256');
    const c = await h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [k1.publicJwk] } });
    const put = async (body: unknown) => h.http.put(`/admin/clients/${c.client_id}/jwks`).set('Authorization', `Bearer ${await h.adminToken()}`).send(body as object);
    expect((await put({ jwks: { keys: [k1.publicJwk, k2.publicJwk] } })).status).toBe(200);
    expect((await token(await assertion({}, k1, c.client_id))).status).toBe(200);
    expect((await token(await assertion({}, k2, c.client_id))).status).toBe(200);
    const dropped = await put({ jwks: { keys: [k2.publicJwk] } });
    expect(dropped.body.jwks).toEqual({ keys: [k2.publicJwk] });
    expect((await token(await assertion({}, k1, c.client_id))).status).toBe(401);
    expect((await token(await assertion({}, k2, c.client_id))).status).toBe(200);
    const leaked = await put({ jwks: { keys: [k2.privateJwk] } });
    expect(leaked.status).toBe(400);
    expect(leaked.body.error_description).toMatch(/^jwks\.keys\.0\.d: /);
    const stored = await h.http.get(`/admin/clients/${c.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`);
    expect(stored.body.jwks).toEqual({ keys: [k2.publicJwk] });
  });
});

describe('private_key_jwt lockout', () => {
  it('counts failed assertions toward AUTH_FAILURE_LIMIT for the client named by iss', async () => {
    const h = await startHarness('memory', { AUTH_FAILURE_LIMIT: '3' });
    try {
      const key = await testKey('ES256');
      const c = await h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
      const send = async (aud: string) =>
        h.http.post('/token').type('form').send({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await signAssertion(key, c.client_id, aud, { now: Math.floor(h.clock.ms / 1000) }),
        });
      for (let i = 0; i < 3; i++) expect((await send('https://elsewhere.example')).status).toBe(401);
      expect((await send(`${ISSUER}/token`)).status).toBe(429);
    } finally {
      await h.close();
    }
  });
});

describe('private_key_jwt keys replaced on another instance', () => {
  it('a new key works at once on an instance that cached the client record', async () => {
    const clock = new TestClock();
    const prefix = uniquePrefix();
    const stores = [await openStore('redis', clock, prefix), await openStore('redis', clock, prefix)];
    try {
      const [a, b] = [await buildTestDeps(stores[0]!, clock), await buildTestDeps(stores[1]!, clock)];
      const httpB = supertest(createApp(b!.deps).public);
      const oldKey = await testKey('ES256');
      const newKey = await testKey('EdDSA');
      const { client } = await a!.deps.clients.create({
        name: 'rotating',
        scopes: ['collect'],
        audiences: ['collector'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [oldKey.publicJwk as never] },
      });
      const send = async (key: TestKey) =>
        httpB.post('/token').type('form').send({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await signAssertion(key, client.client_id, TOKEN_URL, { now: Math.floor(clock.ms / 1000) }),
        });
      expect((await send(oldKey)).status).toBe(200);
      await a!.deps.clients.setKeys(client.client_id, { jwks: { keys: [newKey.publicJwk as never] } });
      expect((await send(newKey)).status).toBe(200);
    } finally {
      for (const s of stores) await s.store.close();
    }
  });
});

describe('private_key_jwt replay across instances (better-auth #9096)', () => {
  it('of 20 concurrent requests with one assertion on two instances sharing Redis, exactly one succeeds', async () => {
    const clock = new TestClock();
    const prefix = uniquePrefix();
    const stores = [await openStore('redis', clock, prefix), await openStore('redis', clock, prefix)];
    try {
      const built = [];
      for (const s of stores) built.push(await buildTestDeps(s, clock, { AUTH_FAILURE_LIMIT: '0', RATE_LIMIT: '0' }));
      const apps = built.map((b) => supertest(createApp(b.deps).public));
      const key = await testKey('ES256');
      const created = await built[0]!.deps.clients.create({
        name: 'racer',
        scopes: ['collect'],
        audiences: ['collector'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk as never] },
      });
      const once = await signAssertion(key, created.client.client_id, `${ISSUER}/token`, { now: Math.floor(clock.ms / 1000) });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          apps[i % 2]!.post('/token').type('form').send({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: once }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, ...Array(19).fill(401)]);
      for (const r of results.filter((r) => r.status === 401)) expect(r.body.error_description).toMatch(/\(jti\)/);
    } finally {
      for (const s of stores) await s.store.close();
    }
  });
});
