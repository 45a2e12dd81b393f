import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenClient, TokenClientError } from '../src/index.js';
import { recordingFetch, startAuthServer, type AuthServer, type Client } from './helpers/auth-server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('token client exchange() against a real auth server', () => {
  let server: AuthServer;
  let caller: Client;
  let serviceA: Client;

  beforeAll(async () => {
    server = await startAuthServer({ ACCESS_TOKEN_TTL: '60' });
    caller = await server.createClient({ scopes: ['collect', 'read'], audiences: ['service-a'] });
    serviceA = await server.createClient({
      scopes: ['collect', 'read'],
      audiences: ['service-a'],
      grant_types: ['client_credentials', GRANT],
      exchange_audiences: ['service-b', 'service-c'],
      exchange_accepts: ['service-a'],
    });
  });
  afterAll(() => server?.close());

  const clientOf = (client: Client) => {
    const recorder = recordingFetch();
    const tokens = createTokenClient({
      issuer: server.issuer,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      refreshSkew: 10,
      clock: server.clock.now,
      fetch: recorder.fetch,
    });
    return { tokens, recorder };
  };

  it('exchanges a caller token for the target and caches it per subject token, target and scope until shortly before expiry', async () => {
    const subject = await clientOf(caller).tokens.getAccessToken();
    const { tokens, recorder } = clientOf(serviceA);
    const token = await tokens.exchange({ subjectToken: subject, resource: 'service-b' });
    expect(claims(token)).toMatchObject({ sub: caller.client_id, client_id: serviceA.client_id, aud: 'service-b', scope: 'collect read', act: { sub: serviceA.client_id } });
    expect(recorder.grants()).toEqual([GRANT]);

    server.clock.advance(45);
    expect(await tokens.exchange({ subjectToken: subject, resource: 'service-b' })).toBe(token);
    const narrow = await tokens.exchange({ subjectToken: subject, resource: 'service-b', scope: ['read'] });
    expect(claims(narrow).scope).toBe('read');
    expect(claims((await tokens.exchange({ subjectToken: subject, resource: 'service-c' })))).toMatchObject({ aud: 'service-c' });
    expect(recorder.grants()).toEqual([GRANT, GRANT, GRANT]);

    server.clock.advance(6); // 51 s of 60: inside the 10 s skew
    const renewed = await tokens.exchange({ subjectToken: subject, resource: 'service-b' });
    expect(renewed).not.toBe(token);
    expect(recorder.grants()).toHaveLength(4);
  });

  it('sends one request for concurrent exchanges of the same token and target', async () => {
    const subject = await clientOf(caller).tokens.getAccessToken();
    const { tokens, recorder } = clientOf(serviceA);
    const results = await Promise.all(Array.from({ length: 8 }, () => tokens.exchange({ subjectToken: subject, resource: 'service-b' })));
    expect(new Set(results).size).toBe(1);
    expect(recorder.grants()).toEqual([GRANT]);
  });

  it('surfaces the server’s refusal, does not cache it, and checks its arguments', async () => {
    const subject = await clientOf(caller).tokens.getAccessToken();
    const { tokens, recorder } = clientOf(serviceA);
    const error = await tokens.exchange({ subjectToken: subject, resource: 'elsewhere' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenClientError);
    expect(error).toMatchObject({ error: 'invalid_target', status: 400 });
    expect(String((error as Error).message)).not.toContain(subject);
    await expect(tokens.exchange({ subjectToken: subject, resource: 'elsewhere' })).rejects.toMatchObject({ error: 'invalid_target' });
    expect(recorder.grants()).toEqual([GRANT, GRANT]);
    await expect(tokens.exchange({ subjectToken: subject, resource: 'service-b', scope: 'write' })).rejects.toMatchObject({ error: 'invalid_scope' });
    await expect(tokens.exchange({ subjectToken: '', resource: 'service-b' })).rejects.toThrow(TypeError);
    await expect(tokens.exchange({ subjectToken: subject, resource: '' })).rejects.toThrow(TypeError);
    await expect(tokens.exchange({ subjectToken: subject, resource: 'service-b', scope: 'a"b' })).rejects.toThrow(TypeError);
  });
});
