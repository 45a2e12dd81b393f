import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import supertest from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { dpopKey, proof, type DpopKey } from '../../../test/support/dpop.js';
import { redisUrl } from '../../../test/support/redis.js';
import { buildTestDeps, ISSUER, openStore, startHarness, STORE_KINDS, type Harness } from './harness.js';

type Client = { client_id: string; client_secret: string };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe.each(STORE_KINDS)('DPoP at the auth server on the %s store', (kind) => {
  let h: Harness;
  let client: Client;
  let key: DpopKey;
  let other: DpopKey;
  const now = () => Math.floor(h.clock.ms / 1000);
  const tokenProof = (k: DpopKey, options: Partial<Parameters<typeof proof>[1]> = {}) =>
    proof(k, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), ...options });
  const withProof = (p: string | undefined, extra: Record<string, string> = {}) => {
    const req = h.http.post('/token').auth(client.client_id, client.client_secret).type('form');
    return (p === undefined ? req : req.set('DPoP', p)).send({ grant_type: 'client_credentials', ...extra });
  };

  beforeEach(async () => {
    h = await startHarness(kind);
    client = await h.createClient();
    key ??= await dpopKey();
    other ??= await dpopKey('EdDSA');
  });
  afterEach(() => h.close());

  it('binds the access token to the proof key: cnf.jkt and token_type DPoP; introspection shows both', async () => {
    const res = await withProof(await tokenProof(key)).expect(200);
    expect(res.body.token_type).toBe('DPoP');
    expect(decodeJwt(res.body.access_token).cnf).toEqual({ jkt: key.jkt });
    const introspected = await h.http.post('/introspect').auth(h.admin.clientId, h.admin.secret).type('form').send({ token: res.body.access_token });
    expect(introspected.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
    const plain = await withProof(undefined).expect(200);
    expect(plain.body.token_type).toBe('Bearer');
    expect(decodeJwt(plain.body.access_token).cnf).toBeUndefined();
  });

  it('publishes dpop_signing_alg_values_supported', async () => {
    const res = await h.http.get('/.well-known/oauth-authorization-server').expect(200);
    expect(res.body.dpop_signing_alg_values_supported).toEqual(['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']);
    const doc = (await h.http.get('/openapi.json').expect(200)).body;
    expect(doc.components.securitySchemes.collectorDpop).toMatchObject({ in: 'header', name: 'Authorization' });
    for (const path of ['/token', '/token/refresh']) expect(doc.paths[path].post.parameters).toContainEqual(expect.objectContaining({ name: 'DPoP', in: 'header' }));
    expect(doc.paths['/collect'].get.security).toContainEqual({ collectorDpop: [] });
    expect(doc.components.schemas.NewClient.properties.dpop_bound_access_tokens.type).toBe('boolean');
  });

  it('ignores the query of htu, and compares scheme and host case-insensitively', async () => {
    await withProof(await tokenProof(key, { htu: `${ISSUER}/token?grant_type=client_credentials` })).expect(200);
    await withProof(await tokenProof(key, { htu: 'HTTP://AUTH.TEST/token' })).expect(200);
  });

  it.each([
    ['a wrong htm', { htm: 'GET' }, /htm/],
    ['a wrong htu (another endpoint)', { htu: `${ISSUER}/token/refresh` }, /htu/],
    ['an htu with another host', { htu: 'http://evil.test/token' }, /htu/],
    ['an htu whose path hides in a query only', { htu: `${ISSUER}/?/token` }, /htu/],
    ['a relative htu with a query only', { htu: '?/token' }, /htu/],
    ['an iat 2 minutes old', { iat: -120 }, /too old/],
    ['an iat 1 minute ahead', { iat: 60 }, /future/],
    ['a private key in jwk', { header: 'private' }, /private/],
    ['typ JWT', { header: { typ: 'JWT' } }, /typ/],
    ['no jti', { claims: { jti: undefined } }, /jti/],
  ] as const)('answers 400 invalid_dpop_proof to %s', async (_name, change, description) => {
    const options: Record<string, unknown> = { ...change };
    if ('iat' in change) options.iat = now() + change.iat;
    if ((change as { header?: unknown }).header === 'private') options.header = { jwk: key.privateJwk };
    const res = await withProof(await tokenProof(key, options)).expect(400);
    expect(res.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(description) });
  });

  it('answers 400 invalid_dpop_proof to alg none, HS256, two DPoP headers and a 9 KiB proof', async () => {
    const claims = { jti: 'j-none', htm: 'POST', htu: `${ISSUER}/token`, iat: now() };
    const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${b64(claims)}.`;
    const hsInput = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } })}.${b64({ ...claims, jti: 'j-hs' })}`;
    const hs = `${hsInput}.${createHmac('sha256', 'secret').update(hsInput).digest('base64url')}`;
    for (const [bad, description] of [
      [none, /algorithm|compact JWS/],
      [hs, /algorithm/],
      ['e'.repeat(9 * 1024), /longer/],
    ] as const) {
      const res = await withProof(bad).expect(400);
      expect(res.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(description) });
    }
    const p = await tokenProof(key);
    const two = await h.http
      .post('/token')
      .auth(client.client_id, client.client_secret)
      .set('DPoP', [p, p] as never)
      .type('form')
      .send({ grant_type: 'client_credentials' })
      .expect(400);
    expect(two.body).toEqual({ error: 'invalid_dpop_proof', error_description: 'the request must carry exactly one DPoP header' });
  });

  it('refuses a replayed proof jti, also at a second instance on the same store, and of 8 parallel uses exactly one passes', async () => {
    const p = await tokenProof(key);
    await withProof(p).expect(200);
    expect((await withProof(p).expect(400)).body.error_description).toMatch(/already used/);
    if (kind === 'memory') return;
    const second = await openStore(kind, h.clock, h.testStore.prefix);
    try {
      const { deps } = await buildTestDeps(second, h.clock, { ISSUER });
      const app2 = supertest(createApp(deps).public);
      const fresh = await tokenProof(key);
      await withProof(fresh).expect(200);
      const res = await app2.post('/token').auth(client.client_id, client.client_secret).set('DPoP', fresh).type('form').send({ grant_type: 'client_credentials' });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_dpop_proof');
      const raced = await tokenProof(key);
      const statuses = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 ? app2 : h.http).post('/token').auth(client.client_id, client.client_secret).set('DPoP', raced).type('form').send({ grant_type: 'client_credentials' }),
        ),
      );
      expect(statuses.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
    } finally {
      await second.store.close();
    }
  });

  it('answers 4xx, never 500, to malformed DPoP headers', async () => {
    for (const value of ['', ' ', 'a.b.c', '...', 'eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.', `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: 'x' })}.e30.AA`, `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC' } })}.e30.AA`]) {
      const res = await withProof(value);
      expect(res.status, JSON.stringify(value)).toBe(400);
      expect(res.body.error).toBe('invalid_dpop_proof');
    }
  });

  it('a client registered with dpop_bound_access_tokens needs a proof, on /token and on refresh', async () => {
    const bound = await h.createClient({ dpop_bound_access_tokens: true });
    expect((await h.http.get(`/admin/clients/${bound.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`)).body.dpop_bound_access_tokens).toBe(true);
    const refused = await h.clientCredentials(bound);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/dpop_bound_access_tokens/) });
    client = bound;
    const issued = await withProof(await tokenProof(key)).expect(200);
    expect(issued.body.token_type).toBe('DPoP');
    expect((await h.refresh(bound, issued.body.refresh_token)).status).toBe(400);
    const refreshed = await h.http
      .post('/token')
      .auth(bound.client_id, bound.client_secret)
      .set('DPoP', await tokenProof(key))
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token })
      .expect(200);
    expect(refreshed.body.token_type).toBe('DPoP');
  });

  describe('a public client (refresh_token_auth "none")', () => {
    const refreshProof = (k: DpopKey) => proof(k, { htm: 'POST', htu: `${ISSUER}/token/refresh`, iat: now() });
    const refresh = (token: string, p?: string) => {
      const req = h.http.post('/token/refresh');
      return (p === undefined ? req : req.set('DPoP', p)).send({ refresh_token: token });
    };

    it("binds its family to the proof key: another key's proof or none is refused and spends nothing (keycloak #36475)", async () => {
      client = await h.createClient({ refresh_token_auth: 'none' });
      const issued = await withProof(await tokenProof(key)).expect(200);
      const introspected = await h.http.post('/introspect').auth(h.admin.clientId, h.admin.secret).type('form').send({ token: issued.body.refresh_token });
      expect(introspected.body).toMatchObject({ active: true, cnf: { jkt: key.jkt } });
      const wrong = await refresh(issued.body.refresh_token, await refreshProof(other)).expect(400);
      expect(wrong.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/bound/) });
      expect((await refresh(issued.body.refresh_token).expect(400)).body.error).toBe('invalid_dpop_proof');
      const right = await refresh(issued.body.refresh_token, await refreshProof(key)).expect(200);
      expect(right.body.token_type).toBe('DPoP');
      expect(decodeJwt(right.body.access_token).cnf).toEqual({ jkt: key.jkt });
      await refresh(right.body.refresh_token, await refreshProof(key)).expect(200);
    });

    it('keeps a family started without a proof unbound', async () => {
      client = await h.createClient({ refresh_token_auth: 'none' });
      const issued = await withProof(undefined).expect(200);
      const res = await refresh(issued.body.refresh_token).expect(200);
      expect(res.body.token_type).toBe('Bearer');
    });
  });

  it("a confidential client's refresh binds the new access token to the refresh request's proof, if any", async () => {
    const issued = await withProof(await tokenProof(key)).expect(200);
    const rebound = await h.http
      .post('/token')
      .auth(client.client_id, client.client_secret)
      .set('DPoP', await tokenProof(other))
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token })
      .expect(200);
    expect(decodeJwt(rebound.body.access_token).cnf).toEqual({ jkt: other.jkt });
    const plain = await h.refresh(client, rebound.body.refresh_token);
    expect(plain.status).toBe(200);
    expect(plain.body.token_type).toBe('Bearer');
  });
});

