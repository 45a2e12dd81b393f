import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, STORE_KINDS, startHarness, type Harness } from './harness.js';

type Client = { client_id: string; client_secret: string };

describe.each(STORE_KINDS)('POST /token on the %s store', (kind) => {
  let h: Harness;
  let client: Client;

  beforeEach(async () => {
    h = await startHarness(kind, { REFRESH_TOKEN_TTL: '60', REFRESH_FAMILY_MAX_AGE: '600' });
    client = await h.createClient();
  });
  afterEach(() => h.close());

  it('issues an access and a refresh token on client_credentials, with no-store headers', async () => {
    const res = await h.clientCredentials(client, { scope: 'collect' });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{43}$/),
      scope: 'collect',
    });
  });

  it('accepts client_secret_post and JSON bodies', async () => {
    const credentials = { client_id: client.client_id, client_secret: client.client_secret };
    const form = await h.http.post('/token').type('form').send({ grant_type: 'client_credentials', ...credentials });
    expect(form.status).toBe(200);
    const json = await h.http.post('/token').send({ grant_type: 'client_credentials', ...credentials });
    expect(json.status).toBe(200);
    expect(json.body.scope).toBe('collect read write');
  });

  it('signs an RFC 9068 token that verifies against the served JWKS', async () => {
    const res = await h.clientCredentials(client, { scope: 'read', resource: 'reports' });
    const jwks = await h.http.get('/.well-known/jwks.json');
    expect(jwks.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
    expect(jwks.headers['cache-control']).toMatch(/^public, max-age=\d+/);
    const keys = JSON.parse(jwks.text) as { keys: Record<string, unknown>[] };
    for (const key of keys.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      expect(key).toMatchObject({ kid: expect.any(String), alg: 'ES256', use: 'sig' });
    }
    const header = decodeProtectedHeader(res.body.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    const { payload } = await jwtVerify(res.body.access_token, createLocalJWKSet(keys as never), {
      issuer: ISSUER,
      audience: 'reports',
      typ: 'at+jwt',
      currentDate: new Date(h.clock.ms),
    });
    expect(payload).toMatchObject({ sub: client.client_id, client_id: client.client_id, scope: 'read', aud: 'reports' });
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.jti).toEqual(expect.any(String));
  });

  it('uses the first registered audience when no resource is asked for, and refuses a foreign one', async () => {
    const res = await h.clientCredentials(client);
    const { payload } = await jwtVerify(res.body.access_token, createLocalJWKSet(JSON.parse((await h.http.get('/.well-known/jwks.json')).text)), {
      currentDate: new Date(h.clock.ms),
    });
    expect(payload.aud).toBe('collector');
    const foreign = await h.clientCredentials(client, { resource: 'billing' });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toBe('invalid_target');
  });

  it('rotates on the refresh_token grant and narrows scope, never widens it', async () => {
    const first = await h.clientCredentials(client, { scope: 'collect read' });
    const wide = await h.refresh(client, first.body.refresh_token, { scope: 'collect write' });
    expect(wide.status).toBe(400);
    expect(wide.body.error).toBe('invalid_scope');
    const narrow = await h.refresh(client, first.body.refresh_token, { scope: 'read' });
    expect(narrow.status).toBe(200);
    expect(narrow.headers['cache-control']).toBe('no-store');
    expect(narrow.body).toMatchObject({ token_type: 'Bearer', scope: 'read', refresh_token: expect.any(String) });
    expect(narrow.body.refresh_token).not.toBe(first.body.refresh_token);
    const again = await h.refresh(client, narrow.body.refresh_token);
    expect(again.body.scope).toBe('collect read');
  });

  it('refuses a refresh token of another client without spending it', async () => {
    const other = await h.createClient();
    const first = await h.clientCredentials(client);
    const stolen = await h.refresh(other, first.body.refresh_token);
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    expect((await h.refresh(client, first.body.refresh_token)).status).toBe(200);
  });

  it('lets exactly one of 50 concurrent refreshes of one token succeed', async () => {
    const first = await h.clientCredentials(client);
    const results = await Promise.all(Array.from({ length: 50 }, () => h.refresh(client, first.body.refresh_token)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(49);
  });

  it('revokes the family, current token included, when a spent token is reused, and logs it without the token', async () => {
    const first = await h.clientCredentials(client);
    const second = await h.refresh(client, first.body.refresh_token);
    const reuse = await h.refresh(client, first.body.refresh_token);
    expect(reuse.status).toBe(400);
    expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: expect.any(String) });
    const current = await h.refresh(client, second.body.refresh_token);
    expect(current.status).toBe(400);
    expect(current.body.error).toBe('invalid_grant');
    const warning = h.logs.lines.find((l) => l.event === 'refresh_token_reuse');
    expect(warning).toMatchObject({ level: 40, client_id: client.client_id, family_id: first.body.refresh_token.split('.')[0], req_id: expect.any(String) });
    const all = h.logs.raw.join('\n');
    expect(all).not.toContain(first.body.refresh_token);
    expect(all).not.toContain(client.client_secret);
    const metrics = await h.deps.metrics.registry.getSingleMetricAsString('refresh_token_reuse_detected_total');
    expect(metrics).toMatch(/refresh_token_reuse_detected_total 1/);
  });

  it('expires refresh tokens when idle and families at their absolute age', async () => {
    const idle = await h.clientCredentials(client);
    h.clock.advance(61);
    expect((await h.refresh(client, idle.body.refresh_token)).body.error).toBe('invalid_grant');

    let token = (await h.clientCredentials(client)).body.refresh_token as string;
    for (let i = 0; i < 10; i++) {
      h.clock.advance(59);
      const res = await h.refresh(client, token);
      expect(res.status).toBe(200);
      token = res.body.refresh_token;
    }
    h.clock.advance(59);
    expect((await h.refresh(client, token)).body.error).toBe('invalid_grant');
  });

  it('answers a deleted client with invalid_client and its refresh tokens with invalid_grant', async () => {
    const first = await h.clientCredentials(client);
    const del = await h.http.delete(`/admin/clients/${client.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`);
    expect(del.status).toBe(204);
    const cc = await h.clientCredentials(client);
    expect(cc.status).toBe(401);
    expect(cc.body.error).toBe('invalid_client');
    const viaRefresh = await h.http.post('/token/refresh').send({ refresh_token: first.body.refresh_token });
    expect(viaRefresh.status).toBe(400);
    expect(viaRefresh.body.error).toBe('invalid_grant');
  });
});

