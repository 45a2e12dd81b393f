import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenClient, TokenClientError, type TokenClientOptions } from '../src/index.js';
import { recordingFetch, startAuthServer, type AuthServer, type Client } from './helpers/auth-server.js';

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('token client against a real auth server', () => {
  let server: AuthServer;
  let client: Client;

  beforeAll(async () => {
    server = await startAuthServer({ ACCESS_TOKEN_TTL: '60' });
    client = await server.createClient();
  });
  afterAll(() => server?.close());

  const tokenClient = (extra: Partial<TokenClientOptions> = {}) => {
    const recorder = recordingFetch();
    const tokens = createTokenClient({
      issuer: server.issuer,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      refreshSkew: 10,
      clock: server.clock.now,
      fetch: recorder.fetch,
      ...extra,
    });
    return { tokens, recorder };
  };

  it('discovers the token endpoint and gets a token with client_credentials, then reuses it', async () => {
    const { tokens, recorder } = tokenClient();
    const token = await tokens.getAccessToken();

    expect(recorder.calls.map((c) => `${c.method} ${new URL(c.url).pathname}`)).toEqual([
      'GET /.well-known/oauth-authorization-server',
      'POST /token',
    ]);
    expect(recorder.grants()).toEqual(['client_credentials']);
    expect(claims(token)).toMatchObject({ iss: server.issuer, client_id: client.client_id, aud: 'collector' });

    server.clock.advance(49);
    expect(await tokens.getAccessToken()).toBe(token);
    expect(await Promise.all([tokens.getAccessToken(), tokens.getAccessToken()])).toEqual([token, token]);
    expect(recorder.calls).toHaveLength(2);
  });

  it('sends scope and resource with client_credentials', async () => {
    const { tokens } = tokenClient({ scope: ['read'], resource: 'reports' });
    expect(claims(await tokens.getAccessToken())).toMatchObject({ aud: 'reports', scope: 'read' });
  });

  it.each(['client_secret_basic', 'client_secret_post'] as const)('authenticates with %s', async (authMethod) => {
    const { tokens, recorder } = tokenClient({ authMethod });
    await tokens.getAccessToken();
    const tokenCall = recorder.calls.find((c) => c.url.endsWith('/token'))!;
    expect(tokenCall.authorization?.startsWith('Basic ') ?? false).toBe(authMethod === 'client_secret_basic');
  });

  it('refreshes refreshSkew seconds before expiry with the refresh token, and keeps each rotated one', async () => {
    const { tokens, recorder } = tokenClient();
    const reuseBefore = await server.counter('refresh_token_reuse_detected_total');
    const rotationsBefore = await server.counter('refresh_token_rotations_total');
    const first = await tokens.getAccessToken();

    server.clock.advance(51);
    const second = await tokens.getAccessToken();
    server.clock.advance(51);
    const third = await tokens.getAccessToken();

    expect(new Set([first, second, third]).size).toBe(3);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token', 'refresh_token']);
    expect(recorder.calls.filter((c) => c.method === 'GET')).toHaveLength(1);
    expect(await server.counter('refresh_token_rotations_total')).toBe(rotationsBefore + 2);
    expect(await server.counter('refresh_token_reuse_detected_total')).toBe(reuseBefore);
  });

  it('makes one token request for 100 concurrent callers across an expiry, never reusing a refresh token', async () => {
    const { tokens, recorder } = tokenClient();
    const reuseBefore = await server.counter('refresh_token_reuse_detected_total');
    const old = await tokens.getAccessToken();
    server.clock.advance(55);

    const results = await Promise.all(Array.from({ length: 100 }, () => tokens.getAccessToken()));

    expect(new Set(results).size).toBe(1);
    expect(results[0]).not.toBe(old);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
    expect(await server.counter('refresh_token_reuse_detected_total')).toBe(reuseBefore);
    expect(server.logs.lines.filter((l) => l.event === 'refresh_token_reuse')).toHaveLength(0);
  });

  it('falls back to client_credentials when its refresh token is rejected', async () => {
    const { tokens, recorder } = tokenClient();
    await tokens.getAccessToken();
    const spent = recorder.refreshTokens[0]!;
    const outOfBand = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: spent }),
    });
    expect(outOfBand.status).toBe(200);

    server.clock.advance(51);
    const token = await tokens.getAccessToken();
    expect(claims(token)).toMatchObject({ client_id: client.client_id });
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token', 'client_credentials']);

    server.clock.advance(51);
    await tokens.getAccessToken();
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token', 'client_credentials', 'refresh_token']);
  });

  it('gets a new token after invalidate(), by its refresh token', async () => {
    const { tokens, recorder } = tokenClient();
    const first = await tokens.getAccessToken();
    tokens.invalidate();
    expect(await tokens.getAccessToken()).not.toBe(first);
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
  });

  it('uses client_credentials every time for a client without the refresh_token grant', async () => {
    const noRefresh = await server.createClient({ grant_types: ['client_credentials'] });
    const { tokens, recorder } = tokenClient({ clientId: noRefresh.client_id, clientSecret: noRefresh.client_secret });
    await tokens.getAccessToken();
    server.clock.advance(51);
    await tokens.getAccessToken();
    expect(recorder.grants()).toEqual(['client_credentials', 'client_credentials']);
  });

  describe('errors', () => {
    it.each(['client_secret_basic', 'client_secret_post'] as const)('bad credentials (%s): invalid_client, 401, no secret in the message', async (authMethod) => {
      const secret = `wrong-${client.client_secret}`;
      const { tokens } = tokenClient({ clientSecret: secret, authMethod });
      const error = await tokens.getAccessToken().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TokenClientError);
      expect(error).toMatchObject({ error: 'invalid_client', status: 401 });
      expect((error as TokenClientError).error_description).toBeTruthy();
      expect(String(error)).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    });

    it('an unknown client: invalid_client, and the next call asks again', async () => {
      const { tokens, recorder } = tokenClient({ clientId: 'nobody' });
      await expect(tokens.getAccessToken()).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
      await expect(tokens.getAccessToken()).rejects.toMatchObject({ error: 'invalid_client', status: 401 });
      expect(recorder.grants()).toEqual(['client_credentials', 'client_credentials']);
    });

    it('a scope the client does not hold: invalid_scope', async () => {
      const { tokens } = tokenClient({ scope: 'admin' });
      await expect(tokens.getAccessToken()).rejects.toMatchObject({ name: 'TokenClientError', error: 'invalid_scope', status: 400 });
    });

    it('metadata naming another issuer: invalid_metadata, and the secret is never sent', async () => {
      const other = server.issuer.replace('127.0.0.1', 'localhost');
      const { tokens, recorder } = tokenClient({ issuer: other });
      await expect(tokens.getAccessToken()).rejects.toMatchObject({ error: 'invalid_metadata', status: 200 });
      expect(recorder.calls.map((c) => c.method)).toEqual(['GET']);
    });

    it('an issuer that does not answer: network_error', async () => {
      const { tokens } = tokenClient({ issuer: 'http://127.0.0.1:9' });
      const error = await tokens.getAccessToken().catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'TokenClientError', error: 'network_error', status: undefined });
      expect((error as Error).cause).toBeDefined();
    });
  });
});
