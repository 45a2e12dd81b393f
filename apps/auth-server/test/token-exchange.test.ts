import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, STORE_KINDS, startHarness, type Harness } from './harness.js';

type Client = { client_id: string; client_secret: string };

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

describe.each(STORE_KINDS)('token exchange (SPEC §14) on the %s store', (kind) => {
  let h: Harness;
  let caller: Client;
  let serviceA: Client;
  let subject: { access_token: string; refresh_token: string };

  const exchange = (client: Client, params: Record<string, string>) =>
    h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: GRANT, subject_token_type: ACCESS, ...params });
  const exchangeSubject = (params: Record<string, string> = {}) => exchange(serviceA, { subject_token: subject.access_token, resource: 'service-b', ...params });
  const refused = async (res: Awaited<ReturnType<typeof exchangeSubject>>, error: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body).toEqual({ error, error_description: expect.any(String) });
  };

  beforeEach(async () => {
    h = await startHarness(kind);
    caller = await h.createClient({ name: 'caller', scopes: ['collect', 'read', 'write'], audiences: ['service-a', 'elsewhere'] });
    serviceA = await h.createClient({
      name: 'service A',
      scopes: ['collect', 'read', 'admin-ish'],
      audiences: ['service-a'],
      grant_types: ['client_credentials', GRANT],
      exchange_audiences: ['service-b'],
      exchange_accepts: ['service-a'],
    });
    subject = (await h.clientCredentials(caller, { resource: 'service-a', scope: 'collect read write' })).body;
  });
  afterEach(() => h.close());

  it('mints a token for the target on the subject’s behalf: sub, client_id, act, intersected scope, capped exp, no refresh token', async () => {
    const res = await exchangeSubject();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: 'collect read', issued_token_type: ACCESS });
    expect(decodeProtectedHeader(res.body.access_token)).toMatchObject({ typ: 'at+jwt' });
    const claims = decodeJwt(res.body.access_token);
    const before = decodeJwt(subject.access_token);
    expect(claims).toMatchObject({ iss: ISSUER, sub: caller.client_id, client_id: serviceA.client_id, aud: 'service-b', scope: 'collect read', act: { sub: serviceA.client_id } });
    expect(claims.exp).toBeLessThanOrEqual(before.exp!);
    expect(claims.jti).not.toBe(before.jti);
  });

  it('caps exp at the subject token’s and says so in expires_in', async () => {
    const shortCaller = await h.createClient({ name: 'short', scopes: ['read'], audiences: ['service-a'], access_token_ttl: 60 });
    const short = (await h.clientCredentials(shortCaller)).body.access_token as string;
    h.clock.advance(20);
    const res = await exchange(serviceA, { subject_token: short, resource: 'service-b' });
    expect(res.status).toBe(200);
    expect(res.body.expires_in).toBe(40);
    expect(decodeJwt(res.body.access_token).exp).toBe(decodeJwt(short).exp);
  });

  it('takes the target as audience too, the same value in both, and the client id as the subject token’s audience', async () => {
    expect((await exchange(serviceA, { subject_token: subject.access_token, audience: 'service-b' })).status).toBe(200);
    expect((await exchangeSubject({ audience: 'service-b' })).status).toBe(200);
    const direct = await h.createClient({ name: 'by id', scopes: ['read'], audiences: ['x'], grant_types: [GRANT], exchange_audiences: ['service-b'] });
    const forIt = await h.createClient({ name: 'caller 2', scopes: ['read'], audiences: [direct.client_id] });
    const token = (await h.clientCredentials(forIt)).body.access_token as string;
    const res = await exchange(direct, { subject_token: token, resource: 'service-b' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.scope).toBe('read');
  });

  it('introspection shows act and the caller as sub; the exchanging client may revoke the new token', async () => {
    const minted = (await exchangeSubject()).body.access_token as string;
    const introspector = await h.createClient({ name: 'introspector', scopes: ['introspect'], grant_types: ['client_credentials'] });
    const introspect = (token: string) => h.http.post('/introspect').auth(introspector.client_id, introspector.client_secret).type('form').send({ token });
    expect((await introspect(minted)).body).toMatchObject({ active: true, sub: caller.client_id, client_id: serviceA.client_id, act: { sub: serviceA.client_id } });
    expect((await h.http.post('/revoke').auth(serviceA.client_id, serviceA.client_secret).type('form').send({ token: minted })).status).toBe(200);
    expect((await introspect(minted)).body).toEqual({ active: false });
  });

  it('lists the grant type in the metadata', async () => {
    const meta = (await h.http.get('/.well-known/oauth-authorization-server')).body;
    expect(meta.grant_types_supported).toContain(GRANT);
  });

  it('counts the exchange by target audience and logs client, subject and target, never a token', async () => {
    const res = await exchangeSubject();
    const metrics = (await h.http.get('/metrics')).text;
    expect(metrics).toMatch(/^token_exchanges_total\{audience="service-b"\} 1$/m);
    const lines = h.logs.lines.filter((l) => l.event === 'token_exchange');
    expect(lines).toEqual([expect.objectContaining({ level: 30, client_id: serviceA.client_id, sub: caller.client_id, target: 'service-b' })]);
    for (const line of h.logs.raw) {
      expect(line).not.toContain(subject.access_token.split('.')[2]);
      expect(line).not.toContain(res.body.access_token.split('.')[2]);
    }
  });

  it('refuses a subject token meant for another audience: invalid_grant', async () => {
    const elsewhere = (await h.clientCredentials(caller, { resource: 'elsewhere' })).body.access_token as string;
    await refused(await exchange(serviceA, { subject_token: elsewhere, resource: 'service-b' }), 'invalid_grant');
  });

  it('refuses a target outside exchange_audiences, and a request without one: invalid_target', async () => {
    await refused(await exchangeSubject({ resource: 'service-c' }), 'invalid_target');
    await refused(await exchangeSubject({ resource: 'service-a' }), 'invalid_target');
    await refused(await exchange(serviceA, { subject_token: subject.access_token }), 'invalid_target');
  });

  it('refuses a client without the grant type: unauthorized_client', async () => {
    const plain = await h.createClient({ name: 'plain', scopes: ['read'], audiences: ['service-a'], grant_types: ['client_credentials'] });
    await refused(await exchange(plain, { subject_token: subject.access_token, resource: 'service-b' }), 'unauthorized_client');
  });

  it('refuses an expired subject token: invalid_grant', async () => {
    h.clock.advance(901);
    await refused(await exchangeSubject(), 'invalid_grant');
  });

  it('refuses a subject token revoked through /revoke: invalid_grant', async () => {
    expect((await exchangeSubject()).status).toBe(200);
    const revoke = await h.http.post('/revoke').auth(caller.client_id, caller.client_secret).type('form').send({ token: subject.access_token });
    expect(revoke.status).toBe(200);
    await refused(await exchangeSubject(), 'invalid_grant');
  });

  it('refuses a subject token signed by a foreign key, even with a published kid: invalid_grant', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const { kid } = decodeProtectedHeader(subject.access_token);
    const forged = await new SignJWT(decodeJwt(subject.access_token)).setProtectedHeader({ alg: 'ES256', kid: kid!, typ: 'at+jwt' }).sign(privateKey);
    await refused(await exchangeSubject({ subject_token: forged }), 'invalid_grant');
  });

  it('refuses a refresh token as subject: invalid_grant', async () => {
    await refused(await exchangeSubject({ subject_token: subject.refresh_token }), 'invalid_grant');
  });

  it('refuses actor_token and parameters that would change the subject: invalid_request', async () => {
    await refused(await exchangeSubject({ actor_token: subject.access_token, actor_token_type: ACCESS }), 'invalid_request');
    await refused(await exchangeSubject({ actor_token: subject.access_token }), 'invalid_request');
    // Keycloak's V1 parameters: answering them with a token for the subject token's subject is a token for the wrong subject.
    await refused(await exchangeSubject({ requested_subject: 'someone-else' }), 'invalid_request');
    await refused(await exchangeSubject({ subject_issuer: 'https://other.example' }), 'invalid_request');
    await refused(await exchangeSubject({ requested_issuer: 'https://other.example' }), 'invalid_request');
  });

  it('grants a requested scope only when both hold it: else invalid_scope, no silent narrowing', async () => {
    const narrow = await exchangeSubject({ scope: 'read' });
    expect(narrow.status).toBe(200);
    expect(decodeJwt(narrow.body.access_token).scope).toBe('read');
    await refused(await exchangeSubject({ scope: 'read write' }), 'invalid_scope');
    await refused(await exchangeSubject({ scope: 'admin-ish' }), 'invalid_scope');
    await refused(await exchangeSubject({ scope: 'nobody' }), 'invalid_scope');
  });

  it('refuses an empty intersection instead of copying the subject token’s scope: invalid_scope', async () => {
    const writeOnly = (await h.clientCredentials(caller, { resource: 'service-a', scope: 'write' })).body.access_token as string;
    await refused(await exchange(serviceA, { subject_token: writeOnly, resource: 'service-b' }), 'invalid_scope');
  });

  it('answers malformed exchange requests with 400, never 500', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ subject_token_type: ACCESS, resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, subject_token_type: '', resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.refresh_token, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token', resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, subject_token_type: 'junk\u0000', resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token', resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, resource: 'service-b', audience: 'service-c' }, 'invalid_request'],
      [{ subject_token: subject.access_token, resource: ['service-b', 'service-b'] }, 'invalid_request'],
      [{ subject_token: subject.access_token, audience: ['service-b', 'service-c'] }, 'invalid_request'],
      [{ subject_token: [subject.access_token, subject.access_token], resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: { a: 1 }, resource: 'service-b' }, 'invalid_request'],
      [{ subject_token: subject.access_token, resource: '' }, 'invalid_target'],
      [{ subject_token: 'x.y.z', resource: 'service-b' }, 'invalid_grant'],
      [{ subject_token: 'a'.repeat(9000), resource: 'service-b' }, 'invalid_grant'],
      [{ subject_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', resource: 'service-b' }, 'invalid_grant'],
      [{ subject_token: subject.access_token, resource: 'service-b', scope: '' }, 'invalid_scope'],
      [{ subject_token: subject.access_token, resource: 'service-b', scope: 'read  collect' }, 'invalid_scope'],
    ];
    for (const [body, error] of cases) {
      const sent = { grant_type: GRANT, subject_token_type: ACCESS, ...body };
      const res = await h.http.post('/token').auth(serviceA.client_id, serviceA.client_secret).send(sent);
      expect([res.status, res.body.error], JSON.stringify(body).slice(0, 200)).toEqual([400, error]);
    }
    const form = await h.http.post('/token').auth(serviceA.client_id, serviceA.client_secret).type('form')
      .send(`grant_type=${encodeURIComponent(GRANT)}&subject_token_type=${encodeURIComponent(ACCESS)}&subject_token=${subject.access_token}&resource=service-b&resource=service-b`);
    expect([form.status, form.body.error]).toEqual([400, 'invalid_request']);
  });
});

