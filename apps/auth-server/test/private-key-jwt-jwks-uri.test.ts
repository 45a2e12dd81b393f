import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildOptions } from '../src/bootstrap.js';
import { ISSUER, startHarness, type Harness } from './harness.js';
import { ASSERTION_TYPE, signAssertion, testKey, type TestKey } from './support/assertions.js';

/** A client's key server: a real HTTP server on port 0 that counts every request per path. */
class KeyServer {
  readonly hits = new Map<string, number>();
  keys: object[] = [];
  cacheControl: string | undefined = 'max-age=300';
  #server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const path = req.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      if (path === '/big') {
        // 1 MB in chunks, without Content-Length: refused while streaming, not after
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[],"pad":"');
        const chunk = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 16; i++) res.write(chunk);
        return res.end('"}');
      }
      if (path === '/over64k') {
        // a usable key set, just over 64 KiB (the guard's own default limit is 512 KiB)
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys, pad: 'x'.repeat(64 * 1024) }));
      }
      if (path === '/slow') {
        const timer = setTimeout(() => res.end(JSON.stringify({ keys: this.keys })), 2000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      if (path === '/redirect') return res.writeHead(302, { location: '/jwks' }).end();
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', ...(this.cacheControl ? { 'cache-control': this.cacheControl } : {}) });
      res.end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  count(path = '/jwks'): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const COOLDOWN = 0.4;

describe('private_key_jwt with a jwks_uri (guard RemoteKeyset, SPEC §10 limits)', () => {
  let h: Harness;
  let keys: KeyServer;
  let k1: TestKey;

  const register = async (path: string) =>
    h.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${keys.url}${path}` });
  const token = async (key: TestKey, clientId: string, kid = key.kid) =>
    h.http
      .post('/token')
      .type('form')
      .send({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await signAssertion(key, clientId, `${ISSUER}/token`, { now: Math.floor(h.clock.ms / 1000), header: { kid } }),
      });

  const options: Partial<BuildOptions> = { clientKeysets: { cooldown: COOLDOWN, timeout: 300 } };

  beforeAll(async () => {
    h = await startHarness('memory', { AUTH_FAILURE_LIMIT: '0' }, options);
    keys = await new KeyServer().start();
    k1 = await testKey('ES256');
    keys.keys = [k1.publicJwk];
  });
  afterAll(async () => {
    await keys.stop();
    await h.close();
  });

  it('authenticates with a key fetched from the jwks_uri; a new kid refetches once; a stopped key server leaves cached keys working', async () => {
    const c = await register('/jwks');
    expect(c).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${keys.url}/jwks` });
    expect((await token(k1, c.client_id)).status).toBe(200);
    expect((await token(k1, c.client_id)).status).toBe(200);
    expect(keys.count()).toBe(1);

    const k2 = await testKey('PS256');
    keys.keys = [k1.publicJwk, k2.publicJwk];
    await sleep(COOLDOWN * 1000 + 50);
    const withNewKid = await token(k2, c.client_id);
    expect(withNewKid.status, JSON.stringify(withNewKid.body)).toBe(200);
    expect(keys.count()).toBe(2);

    await keys.stop();
    expect((await token(k1, c.client_id)).status).toBe(200);
    expect((await token(k2, c.client_id)).status).toBe(200);
    keys = await new KeyServer().start();
    keys.keys = [k1.publicJwk];
  });

  it('fetches at most once per cooldown for a burst of 20 unknown kids', async () => {
    const burst = await startHarness('memory', { AUTH_FAILURE_LIMIT: '0', RATE_LIMIT: '0' }, { clientKeysets: { timeout: 2000 } });
    try {
      const c = await burst.createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${keys.url}/jwks` });
      const send = async (kid: string) =>
        burst.http
          .post('/token')
          .type('form')
          .send({
            grant_type: 'client_credentials',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: await signAssertion(k1, c.client_id, `${ISSUER}/token`, { now: Math.floor(burst.clock.ms / 1000), header: { kid } }),
          });
      const before = keys.count();
      const first = await Promise.all(Array.from({ length: 20 }, (_, i) => send(`unknown-${i}`)));
      expect(first.every((r) => r.status === 401 && /\(kid\)/.test(r.body.error_description))).toBe(true);
      expect(keys.count() - before).toBe(1);
      const second = await Promise.all(Array.from({ length: 20 }, (_, i) => send(`other-${i}`)));
      expect(second.every((r) => r.status === 401)).toBe(true);
      expect(keys.count() - before).toBe(1);
      expect((await send(k1.kid)).status).toBe(200);
    } finally {
      await burst.close();
    }
  });

  it('refuses a 1 MB key set, one over 64 KiB, a slow one and a redirect (SSRF/DoS limits)', async () => {
    const redirectTarget = keys.count('/jwks');
    for (const [path, ms] of [
      ['/big', 2000],
      ['/over64k', 2000],
      ['/slow', 1500],
      ['/redirect', 2000],
    ] as const) {
      const c = await register(path);
      const started = performance.now();
      const res = await token(k1, c.client_id);
      expect(res.status, path).toBe(401);
      expect(res.body.error_description).toMatch(/\(jwks_uri\)/);
      expect(performance.now() - started).toBeLessThan(ms);
    }
    expect(keys.count('/redirect')).toBe(1);
    expect(keys.count('/jwks')).toBe(redirectTarget);
    const failures = h.logs.lines.filter((l) => l.event === 'client_jwks_fetch_failed');
    expect(failures.map((l) => (l.err as { message: string }).message).join('\n')).toMatch(/too large[\s\S]*too large[\s\S]*no answer within 300 ms[\s\S]*status 302/);
  });

  it('caches at least a minute even when the key server says max-age=1', async () => {
    keys.cacheControl = 'max-age=1';
    const c = await register('/jwks');
    expect((await token(k1, c.client_id)).status).toBe(200);
    const fetched = keys.count();
    await sleep(1300);
    expect((await token(k1, c.client_id)).status).toBe(200);
    await sleep(50);
    expect(keys.count()).toBe(fetched);
    keys.cacheControl = 'max-age=300';
  });
});

describe('jwks_uri registration', () => {
  it('accepts http only for loopback hosts outside production; https anywhere', async () => {
    const h = await startHarness('memory');
    try {
      const token = await h.adminToken();
      const post = (jwks_uri: string) =>
        h.http.post('/admin/clients').set('Authorization', `Bearer ${token}`).send({ name: 'u', scopes: ['collect'], audiences: ['collector'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri });
      for (const ok of ['https://keys.example/jwks', 'http://localhost:8080/jwks', 'http://127.0.0.2/jwks', 'http://[::1]:9/jwks']) {
        const res = await post(ok);
        expect(res.status, ok).toBe(201);
        expect(res.body).not.toHaveProperty('client_secret');
      }
      for (const bad of ['http://keys.example/jwks', 'ftp://127.0.0.1/jwks', 'not a url', 'https://user:pw@keys.example/jwks']) {
        const res = await post(bad);
        expect(res.status, bad).toBe(400);
        expect(res.body.error_description).toMatch(/^jwks_uri: /);
      }
    } finally {
      await h.close();
    }
  });
});
