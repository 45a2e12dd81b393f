import type { RequestListener } from '@tessera/service-kit';
import supertest from 'supertest';
import type { Express } from 'express';
import { createHttpServer, createLogger } from '@tessera/service-kit';
import { Writable } from 'node:stream';
import { createApp } from '../src/app.js';
import { buildDeps, ensureAdminClient, type BuildOptions } from '../src/bootstrap.js';
import { loadConfig } from '../src/config.js';
import type { AppDeps } from '../src/deps.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { RedisStore, connectRedis, type RedisConnection } from '../src/store/redis-store.js';
import type { Store } from '../src/store/store.js';
import { redisClusterNodes, redisUrl, uniquePrefix } from '../../../test/support/redis.js';

export type StoreKind = 'memory' | 'redis' | 'cluster';
/** Every store the integration suites run on: the Redis Cluster too when the test setup started one. */
export const STORE_KINDS: StoreKind[] = ['memory', 'redis', ...(redisClusterNodes().length ? (['cluster'] as const) : [])];

/** A clock tests move by hand. */
export class TestClock {
  constructor(public ms = Date.now()) {}
  readonly now = () => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface TestStore {
  store: Store;
  redis: RedisConnection | undefined;
  prefix: string;
}

export async function openStore(kind: StoreKind, clock: TestClock, prefix = uniquePrefix()): Promise<TestStore> {
  if (kind === 'memory') return { store: new MemoryStore(clock.now), redis: undefined, prefix };
  const redis = kind === 'cluster' ? connectRedis({ clusterNodes: redisClusterNodes() }) : connectRedis({ url: redisUrl() });
  await redis.connect();
  return { store: new RedisStore(redis, prefix, clock.now), redis, prefix };
}

/** Captures log lines for assertions. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        this.raw.push(line);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
}

export interface Harness {
  deps: AppDeps;
  app: RequestListener;
  /** the express app behind `app` (every route; the OAuth endpoints are served directly in front of it) */
  express: Express;
  http: ReturnType<typeof supertest>;
  clock: TestClock;
  logs: LogCapture;
  testStore: TestStore;
  admin: { clientId: string; secret: string };
  adminToken(): Promise<string>;
  createClient(body?: Record<string, unknown>): Promise<{ client_id: string; client_secret: string } & Record<string, unknown>>;
  clientCredentials(client: { client_id: string; client_secret: string }, extra?: Record<string, string>): Promise<supertest.Response>;
  refresh(client: { client_id: string; client_secret: string }, refreshToken: string, extra?: Record<string, string>): Promise<supertest.Response>;
  close(): Promise<void>;
}

export const ISSUER = 'http://auth.test';

/** The auth server's deps on a test store, with fixed secrets, debug logs captured and the bootstrap admin client. */
export async function buildTestDeps(testStore: TestStore, clock: TestClock, env: Record<string, string> = {}, options: Partial<BuildOptions> = {}) {
  const config = loadConfig({
    ISSUER,
    KEY_ENCRYPTION_SECRET: 'test-key-encryption-secret-0123456789abcdef',
    ADMIN_CLIENT_ID: 'test-admin',
    ADMIN_CLIENT_SECRET: 'test-admin-secret-0123456789abcdef-0123456789',
    ...env,
  });
  const logs = new LogCapture();
  const deps = await buildDeps(config, {
    logger: createLogger({ service: 'auth-server', level: 'debug', destination: logs.stream }),
    store: testStore.store,
    clock: clock.now,
    ...options,
  });
  const admin = await ensureAdminClient(deps);
  return { deps, admin, logs };
}

/** A real auth server app on the chosen store, driven through supertest. */
export async function startHarness(kind: StoreKind, env: Record<string, string> = {}, options: Partial<BuildOptions> = {}): Promise<Harness> {
  const clock = new TestClock();
  const testStore = await openStore(kind, clock);
  const { deps, admin, logs } = await buildTestDeps(testStore, clock, { ISSUER, ...env }, options);
  const app = createApp(deps).public;
  // the server main.ts makes (express's methods on the request and response prototypes)
  const server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const http = supertest(server);

  const adminToken = async () => {
    const res = await http.post('/token').auth(admin.clientId, admin.secret).type('form').send({ grant_type: 'client_credentials' });
    if (res.status !== 200) throw new Error(`admin token: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.access_token as string;
  };

  return {
    deps,
    app,
    express: app.app,
    http,
    clock,
    logs,
    testStore,
    admin,
    adminToken,
    async createClient(body = {}) {
      const res = await http
        .post('/admin/clients')
        .set('Authorization', `Bearer ${await adminToken()}`)
        .send({ name: 'test client', scopes: ['collect', 'read', 'write'], audiences: ['collector', 'reports'], ...body });
      if (res.status !== 201) throw new Error(`create client: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    clientCredentials(client, extra = {}) {
      return http.post('/token').auth(client.client_id, client.client_secret).type('form').send({ grant_type: 'client_credentials', ...extra });
    },
    refresh(client, refreshToken, extra = {}) {
      return http
        .post('/token')
        .auth(client.client_id, client.client_secret)
        .type('form')
        .send({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await testStore.store.close();
    },
  };
}