describe('registering a client for token exchange', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness('memory');
  });
  afterEach(() => h.close());

  const post = async (body: Record<string, unknown>) =>
    h.http.post('/admin/clients').set('Authorization', `Bearer ${await h.adminToken()}`).send({ name: 'x', scopes: ['read'], audiences: ['a'], ...body });

  it('stores exchange_audiences and exchange_accepts and shows them', async () => {
    const res = await post({ grant_types: ['client_credentials', GRANT], exchange_audiences: ['b', 'c', 'b'], exchange_accepts: ['a'] });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ grant_types: ['client_credentials', GRANT], exchange_audiences: ['b', 'c'], exchange_accepts: ['a'] });
    const shown = await h.http.get(`/admin/clients/${res.body.client_id}`).set('Authorization', `Bearer ${await h.adminToken()}`);
    expect(shown.body).toMatchObject({ exchange_audiences: ['b', 'c'], exchange_accepts: ['a'] });
    const exchangeOnly = await post({ grant_types: [GRANT], exchange_audiences: ['b'] });
    expect(exchangeOnly.status).toBe(201);
  });

  it('is described in /openapi.json: grant type, parameters, response member and registration fields', async () => {
    const doc = JSON.stringify((await h.http.get('/openapi.json')).body);
    for (const word of [GRANT, 'subject_token', 'subject_token_type', 'issued_token_type', 'exchange_audiences', 'exchange_accepts']) expect(doc).toContain(`"${word}"`);
  });

  it('refuses the grant type without exchange_audiences, and the fields without the grant type', async () => {
    for (const body of [
      { grant_types: ['client_credentials', GRANT] },
      { exchange_audiences: ['b'] },
      { grant_types: ['client_credentials'], exchange_accepts: ['a'] },
      { grant_types: [GRANT], exchange_audiences: [] },
      { grant_types: [GRANT, 'refresh_token'], exchange_audiences: ['b'] },
      { grant_types: [GRANT], exchange_audiences: [''] },
    ]) {
      const res = await post(body);
      expect([res.status, res.body.error], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
  });
});
