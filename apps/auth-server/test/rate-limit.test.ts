import { Redis } from 'ioredis';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/bootstrap.js';
import { RedisStore, connectRedis } from '../src/store/redis-store.js';
import { LogCapture, STORE_KINDS, startHarness, type Harness } from './harness.js';
import { redisUrl } from '../../../test/support/redis.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function harness(kind: Parameters<typeof startHarness>[0], env: Record<string, string>): Promise<Harness> {
  const h = await startHarness(kind, env);
  open.push(h);
  return h;
}

/** A client made through the registry, so the admin token requests do not spend the limits under test. */
async function newClient(h: Harness) {
  const { client, secret } = await h.deps.clients.create({ name: 'limited', scopes: ['collect'], audiences: ['collector'] });
  return { client_id: client.client_id, client_secret: secret };
}

describe.each(STORE_KINDS)('rate limits on the %s store', (kind) => {
  it('answers 429 rate_limited with RateLimit headers once RATE_LIMIT requests a minute are spent', async () => {
    const h = await harness(kind, { RATE_LIMIT: '4' });
    const client = await newClient(h);
    for (let i = 0; i < 4; i++) {
      const res = await h.clientCredentials(client);
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toMatch(/q=4; w=60/);
      expect(res.headers.ratelimit).toMatch(new RegExp(`r=${3 - i};`));
    }
    const limited = await h.http.post('/token/refresh').auth(client.client_id, client.client_secret).type('form').send({ refresh_token: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: 'rate_limited', error_description: expect.stringContaining('4 a minute') });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers.ratelimit).toMatch(/r=0;/);

    expect((await h.clientCredentials(await newClient(h))).status).toBe(200);
    expect(await h.deps.metrics.registry.getSingleMetricAsString('rate_limited_requests_total')).toMatch(/limit="requests"} 1/);
  });

  it('locks a client id and address out after AUTH_FAILURE_LIMIT failed authentications, even with the right secret', async () => {
    const h = await harness(kind, { AUTH_FAILURE_LIMIT: '3', TRUST_PROXY: 'true' });
    const client = await h.createClient();
    const from = (ip: string) => h.http.post('/token').set('X-Forwarded-For', ip).type('form');
    for (let i = 0; i < 3; i++) {
      const bad = await from('203.0.113.7').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: `wrong-${i}` });
      expect(bad.status).toBe(401);
    }
    const locked = await from('203.0.113.7').auth(client.client_id, client.client_secret).send({ grant_type: 'client_credentials' });
    expect(locked.status).toBe(429);
    expect(locked.body.error).toBe('rate_limited');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    expect(locked.headers['ratelimit-policy']).toBe('"auth-failures"; q=3; w=900');
    const revoke = await from('203.0.113.7').auth(client.client_id, client.client_secret).send({ token: 'x' });
    expect(revoke.status).toBe(429);

    expect((await from('198.51.100.2').auth(client.client_id, client.client_secret).send({ grant_type: 'client_credentials' })).status).toBe(200);

    const events = h.logs.lines.filter((l) => l.event === 'client_authentication_failures');
    expect(events).toEqual([expect.objectContaining({ level: 40, client_id: client.client_id, ip: '203.0.113.7', failures: 3 })]);
    expect(h.logs.raw.join('\n')).not.toContain('wrong-');
    expect(await h.deps.metrics.registry.getSingleMetricAsString('rate_limited_requests_total')).toMatch(/limit="auth_failures"} 2/);
  });

  it('counts failed client authentications at /introspect toward the lockout, without RATE_LIMIT there', async () => {
    const h = await harness(kind, { AUTH_FAILURE_LIMIT: '2', RATE_LIMIT: '1' });
    const caller = await h.createClient({ scopes: ['introspect'] });
    const introspect = () => h.http.post('/introspect').type('form');
    for (let i = 0; i < 3; i++) expect((await introspect().auth(caller.client_id, caller.client_secret).send({ token: 'x' })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await introspect().auth(caller.client_id, `wrong-${i}`).send({ token: 'x' })).status).toBe(401);
    const locked = await introspect().auth(caller.client_id, caller.client_secret).send({ token: 'x' });
    expect(locked.status).toBe(429);
    expect(locked.headers['ratelimit-policy']).toBe('"auth-failures"; q=2; w=900');
  });

  it('ends each window when the injected clock passes it, not the wall clock', async () => {
    const h = await harness(kind, { RATE_LIMIT: '2', AUTH_FAILURE_LIMIT: '2' });
    const client = await newClient(h);
    expect((await h.clientCredentials(client)).status).toBe(200);
    expect((await h.clientCredentials(client)).status).toBe(200);
    h.clock.advance(30);
    const limited = await h.clientCredentials(client);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('30');
    h.clock.advance(30);
    const again = await h.clientCredentials(client);
    expect(again.status).toBe(200);
    expect(again.headers.ratelimit).toBe('"requests"; r=1; t=60');

    const other = await newClient(h);
    for (let i = 0; i < 2; i++) expect((await h.clientCredentials({ ...other, client_secret: 'wrong' })).status).toBe(401);
    await expect.poll(async () => (await h.clientCredentials(other)).status).toBe(429);
    h.clock.advance(15 * 60 - 1);
    expect((await h.clientCredentials(other)).headers['retry-after']).toBe('1');
    h.clock.advance(1);
    expect((await h.clientCredentials(other)).status).toBe(200);
  });

  it('turns each limit off with 0', async () => {
    const h = await harness(kind, { RATE_LIMIT: '0', AUTH_FAILURE_LIMIT: '0' });
    const client = await h.createClient();
    for (let i = 0; i < 4; i++) {
      expect((await h.clientCredentials({ ...client, client_secret: 'wrong' })).status).toBe(401);
    }
    const res = await h.clientCredentials(client);
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-policy']).toBeUndefined();
  });
});

