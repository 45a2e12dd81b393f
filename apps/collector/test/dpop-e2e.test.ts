import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenClient } from '../../../packages/token-client/src/index.js';
import { AppProcess } from '../../../test/support/app-process.js';
import { freePort } from '../../../test/support/redis-server.js';

const ADMIN = { id: 'e2e-admin', secret: 'e2e-admin-secret-0123456789abcdef-0123456789' };

/** The built auth server and collector as their own processes, DPoP nonces required, DPOP=required. */
describe('DPoP end to end: running auth server and collector', () => {
  let auth: AppProcess;
  let collector: AppProcess;
  let client: { client_id: string; client_secret: string };

  beforeAll(async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    auth = await AppProcess.start('auth-server', { PORT: String(port), ISSUER: issuer, ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret, DPOP_NONCE: 'required' });
    collector = await AppProcess.start('collector', { ISSUER: issuer, DPOP: 'required' });
    const admin = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${ADMIN.id}:${ADMIN.secret}`)}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    const { access_token } = (await admin.json()) as { access_token: string };
    const created = await fetch(`${issuer}/admin/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e', scopes: ['collect'], audiences: ['collector'], dpop_bound_access_tokens: true }),
    });
    expect(created.status).toBe(201);
    client = (await created.json()) as typeof client;
  });

  afterAll(async () => {
    await collector?.stop();
    await auth?.stop();
  });

  it('openid-client v6 (getDPoPHandle) obtains a DPoP-bound token and calls the collector with it', async () => {
    const config = await oidc.discovery(new URL(auth.url), client.client_id, undefined, oidc.ClientSecretBasic(client.client_secret), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(config, keyPair);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'collect' }, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256');
    expect(decodeJwt(tokens.access_token).cnf).toEqual({ jkt });

    const res = await oidc.fetchProtectedResource(config, tokens.access_token, new URL(`${collector.url}/collect`), 'GET', undefined, undefined, { DPoP: dpop });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { claims: { cnf: unknown } }).claims.cnf).toEqual({ jkt });

    const asBearer = await fetch(`${collector.url}/collect`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
  });

  it('the token-client does the same, through the auth server’s use_dpop_nonce round', async () => {
    const seen: string[] = [];
    const tokens = createTokenClient({
      issuer: auth.url,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      dpop: true,
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        const url = new URL(input instanceof Request ? input.url : String(input));
        if (url.pathname === '/token') seen.push(`${response.status} ${response.headers.get('dpop-nonce') ? 'nonce' : 'none'}`);
        return response;
      },
    });
    const res = await tokens.fetch(`${collector.url}/collect`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { claims: { cnf?: unknown } }).claims.cnf).toMatchObject({ jkt: expect.any(String) });
    expect(seen).toEqual(['400 nonce', '200 nonce']);
  });
});
