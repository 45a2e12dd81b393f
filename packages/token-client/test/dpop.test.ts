import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../../apps/collector/src/app.js';
import { createVerifier, MemoryDpopReplayStore, verifyDpopProof } from '../../guard/src/index.js';
import { createTokenClient } from '../src/index.js';
import { recordingFetch, startAuthServer, type AuthServer, type Client } from './helpers/auth-server.js';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** The real collector app, verifying against the auth server's JWKS. */
async function startCollector(issuer: string, dpop: 'allowed' | 'required' = 'allowed') {
  const verifier = createVerifier({ issuer, audience: 'collector' });
  const app = createCollectorApp({ config: { requiredScope: 'collect', trustProxy: false, dpop }, verifier, logger: pino({ level: 'silent' }), registry: new Registry() });
  const server = createServer(app);
  return { url: await listen(server), close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * A small resource server that demands a DPoP nonce (RFC 9449 §9): a request whose proof lacks the current
 * nonce gets 401 `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce`; it checks each proof with
 * the guard's verifyDpopProof.
 */
async function startNonceServer() {
  const nonce = 'resource-nonce-1';
  const seen: { nonce: unknown; status: number }[] = [];
  const replay = new MemoryDpopReplayStore();
  let url = '';
  const server = createServer(async (req, res) => {
    const token = /^DPoP (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const proof = req.headers.dpop;
    let status = 401;
    let body: unknown = { error: 'invalid_token' };
    let challenge = 'DPoP error="invalid_token"';
    if (token && typeof proof === 'string') {
      const claims = decodeJwt(proof);
      try {
        const checked = await verifyDpopProof({ proof, method: req.method!, url: `${url}${req.url}`, accessToken: token, replay, nonce: (n) => n === nonce });
        status = 200;
        body = { jkt: checked.jkt, nonce: claims.nonce };
      } catch (error) {
        if ((error as { code?: string }).code === 'use_dpop_nonce') {
          challenge = 'DPoP error="use_dpop_nonce", error_description="a nonce is required"';
          body = { error: 'use_dpop_nonce' };
        }
      }
      seen.push({ nonce: claims.nonce, status });
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', 'dpop-nonce': nonce };
    if (status === 401) headers['www-authenticate'] = challenge;
    res.writeHead(status, headers).end(JSON.stringify(body));
  });
  url = await listen(server);
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('token-client with dpop', () => {
  let auth: AuthServer;
  let client: Client;
  let collector: Awaited<ReturnType<typeof startCollector>>;

  beforeAll(async () => {
    auth = await startAuthServer();
    client = await auth.createClient();
    collector = await startCollector(auth.issuer, 'required');
  });
  afterAll(async () => {
    await collector?.close();
    await auth?.close();
  });

  it('gets a DPoP-bound token and calls the collector (DPOP=required) with a proof per request', async () => {
    const recorder = recordingFetch();
    const tokens = createTokenClient({ issuer: auth.issuer, clientId: client.client_id, clientSecret: client.client_secret, dpop: true, fetch: recorder.fetch });
    const first = await tokens.fetch(`${collector.url}/collect?x=1`);
    expect(first.status).toBe(200);
    const { claims } = (await first.json()) as { claims: { cnf: { jkt: string } } };
    expect(claims.cnf.jkt).toMatch(/^[\w-]{43}$/);
    expect((await tokens.fetch(`${collector.url}/collect`)).status).toBe(200);
    const resourceCalls = recorder.calls.filter((c) => c.url.startsWith(collector.url));
    expect(resourceCalls.map((c) => c.authorization?.split(' ')[0])).toEqual(['DPoP', 'DPoP']);
    expect(recorder.grants()).toEqual(['client_credentials']);
  });

  it('uses the given private key, and refreshes with the same key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA');
    const jkt = await calculateJwkThumbprint(await exportJWK(publicKey), 'sha256');
    const open = await auth.createClient({ refresh_token_auth: 'none' });
    const recorder = recordingFetch();
    const tokens = createTokenClient({ issuer: auth.issuer, clientId: open.client_id, clientSecret: open.client_secret, dpop: { privateKey }, fetch: recorder.fetch, clock: () => auth.clock.ms });
    expect(decodeJwt(await tokens.getAccessToken()).cnf).toEqual({ jkt });
    auth.clock.advance(900);
    const refreshed = await tokens.getAccessToken();
    expect(recorder.grants()).toEqual(['client_credentials', 'refresh_token']);
    expect(decodeJwt(refreshed).cnf).toEqual({ jkt });
  });

  it('checks the dpop option at construction', () => {
    const base = { issuer: auth.issuer, clientId: 'c', clientSecret: 's' };
    expect(() => createTokenClient({ ...base, dpop: 'yes' as never })).toThrow(/"dpop"/);
    expect(() => createTokenClient({ ...base, dpop: { privateKey: 'pem' as never } })).toThrow(/"dpop"/);
  });
});

describe('token-client: use_dpop_nonce from either side', () => {
  let auth: AuthServer;
  let client: Client;
  let resource: Awaited<ReturnType<typeof startNonceServer>>;

  beforeAll(async () => {
    auth = await startAuthServer({ DPOP_NONCE: 'required' });
    client = await auth.createClient();
    resource = await startNonceServer();
  });
  afterAll(async () => {
    await resource?.close();
    await auth?.close();
  });

  it('retries once with the nonce at the token endpoint and at the resource server', async () => {
    const recorder = recordingFetch();
    const tokens = createTokenClient({ issuer: auth.issuer, clientId: client.client_id, clientSecret: client.client_secret, dpop: true, fetch: recorder.fetch });
    const res = await tokens.fetch(`${resource.url}/data`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ nonce: 'resource-nonce-1' });
    expect(recorder.grants()).toEqual(['client_credentials', 'client_credentials']);
    expect(resource.seen).toEqual([
      { nonce: undefined, status: 401 },
      { nonce: 'resource-nonce-1', status: 200 },
    ]);
    // the nonces are remembered: the next call needs no extra round on either side
    expect((await tokens.fetch(`${resource.url}/data`)).status).toBe(200);
    expect(resource.seen).toHaveLength(3);
  });
});
