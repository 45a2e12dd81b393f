import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { buildDeps } from '../src/bootstrap.js';
import { loadConfig } from '../src/config.js';
import type { AppDeps } from '../src/deps.js';
import { LogCapture } from './harness.js';
import { RedisServer } from '../../../test/support/redis-server.js';

const COMMAND_TIMEOUT_MS = 1000;
/** no request may take longer than the command timeout plus this (scheduling on a busy 2-core box) */
const MARGIN_MS = 2000;
const WORKERS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  status: number;
  ms: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
}

describe('store outage', () => {
  let redis: RedisServer;
  let deps: AppDeps;
  let server: Server;
  let base: string;
  const logs = new LogCapture();
  let client: { id: string; secret: string };

  beforeAll(async () => {
    redis = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const config = loadConfig({
      ISSUER: 'http://auth.test',
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'faults:',
      REDIS_COMMAND_TIMEOUT: String(COMMAND_TIMEOUT_MS / 1000),
      KEY_ENCRYPTION_SECRET: 'test-key-encryption-secret-0123456789abcdef',
      RATE_LIMIT: '1000000',
    });
    deps = await buildDeps(config, { logger: pino({ level: 'info' }, logs.stream) });
    const created = await deps.clients.create({ name: 'faults', scopes: ['collect'], audiences: ['collector'] });
    client = { id: created.client.client_id, secret: created.secret };
    server = createServer(createApp(deps).public).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.close();
    await deps?.store.close();
    await redis?.stop();
  });

  async function post(path: string, form: Record<string, string>): Promise<Outcome> {
    const started = performance.now();
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as Record<string, unknown>;
    return { status: res.status, ms: performance.now() - started, body, retryAfter: res.headers.get('retry-after') };
  }

  const readyz = async () => (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(15_000) })).status;

  it('answers 503 with Retry-After in bounded time while Redis hangs or is down, recovers by itself, and never accepts a refresh token twice', async () => {
    const outcomes: Outcome[] = [];
    const accepted = new Map<string, number>();
    const issued = new Set<string>();
    /** refresh tokens whose rotation result was unknown (503) when first presented */
    const unknown = new Set<string>();
    const current: (string | undefined)[] = Array.from({ length: WORKERS }, () => undefined);
    let driving = true;

    const worker = async (w: number) => {
      for (let i = 0; driving && i < 5000; i++) {
        const presented = current[w];
        const out = presented
          ? await post(i % 2 ? '/token/refresh' : '/token', { grant_type: 'refresh_token', refresh_token: presented })
          : await post('/token', { grant_type: 'client_credentials', scope: 'collect' });
        outcomes.push(out);
        if (out.status === 200) {
          if (presented) accepted.set(presented, (accepted.get(presented) ?? 0) + 1);
          const next = out.body.refresh_token as string;
          expect(issued.has(next)).toBe(false);
          issued.add(next);
          current[w] = next;
        } else if (out.status === 503) {
          if (presented) unknown.add(presented);
          await sleep(50);
        } else {
          expect({ status: out.status, error: out.body.error, afterUnknown: presented !== undefined && unknown.has(presented) }).toEqual({
            status: 400,
            error: 'invalid_grant',
            afterUnknown: true,
          });
          current[w] = undefined;
        }
      }
    };

    const WAIT = { timeout: 10_000, interval: 50 };
    /** resolves once the requests sent since `since` include one answered `status` (10 s at most) */
    const answered = (status: number, since: number, count = 1) =>
      vi.waitFor(() => expect(outcomes.slice(since).filter((o) => o.status === status).length).toBeGreaterThanOrEqual(count), WAIT);

    const drivers = Array.from({ length: WORKERS }, (_, w) => worker(w));
    try {
      await answered(200, 0, WORKERS + 1);

      redis.pause();
      let mark = outcomes.length;
      await answered(503, mark);
      expect(await readyz()).toBe(503);
      redis.resume();
      mark = outcomes.length;
      await answered(200, mark);
      expect(await readyz()).toBe(200);

      await redis.kill();
      mark = outcomes.length;
      await answered(503, mark);
      expect(await readyz()).toBe(503);
      await redis.launch();
      mark = outcomes.length;
      await answered(200, mark, WORKERS);
    } finally {
      driving = false;
      for (const result of await Promise.allSettled(drivers)) if (result.status === 'rejected') throw result.reason;
    }

    for (const out of outcomes) {
      expect([200, 400, 503]).toContain(out.status);
      expect(out.ms).toBeLessThan(COMMAND_TIMEOUT_MS + MARGIN_MS);
      if (out.status === 503) {
        expect(out.body.error).toBe('temporarily_unavailable');
        expect(Number(out.retryAfter)).toBeGreaterThan(0);
      }
    }
    expect(outcomes.filter((o) => o.status === 503).length).toBeGreaterThan(0);
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);

    for (const token of current.filter((t): t is string => t !== undefined)) {
      if (accepted.has(token)) continue;
      expect((await post('/token', { grant_type: 'refresh_token', refresh_token: token })).status, 'an issued refresh token was not stored').toBe(200);
    }
    for (const spent of accepted.keys()) {
      const replay = await post('/token', { grant_type: 'refresh_token', refresh_token: spent });
      expect(replay.status, 'a spent refresh token was accepted again').toBe(400);
    }

    expect(logs.lines.filter((l) => l.event === 'store_unreachable')).toHaveLength(1);
    const unavailable = logs.lines.filter((l) => l.msg === 'store unavailable');
    expect(unavailable.length).toBeGreaterThan(0);
    for (const line of unavailable) expect(line.req_id).toEqual(expect.any(String));
    expect(logs.lines.some((l) => l.event === 'store_reconnected')).toBe(true);
    expect(logs.lines.filter((l) => l.level === 50 || l.level === 60)).toEqual([]);
  });
});
