import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

type Client = { client_id: string; client_secret: string };

describe('RFC 7009 revocation and RFC 7662 introspection', () => {
  let h: Harness;
  let client: Client;
  let introspector: Client;

  beforeEach(async () => {
    h = await startHarness('redis', { ACCESS_TOKEN_TTL: '300' });
    client = await h.createClient();
    introspector = await h.createClient({ scopes: ['introspect'], grant_types: ['client_credentials'] });
  });
  afterEach(() => h.close());

  const revoke = (as: Client, token: string, hint?: string) =>
    h.http
      .post('/revoke')
      .auth(as.client_id, as.client_secret)
      .type('form')
      .send({ token, ...(hint ? { token_type_hint: hint } : {}) });
  const introspect = (token: string, as: Client = introspector) =>
    h.http.post('/introspect').auth(as.client_id, as.client_secret).type('form').send({ token });

  it('introspects an active access token with its claims and a refresh token', async () => {
    const tokens = (await h.clientCredentials(client, { scope: 'read' })).body;
    const at = await introspect(tokens.access_token);
    expect(at.status).toBe(200);
    expect(at.headers['cache-control']).toBe('no-store');
    expect(at.body).toMatchObject({
      active: true,
      token_type: 'access_token',
      client_id: client.client_id,
      sub: client.client_id,
      scope: 'read',
      aud: 'collector',
      iss: 'http://auth.test',
      exp: expect.any(Number),
      iat: expect.any(Number),
      jti: expect.any(String),
    });
    const rt = await introspect(tokens.refresh_token);
    expect(rt.body).toMatchObject({ active: true, token_type: 'refresh_token', client_id: client.client_id, scope: 'read' });
  });

  it('answers {active:false} for expired, spent, malformed and foreign tokens', async () => {
    const tokens = (await h.clientCredentials(client)).body;
    await h.refresh(client, tokens.refresh_token);
    expect((await introspect(tokens.refresh_token)).body).toEqual({ active: false });
    expect((await introspect('garbage')).body).toEqual({ active: false });
    expect((await introspect('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')).body).toEqual({ active: false });
    h.clock.advance(301);
    expect((await introspect(tokens.access_token)).body).toEqual({ active: false });
  });

  it('refuses callers without scope introspect or admin, and unauthenticated ones', async () => {
    const token = (await h.clientCredentials(client)).body.access_token;
    const res = await introspect(token, client);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
    const anonymous = await h.http.post('/introspect').type('form').send({ token });
    expect(anonymous.status).toBe(401);
    const admin = await introspect(token, { client_id: h.admin.clientId, client_secret: h.admin.secret });
    expect(admin.body.active).toBe(true);
  });

  it('revokes a whole family from its current token', async () => {
    const first = (await h.clientCredentials(client)).body;
    const second = (await h.refresh(client, first.refresh_token)).body;
    const res = await revoke(client, second.refresh_token, 'refresh_token');
    expect(res.status).toBe(200);
    expect((await h.refresh(client, second.refresh_token)).body.error).toBe('invalid_grant');
    expect((await introspect(second.refresh_token)).body.active).toBe(false);
  });

  it('revokes a whole family from an already spent token', async () => {
    const first = (await h.clientCredentials(client)).body;
    const second = (await h.refresh(client, first.refresh_token)).body;
    expect((await revoke(client, first.refresh_token)).status).toBe(200);
    expect((await h.refresh(client, second.refresh_token)).body.error).toBe('invalid_grant');
  });

  it('denies a revoked access token jti at introspection until it expires', async () => {
    const token = (await h.clientCredentials(client)).body.access_token;
    expect((await revoke(client, token, 'access_token')).status).toBe(200);
    expect((await introspect(token)).body).toEqual({ active: false });
  });

  it('does not let a client revoke another client’s tokens', async () => {
    const other = await h.createClient();
    const tokens = (await h.clientCredentials(client)).body;
    const res = await revoke(other, tokens.refresh_token);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unauthorized_client');
    expect((await revoke(other, tokens.access_token)).status).toBe(400);
    expect((await introspect(tokens.access_token)).body.active).toBe(true);
    expect((await h.refresh(client, tokens.refresh_token)).status).toBe(200);
  });

  it('answers 200 for unknown tokens and 400 without a token or 401 without client auth', async () => {
    expect((await revoke(client, 'unknown-token')).status).toBe(200);
    expect((await revoke(client, 'A'.repeat(22) + '.' + 'B'.repeat(43))).status).toBe(200);
    const missing = await h.http.post('/revoke').auth(client.client_id, client.client_secret).type('form').send({});
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
    expect((await h.http.post('/revoke').type('form').send({ token: 'x' })).status).toBe(401);
  });

  it('lists both endpoints in the RFC 8414 metadata', async () => {
    const meta = (await h.http.get('/.well-known/oauth-authorization-server')).body;
    expect(meta.revocation_endpoint).toBe('http://auth.test/revoke');
    expect(meta.introspection_endpoint).toBe('http://auth.test/introspect');
  });
});
