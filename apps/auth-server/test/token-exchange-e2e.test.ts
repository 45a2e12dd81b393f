import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier, type VerifierOptions } from '@tessera/guard';
import { createTokenClient } from '@tessera/token-client';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../collector/src/app.js';
import { startAuthServer, type AuthServer, type Client } from '../../../packages/token-client/test/helpers/auth-server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

/** A real collector (AUDIENCE = `audience`) on a free port, verifying against the running auth server's JWKS. */
async function startCollector(issuer: string, audience: string, options: Partial<VerifierOptions> = {}) {
  const verifier = createVerifier({ issuer, audience, ...options });
  const app = createCollectorApp({ config: { requiredScope: 'collect', trustProxy: false }, verifier, logger: pino({ level: 'silent' }), registry: new Registry() });
  const server: Server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/collect`;
  return {
    collect: (token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('token exchange end to end: caller → service A → service B (→ service C)', () => {
  let auth: AuthServer;
  let caller: Client;
  let serviceA: Client;
  let serviceB: Client;
  const collectors: { close(): Promise<void> }[] = [];

  const tokenClient = (client: Client, extra: { resource?: string } = {}) =>
    createTokenClient({ issuer: auth.issuer, clientId: client.client_id, clientSecret: client.client_secret, ...extra });

  beforeAll(async () => {
    auth = await startAuthServer();
    caller = await auth.createClient({ name: 'caller', scopes: ['collect', 'read', 'write'], audiences: ['service-a'] });
    serviceA = await auth.createClient({
      name: 'service A',
      scopes: ['collect', 'read'],
      audiences: ['service-a'],
      grant_types: ['client_credentials', GRANT],
      exchange_audiences: ['service-b'],
      exchange_accepts: ['service-a'],
    });
    serviceB = await auth.createClient({
      name: 'service B',
      scopes: ['collect', 'read'],
      audiences: ['service-b'],
      grant_types: [GRANT],
      exchange_audiences: ['service-c'],
      exchange_accepts: ['service-b'],
    });
  });
  afterAll(async () => {
    await Promise.all(collectors.map((c) => c.close()));
    await auth?.close();
  });

  it('B (a collector with AUDIENCE=service-b) accepts the token A exchanged, and sees the caller as sub and A as act', async () => {
    const b = await startCollector(auth.issuer, 'service-b');
    collectors.push(b);
    const subject = await tokenClient(caller, { resource: 'service-a' }).getAccessToken();
    const forwarded = await b.collect(subject);
    expect(forwarded.status).toBe(401);
    expect(forwarded.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    const exchanged = await tokenClient(serviceA).exchange({ subjectToken: subject, resource: 'service-b' });
    const res = await b.collect(exchanged);
    expect(res.status).toBe(200);
    const seen = ((await res.json()) as { claims: Record<string, unknown> }).claims;
    expect(seen).toMatchObject({
      iss: auth.issuer,
      sub: caller.client_id,
      client_id: serviceA.client_id,
      aud: 'service-b',
      act: { sub: serviceA.client_id },
      scope: 'collect read',
    });
    expect(seen.exp as number).toBeLessThanOrEqual(claims(subject).exp as number);
  });

  it('a second hop nests act, and a guard with maxDelegationDepth 1 refuses it', async () => {
    const strict = await startCollector(auth.issuer, 'service-c', { maxDelegationDepth: 1 });
    const lenient = await startCollector(auth.issuer, 'service-c', { maxDelegationDepth: 2 });
    collectors.push(strict, lenient);
    const subject = await tokenClient(caller, { resource: 'service-a' }).getAccessToken();
    const forB = await tokenClient(serviceA).exchange({ subjectToken: subject, resource: 'service-b' });
    const forC = await tokenClient(serviceB).exchange({ subjectToken: forB, resource: 'service-c', scope: 'collect' });
    expect(claims(forC)).toMatchObject({
      sub: caller.client_id,
      client_id: serviceB.client_id,
      aud: 'service-c',
      scope: 'collect',
      act: { sub: serviceB.client_id, act: { sub: serviceA.client_id } },
    });
    expect(claims(forC).exp as number).toBeLessThanOrEqual(claims(forB).exp as number);

    const refused = await strict.collect(forC);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="the access token has 2 delegation levels/);
    const accepted = await lenient.collect(forC);
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { claims: { act: unknown } }).claims.act).toEqual({ sub: serviceB.client_id, act: { sub: serviceA.client_id } });
  });
});