describe('DPOP_NONCE=required', () => {
  let h: Harness;
  let client: Client;
  let key: DpopKey;
  const now = () => Math.floor(h.clock.ms / 1000);

  beforeEach(async () => {
    h = await startHarness('redis', { DPOP_NONCE: 'required' });
    client = await h.createClient({ refresh_token_auth: 'none' });
    key ??= await dpopKey();
  });
  afterEach(() => h.close());

  const post = (http: ReturnType<typeof supertest>, p: string) =>
    http.post('/token').auth(client.client_id, client.client_secret).set('DPoP', p).type('form').send({ grant_type: 'client_credentials' });

  it('answers use_dpop_nonce with a DPoP-Nonce that a second instance accepts; every answer carries a nonce', async () => {
    const first = await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now() })).expect(400);
    expect(first.body).toEqual({ error: 'use_dpop_nonce', error_description: expect.any(String) });
    const nonce = first.headers['dpop-nonce'] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const second = await openStore('redis', h.clock, h.testStore.prefix);
    try {
      const { deps } = await buildTestDeps(second, h.clock, { ISSUER, DPOP_NONCE: 'required' });
      const app2 = supertest(createApp(deps).public);
      const ok = await post(app2, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), nonce })).expect(200);
      expect(ok.body.token_type).toBe('DPoP');
      expect(ok.headers['dpop-nonce']).toMatch(/^[A-Za-z0-9_-]{32}$/);
    } finally {
      await second.store.close();
    }
    const forged = await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), nonce: 'A'.repeat(32) })).expect(400);
    expect(forged.body.error).toBe('use_dpop_nonce');
  });

  it('keeps a nonce valid for at least 5 minutes, and not forever', async () => {
    const nonce = (await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now() }))).headers['dpop-nonce'] as string;
    h.clock.advance(300);
    await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), nonce })).expect(200);
    h.clock.advance(600);
    expect((await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), nonce })).expect(400)).body.error).toBe('use_dpop_nonce');
  });

  it('spends nothing on use_dpop_nonce: the refresh token stays current', async () => {
    const start = await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now() }));
    const nonce = start.headers['dpop-nonce'] as string;
    const issued = await post(h.http, await proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now(), nonce })).expect(200);
    const refreshProof = (n?: string) => proof(key, { htm: 'POST', htu: `${ISSUER}/token/refresh`, iat: now(), ...(n ? { nonce: n } : {}) });
    const refused = await h.http.post('/token/refresh').set('DPoP', await refreshProof()).send({ refresh_token: issued.body.refresh_token }).expect(400);
    expect(refused.body.error).toBe('use_dpop_nonce');
    await h.http
      .post('/token/refresh')
      .set('DPoP', await refreshProof(refused.headers['dpop-nonce'] as string))
      .send({ refresh_token: issued.body.refresh_token })
      .expect(200);
  });
});

