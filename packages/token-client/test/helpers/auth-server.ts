import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../../../apps/auth-server/src/app.js';
import type { AppDeps } from '../../../../apps/auth-server/src/deps.js';
import { buildTestDeps, LogCapture, openStore, TestClock, type TestStore } from '../../../../apps/auth-server/test/harness.js';

export { TestClock };

export interface Client {
  client_id: string;
  client_secret: string;
}

/** A real auth server on Redis, listening on a free port, its ISSUER being that address. */
export interface AuthServer {
  issuer: string;
  deps: AppDeps;
  clock: TestClock;
  logs: LogCapture;
  createClient(body?: Record<string, unknown>): Promise<Client>;
  /** A value of one of the server's counters, e.g. `refresh_token_reuse_detected_total`. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startAuthServer(env: Record<string, string> = {}): Promise<AuthServer> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clock = new TestClock();
  const testStore: TestStore = await openStore('redis', clock);
  const { deps, admin, logs } = await buildTestDeps(testStore, clock, { ISSUER: issuer, ...env });
  server.on('request', createApp(deps).public);

  const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;

  return {
    issuer,
    deps,
    clock,
    logs,
    async createClient(body = {}) {
      const tokenRes = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic(admin.clientId, admin.secret) },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      const { access_token } = (await tokenRes.json()) as { access_token: string };
      const res = await fetch(`${issuer}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'token-client test', scopes: ['collect', 'read'], audiences: ['collector', 'reports'], ...body }),
      });
      if (res.status !== 201) throw new Error(`create client: ${res.status} ${await res.text()}`);
      return (await res.json()) as Client;
    },
    async counter(name, labels = {}) {
      const metric = deps.metrics.registry.getSingleMetric(name);
      if (!metric) throw new Error(`no metric ${name}`);
      const { values } = await metric.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await testStore.store.close();
    },
  };
}

/** A fetch that records every request it passes on to the real fetch, and the refresh tokens issued. */
export function recordingFetch() {
  const calls: { method: string; url: string; grantType: string | undefined; authorization: string | null; assertion: string | undefined }[] = [];
  const refreshTokens: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const body = request.method === 'POST' ? await request.clone().text() : '';
    calls.push({
      method: request.method,
      url: request.url,
      grantType: new URLSearchParams(body).get('grant_type') ?? undefined,
      authorization: request.headers.get('authorization'),
      assertion: new URLSearchParams(body).get('client_assertion') ?? undefined,
    });
    const response = await fetch(request);
    if (request.url.endsWith('/token') && response.status === 200) {
      const body = (await response.clone().json()) as { refresh_token?: string };
      if (body.refresh_token) refreshTokens.push(body.refresh_token);
    }
    return response;
  };
  return {
    fetch: wrapped,
    calls,
    refreshTokens,
    /** The grant types of the token requests, in order. */
    grants: () => calls.filter((c) => c.url.endsWith('/token')).map((c) => c.grantType),
  };
}