describe('rate limits across instances', () => {
  it('shares the counters of every instance on one Redis prefix, in keys that expire', async () => {
    const a = await harness('redis', { RATE_LIMIT: '4', AUTH_FAILURE_LIMIT: '2' });
    const redis = connectRedis({ url: redisUrl() });
    await redis.connect();
    const store = new RedisStore(redis, a.testStore.prefix);
    open.push(store);
    const depsB = await buildDeps(a.deps.config, { logger: pino({ level: 'silent' }, new LogCapture().stream), store });
    const b = supertest(createApp(depsB).public);
    const client = await newClient(a);
    const token = (http: typeof b) => http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials' });

    expect((await token(a.http)).status).toBe(200);
    expect((await token(b)).status).toBe(200);
    expect((await token(a.http)).status).toBe(200);
    expect((await token(b)).status).toBe(200);
    expect((await token(a.http)).status).toBe(429);
    expect((await token(b)).status).toBe(429);

    const other = await newClient(a);
    const bad = (http: typeof b) => http.post('/token').auth(other.client_id, 'wrong').type('form').send({ grant_type: 'client_credentials' });
    expect((await bad(a.http)).status).toBe(401);
    expect((await bad(b)).status).toBe(401);
    expect((await b.post('/token').auth(other.client_id, other.client_secret).type('form').send({ grant_type: 'client_credentials' })).status).toBe(429);

    const keys = await redis.keys(`${a.testStore.prefix}rate-limit:*`);
    const counter = (name: string, clientId: string) => new RegExp(`^${a.testStore.prefix}rate-limit:\\{[\\w-]{4}\\}:${name}:.*\\|${clientId}$`);
    expect(keys.some((k) => counter('requests', client.client_id).test(k))).toBe(true);
    expect(keys.some((k) => counter('auth-failures', other.client_id).test(k))).toBe(true);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(15 * 60_000);
    }
  });
});

describe('rate limits ride in the grant\'s script (one Redis call per /token)', () => {
  /** Counts the script calls that name this harness's keys, as Redis's MONITOR sees them (not the commands scripts run). */
  async function scriptCalls(prefix: string) {
    const redis = new Redis(redisUrl());
    const monitor = await redis.monitor();
    const calls: string[] = [];
    let probed = false;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[1] === `${prefix}monitor-probe`) probed = true;
      if (source !== 'lua' && /^eval/i.test(args[0] ?? '') && args.some((a) => a.startsWith(prefix))) calls.push(args[0]!);
    });
    // MONITOR starts streaming asynchronously: wait until it sees a command of ours
    await expect.poll(async () => (await redis.get(`${prefix}monitor-probe`), probed)).toBe(true);
    return {
      calls,
      close: async () => {
        monitor.disconnect();
        redis.disconnect();
      },
    };
  }

  it('charges the limiter and the lockout in the client_credentials and refresh scripts: one script call each, on Redis', async () => {
    const h = await harness('redis', { RATE_LIMIT: '100', AUTH_FAILURE_LIMIT: '5' });
    const client = await h.createClient({ grant_types: ['client_credentials', 'refresh_token'] });
    const seen = await scriptCalls(h.testStore.prefix);
    open.push(seen);
    const before = seen.calls.length;
    const issued = await h.clientCredentials(client);
    expect(issued.status).toBe(200);
    expect(issued.headers.ratelimit).toBe('"requests"; r=99; t=60');
    await expect.poll(() => seen.calls.length - before).toBe(1);
    const refreshed = await h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.ratelimit).toBe('"requests"; r=98; t=60');
    await expect.poll(() => seen.calls.length - before).toBe(2);
  });

  it.each(STORE_KINDS)('writes nothing for a grant over the limit, and spends no refresh token (%s)', async (kind) => {
    const h = await harness(kind, { RATE_LIMIT: '2' });
    const client = await h.createClient({ grant_types: ['client_credentials', 'refresh_token'] });
    const issued = await h.clientCredentials(client);
    expect(issued.status).toBe(200);
    const refresh = (token: string) => h.http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'refresh_token', refresh_token: token });
    const limitedToken = await h.clientCredentials(client).then(() => h.clientCredentials(client));
    expect(limitedToken.status).toBe(429);
    expect(limitedToken.body.refresh_token).toBeUndefined();
    expect((await refresh(issued.body.refresh_token)).status).toBe(429);
    h.clock.advance(60);
    // the refused refresh spent nothing: the token is still current, and no reuse is detected
    const rotated = await refresh(issued.body.refresh_token);
    expect(rotated.status).toBe(200);
    expect(await h.deps.metrics.registry.getSingleMetricAsString('refresh_token_reuse_detected_total')).toMatch(/ 0$/m);
  });
});