describe('refresh grace window (REFRESH_REUSE_GRACE)', () => {
  let h: Harness;
  let client: Client;
  beforeEach(async () => {
    h = await startHarness('redis', { REFRESH_REUSE_GRACE: '10' });
    client = await h.createClient();
  });
  afterEach(() => h.close());

  it('inside the window a retry yields a new pair of the same family without revocation', async () => {
    const first = await h.clientCredentials(client);
    const lost = await h.refresh(client, first.body.refresh_token);
    h.clock.advance(3);
    const retry = await h.refresh(client, first.body.refresh_token);
    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token.split('.')[0]).toBe(first.body.refresh_token.split('.')[0]);
    expect((await h.refresh(client, retry.body.refresh_token)).status).toBe(200);
    expect(h.logs.lines.some((l) => l.event === 'refresh_token_reuse')).toBe(false);
    expect(lost.status).toBe(200);
  });

  it('outside the window a retry revokes the family', async () => {
    const first = await h.clientCredentials(client);
    const second = await h.refresh(client, first.body.refresh_token);
    h.clock.advance(11);
    expect((await h.refresh(client, first.body.refresh_token)).body.error).toBe('invalid_grant');
    expect((await h.refresh(client, second.body.refresh_token)).body.error).toBe('invalid_grant');
    expect(h.logs.lines.some((l) => l.event === 'refresh_token_reuse')).toBe(true);
  });
});

