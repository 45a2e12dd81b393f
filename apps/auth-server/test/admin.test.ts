import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { createApp } from '../src/app.js';
import { TestClock, buildTestDeps, openStore, startHarness, type Harness } from './harness.js';

describe('admin API', () => {
  let h: Harness;
  let admin: string;
  beforeEach(async () => {
    h = await startHarness('redis');
    admin = `Bearer ${await h.adminToken()}`;
  });
  afterEach(() => h.close());

  it('answers 401 with a Bearer challenge without a token, and for a bad one', async () => {
    const none = await h.http.get('/admin/clients');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="tessera-admin"');
    const bad = await h.http.get('/admin/clients').set('Authorization', 'Bearer not.a.jwt');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const malformed = await h.http.get('/admin/clients').set('Authorization', 'Bearer a b');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('invalid_request');
  });

  it('answers 403 insufficient_scope for a token without scope admin', async () => {
    const client = await h.createClient({ audiences: ['http://auth.test'] });
    const token = (await h.clientCredentials(client)).body.access_token;
    const res = await h.http.get('/admin/clients').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope", scope="admin"/);
  });

  it('creates a client showing the secret once, gets and lists it without, and deletes it', async () => {
    const created = await h.http
      .post('/admin/clients')
      .set('Authorization', admin)
      .send({ name: 'svc', scopes: ['collect'], audiences: ['collector'], access_token_ttl: 60 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      client_id: expect.any(String),
      client_secret: expect.any(String),
      name: 'svc',
      scopes: ['collect'],
      audiences: ['collector'],
      grant_types: ['client_credentials', 'refresh_token'],
      refresh_token_auth: 'client_secret',
      access_token_ttl: 60,
    });
    expect(created.body.client_secret.length).toBeGreaterThanOrEqual(43);
    const id = created.body.client_id;
    const got = await h.http.get(`/admin/clients/${id}`).set('Authorization', admin);
    expect(got.status).toBe(200);
    expect(got.body).not.toHaveProperty('client_secret');
    expect(got.body).not.toHaveProperty('secret_hash');
    const list = await h.http.get('/admin/clients?limit=1').set('Authorization', admin);
    expect(list.body.clients).toHaveLength(1);
    expect(list.body.next_cursor).toEqual(expect.any(String));
    const page2 = await h.http.get(`/admin/clients?limit=1&cursor=${list.body.next_cursor}`).set('Authorization', admin);
    expect(page2.body.next_cursor).toBeNull();
    expect([...list.body.clients, ...page2.body.clients].map((c: { client_id: string }) => c.client_id)).toContain(id);
    expect(JSON.stringify(page2.body)).not.toContain(created.body.client_secret);
    const token = await h.clientCredentials({ client_id: id, client_secret: created.body.client_secret });
    expect(token.body.expires_in).toBe(60);
    expect((await h.http.delete(`/admin/clients/${id}`).set('Authorization', admin)).status).toBe(204);
    expect((await h.http.get(`/admin/clients/${id}`).set('Authorization', admin)).status).toBe(404);
    expect((await h.http.delete(`/admin/clients/${id}`).set('Authorization', admin)).status).toBe(404);
  });

  it('replaces a secret at once', async () => {
    const client = await h.createClient();
    const rotated = await h.http.post(`/admin/clients/${client.client_id}/secret`).set('Authorization', admin);
    expect(rotated.status).toBe(200);
    expect(rotated.body.client_secret).not.toBe(client.client_secret);
    expect((await h.clientCredentials(client)).status).toBe(401);
    expect((await h.clientCredentials({ client_id: client.client_id, client_secret: rotated.body.client_secret })).status).toBe(200);
  });

  it('refuses bad client registrations with 400 invalid_request', async () => {
    const bad = [
      {},
      { name: 'x', scopes: [], audiences: ['a'] },
      { name: 'x', scopes: ['a b'], audiences: ['a'] },
      { name: 'x', scopes: ['a'], audiences: [] },
      { name: 'x', scopes: ['a'], audiences: ['a'], grant_types: ['password'] },
      { name: 'x', scopes: ['a'], audiences: ['a'], refresh_token_auth: 'maybe' },
      { name: 'x', scopes: ['a'], audiences: ['a'], access_token_ttl: 10_000_000 },
      { name: 'x', scopes: ['a'], audiences: ['a'], extra: true },
      { name: 42, scopes: ['a'], audiences: ['a'] },
    ];
    for (const body of bad) {
      const res = await h.http.post('/admin/clients').set('Authorization', admin).send(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    }
    const broken = await h.http.post('/admin/clients').set('Authorization', admin).set('Content-Type', 'application/json').send('{');
    expect(broken.status).toBe(400);
  });
});

describe('ADMIN_PORT (admin API on its own listener)', () => {
  it('serves /admin only on the admin app and nothing else there', async () => {
    const clock = new TestClock();
    const testStore = await openStore('memory', clock);
    const { deps, admin } = await buildTestDeps(testStore, clock, { ADMIN_PORT: '4999' });
    const apps = createApp(deps);
    expect(apps.admin).toBeDefined();
    const pub = supertest(apps.public);
    const adm = supertest(apps.admin!);
    const token = (await pub.post('/token').auth(admin.clientId, admin.secret).type('form').send({ grant_type: 'client_credentials' })).body.access_token;
    const onPublic = await pub.get('/admin/clients').set('Authorization', `Bearer ${token}`);
    expect(onPublic.status).toBe(404);
    expect(onPublic.body.error).toBe('not_found');
    const onAdmin = await adm.get('/admin/clients').set('Authorization', `Bearer ${token}`);
    expect(onAdmin.status).toBe(200);
    expect((await adm.post('/token').type('form').send({ grant_type: 'client_credentials' })).status).toBe(404);
    await testStore.store.close();
  });
});