describe('cli clients create --dpop-bound', () => {
  it('registers a client whose token requests need a DPoP proof', async () => {
    const h = await startHarness('redis');
    try {
      const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
      const env = { PATH: process.env.PATH, REDIS_URL: redisUrl(), REDIS_PREFIX: h.testStore.prefix, KEY_ENCRYPTION_SECRET: 'test-key-encryption-secret-0123456789abcdef' };
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [cli, 'clients', 'create', '--name', 'bound', '--scope', 'collect', '--audience', 'collector', '--dpop-bound', '--json'], { env, timeout: 15_000 }, (error, out) =>
          error ? reject(error) : resolve(out),
        ),
      );
      const created = JSON.parse(stdout) as Client & { dpop_bound_access_tokens: boolean };
      expect(created.dpop_bound_access_tokens).toBe(true);
      const res = await h.clientCredentials(created);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_dpop_proof');
    } finally {
      await h.close();
    }
  });
});

describe('DPoP configuration', () => {
  it('reads DPOP_PROOF_MAX_AGE and DPOP_NONCE, and refuses bad values with one line naming the variable', () => {
    expect(loadConfig({})).toMatchObject({ dpopProofMaxAge: 60, dpopNonce: 'off' });
    expect(loadConfig({ DPOP_PROOF_MAX_AGE: '2m', DPOP_NONCE: 'required' })).toMatchObject({ dpopProofMaxAge: 120, dpopNonce: 'required' });
    for (const [name, value] of [
      ['DPOP_PROOF_MAX_AGE', '0'],
      ['DPOP_PROOF_MAX_AGE', '1h'],
      ['DPOP_PROOF_MAX_AGE', 'soon'],
      ['DPOP_NONCE', 'on'],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: invalid value; expected [^\\n]+$`));
    }
  });
});