describe('RFC 6749 §5.2 errors', () => {
  let h: Harness;
  let client: Client;
  beforeEach(async () => {
    h = await startHarness('redis');
    client = await h.createClient();
  });
  afterEach(() => h.close());

  const expectError = (res: { status: number; body: unknown; headers: Record<string, string> }, status: number, error: string) => {
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ error, error_description: expect.any(String) });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
  };

  it('invalid_request when both Basic and client_secret_post are used', async () => {
    const res = await h.http
      .post('/token')
      .auth(client.client_id, client.client_secret)
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret });
    expectError(res, 400, 'invalid_request');
  });

  it('invalid_client 401 with a Basic challenge when Basic was used', async () => {
    const res = await h.http.post('/token').auth(client.client_id, 'wrong').type('form').send({ grant_type: 'client_credentials' });
    expectError(res, 401, 'invalid_client');
    expect(res.headers['www-authenticate']).toMatch(/^Basic /);
    const post = await h.http.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: 'wrong' });
    expectError(post, 401, 'invalid_client');
    expect(post.headers['www-authenticate']).toBeUndefined();
    expectError(await h.http.post('/token').type('form').send({ grant_type: 'client_credentials' }), 401, 'invalid_client');
    expectError(await h.http.post('/token').auth('unknown', 'x').type('form').send({ grant_type: 'client_credentials' }), 401, 'invalid_client');
  });

  it('invalid_grant for unknown, malformed and missing-family refresh tokens', async () => {
    for (const token of ['nope', 'a'.repeat(26) + '.' + 'b'.repeat(43), '', '..', 'x'.repeat(5000)]) {
      const res = await h.refresh(client, token);
      expectError(res, 400, token === '' ? 'invalid_request' : 'invalid_grant');
    }
  });

  it('unsupported_grant_type and invalid_request for a missing grant_type', async () => {
    expectError(await h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'password' }), 400, 'unsupported_grant_type');
    expectError(await h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({}), 400, 'invalid_request');
  });

  it('invalid_scope for a scope the client does not hold or a malformed one', async () => {
    expectError(await h.clientCredentials(client, { scope: 'admin' }), 400, 'invalid_scope');
    expectError(await h.clientCredentials(client, { scope: 'read  write' }), 400, 'invalid_scope');
    expectError(await h.clientCredentials(client, { scope: 'bad"quote' }), 400, 'invalid_scope');
  });

  it('unauthorized_client for a grant the client was not registered for, and no refresh token without refresh_token', async () => {
    const ccOnly = await h.createClient({ grant_types: ['client_credentials'] });
    const res = await h.clientCredentials(ccOnly);
    expect(res.status).toBe(200);
    expect(res.body.refresh_token).toBeUndefined();
    const other = await h.clientCredentials(client);
    expectError(await h.refresh(ccOnly, other.body.refresh_token), 400, 'unauthorized_client');
  });

  it('400 invalid_request for malformed bodies, never 500', async () => {
    const auth = { Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` };
    const cases = [
      h.http.post('/token').set(auth).set('Content-Type', 'application/json').send('{"grant_type":'),
      h.http.post('/token').set(auth).set('Content-Type', 'application/json').send('["client_credentials"]'),
      h.http.post('/token').set(auth).set('Content-Type', 'application/json').send('{"grant_type":{"x":1}}'),
      h.http.post('/token').set(auth).set('Content-Type', 'application/json').send('{"grant_type":["a","b"]}'),
      h.http.post('/token').set(auth).set('Content-Type', 'text/plain').send('grant_type=client_credentials'),
      h.http.post('/token').set(auth).type('form').send('grant_type=client_credentials&grant_type=client_credentials'),
      h.http.post('/token').set(auth).type('form').send('scope=%E0%A4%A&grant_type=client_credentials'),
      h.http.post('/token').set({ Authorization: 'Basic !!!' }).type('form').send('grant_type=client_credentials'),
      h.http.post('/token/refresh').set('Content-Type', 'application/json').send('null'),
      h.http.post('/token/refresh').send({ refresh_token: 42 }),
    ];
    for (const res of await Promise.all(cases)) {
      expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      expect(res.status, res.text).toBeLessThan(500);
      expect(res.body.error).toMatch(/^(invalid_request|invalid_client|invalid_scope)$/);
      expect(res.text).not.toMatch(/at .*\.js/);
    }
  });

  it('413 for bodies over 16 KiB', async () => {
    const res = await h.http.post('/token').type('form').send(`grant_type=client_credentials&x=${'a'.repeat(17 * 1024)}`);
    expectError(res, 413, 'invalid_request');
  });
});

describe('POST /token/refresh (the seed endpoint)', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness('redis');
  });
  afterEach(() => h.close());

  it('requires client authentication unless the client registered refresh_token_auth "none"', async () => {
    const closed = await h.createClient();
    const first = await h.clientCredentials(closed);
    const anonymous = await h.http.post('/token/refresh').send({ refresh_token: first.body.refresh_token });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('invalid_client');
    const authed = await h.http.post('/token/refresh').auth(closed.client_id, closed.client_secret).send({ refresh_token: first.body.refresh_token });
    expect(authed.status).toBe(200);
    expect(authed.headers['cache-control']).toBe('no-store');

    const open = await h.createClient({ refresh_token_auth: 'none' });
    const token = (await h.clientCredentials(open)).body.refresh_token;
    const res = await h.http.post('/token/refresh').type('form').send({ refresh_token: token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', refresh_token: expect.any(String) });
    const reuse = await h.http.post('/token/refresh').send({ refresh_token: token });
    expect(reuse.body.error).toBe('invalid_grant');
  });
});
