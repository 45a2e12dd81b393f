import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireAccessToken } from '../../guard/src/index.js';
import { createTokenClient, TokenClientError } from '../src/index.js';
import { recordingFetch, startAuthServer, type AuthServer, type Client } from './helpers/auth-server.js';

/**
 * A tiny resource server: verifies tokens with @tessera/guard against the real auth server's JWKS,
 * and also answers 401 for any token in `rejected` (as after a key is pulled or a token revoked).
 */
async function startResourceServer(issuer: string) {
  const seen: { path: string; authorization: string | undefined; body: unknown }[] = [];
  const rejected = new Set<string>();
  const app = express();
  app.use(express.json());
  app.use((req, res, next) => {
    seen.push({ path: req.path, authorization: req.headers.authorization, body: req.body });
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
    if (req.path === '/always-401' || rejected.has(token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer error="invalid_token"').json({ error: 'invalid_token' });
      return;
    }
    next();
  });
  app.use(requireAccessToken({ issuer, audience: 'collector' }));
  app.get('/forbidden', (_req, res) => void res.status(403).json({ error: 'insufficient_scope' }));
  app.all('/echo', (req, res) => void res.json({ client_id: req.auth?.claims.client_id, body: req.body ?? null }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    rejected,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('client.fetch', () => {
  let auth: AuthServer;
  let client: Client;
  let api: Awaited<ReturnType<typeof startResourceServer>>;

  beforeAll(async () => {
    auth = await startAuthServer();
    client = await auth.createClient();
    api = await startResourceServer(auth.issuer);
  });
  afterAll(async () => {
    await api?.close();
    await auth?.close();
  });
  beforeEach(() => {
    api.seen.length = 0;
  });

  const tokenClient = () => {
    const recorder = recordingFetch();
    const tokens = createTokenClient({ issuer: auth.issuer, clientId: client.client_id, clientSecret: client.client_secret, fetch: recorder.fetch });
    return { tokens, recorder };
  };

  it('sends the access token as a Bearer header, replacing any other Authorization', async () => {
    const { tokens } = tokenClient();
    const res = await tokens.fetch(`${api.url}/echo`, { headers: { authorization: 'Basic eDp5' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client_id: client.client_id, body: null });
    expect(api.seen).toEqual([expect.objectContaining({ authorization: `Bearer ${await tokens.getAccessToken()}` })]);
  });

  it('on a 401 gets a fresh token and retries once, replaying the body', async () => {
    const { tokens, recorder } = tokenClient();
    const stale = await tokens.getAccessToken();
    api.rejected.add(stale);

    const res = await tokens.fetch(new Request(`${api.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' }));

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client_id: client.client_id, body: { n: 1 } });
    expect(api.seen.map((s) => s.authorization)).toEqual([`Bearer ${stale}`, `Bearer ${await tokens.getAccessToken()}`]);
    expect(api.seen.map((s) => s.body)).toEqual([{ n: 1 }, { n: 1 }]);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
  });

  it('retries only once: a second 401 is returned as is', async () => {
    const { tokens, recorder } = tokenClient();
    const res = await tokens.fetch(`${api.url}/always-401`);
    expect(res.status).toBe(401);
    expect(api.seen).toHaveLength(2);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
  });

  it('does not retry other errors', async () => {
    const { tokens, recorder } = tokenClient();
    const res = await tokens.fetch(`${api.url}/forbidden`);
    expect(res.status).toBe(403);
    expect(api.seen).toHaveLength(1);
    expect(recorder.grants()).toEqual(['client_credentials']);
  });

  it('rejects with TokenClientError, without calling the resource server, when no token can be had', async () => {
    const tokens = createTokenClient({ issuer: auth.issuer, clientId: client.client_id, clientSecret: 'not-the-secret' });
    await expect(tokens.fetch(`${api.url}/echo`)).rejects.toBeInstanceOf(TokenClientError);
    expect(api.seen).toHaveLength(0);
  });
});
