import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { dpopKey, proof, type DpopKey } from '../../../test/support/dpop.js';
import { createApp } from '../src/app.js';

const CHALLENGE = /^Bearer realm="collector", DPoP algs="ES256 ES384 EdDSA RS256 PS256", error="invalid_dpop_proof", error_description="[^"]+"$/;

async function startCollector(issuer: TestIssuer, dpop: 'allowed' | 'required' = 'allowed') {
  const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
  const app = createApp({ config: { requiredScope: 'collect', trustProxy: false, dpop }, verifier, logger: pino({ level: 'silent' }), registry: new Registry() });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

describe('collector: DPoP (DPOP=allowed)', () => {
  let issuer: TestIssuer;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let key: DpopKey;
  let other: DpopKey;
  const collect = () => `${collector.url}/collect`;
  const call = (token: string, p?: string, extra: Record<string, string> = {}) =>
    fetch(collect(), { headers: { authorization: `DPoP ${token}`, ...(p ? { dpop: p } : {}), ...extra } });

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    collector = await startCollector(issuer);
    key = await dpopKey();
    other = await dpopKey();
  });
  afterAll(async () => {
    collector.close();
    await issuer.stop();
  });

  it('answers 200 with the claims, cnf included, to a bound token with a valid proof', async () => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt } });
    const res = await call(token, await proof(key, { htm: 'GET', htu: collect(), accessToken: token }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { claims: unknown }).claims).toMatchObject({ cnf: { jkt: key.jkt } });
  });

  it.each([
    ['a proof for another URL', (t: string) => proof(key, { htm: 'GET', htu: `${collector.url}/healthz`, accessToken: t })],
    ['a proof for another method', (t: string) => proof(key, { htm: 'POST', htu: collect(), accessToken: t })],
    ['an ath of another token', () => proof(key, { htm: 'GET', htu: collect(), accessToken: 'other' })],
    ['a proof key other than cnf.jkt', (t: string) => proof(other, { htm: 'GET', htu: collect(), accessToken: t })],
    ['a stale iat', (t: string) => proof(key, { htm: 'GET', htu: collect(), accessToken: t, iat: Math.floor(Date.now() / 1000) - 120 })],
  ])('answers 401 invalid_dpop_proof with the §7.1 challenge to %s', async (_name, make) => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt } });
    const res = await call(token, await make(token));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(CHALLENGE);
  });

  it('answers 401 to a replayed proof', async () => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt } });
    const p = await proof(key, { htm: 'GET', htu: collect(), accessToken: token });
    expect((await call(token, p)).status).toBe(200);
    const again = await call(token, p);
    expect(again.status).toBe(401);
    expect(again.headers.get('www-authenticate')).toMatch(CHALLENGE);
  });

  it('answers 401 invalid_token to a bound token as Bearer', async () => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt } });
    const res = await fetch(collect(), { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="collector", error="invalid_token", error_description="[^"]+", DPoP algs="[^"]+"$/);
  });

  it('ignores a forwarded host without TRUST_PROXY', async () => {
    const token = await issuer.sign({ cnf: { jkt: key.jkt } });
    const p = await proof(key, { htm: 'GET', htu: 'https://collector.example/collect', accessToken: token });
    const res = await call(token, p, { 'x-forwarded-host': 'collector.example', 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(CHALLENGE);
  });
});

describe('collector: DPOP=required', () => {
  it('answers 401 with the DPoP challenge to a Bearer token, 200 to a bound token with a proof', async () => {
    const issuer = await TestIssuer.start();
    const collector = await startCollector(issuer, 'required');
    try {
      const bearer = await fetch(`${collector.url}/collect`, { headers: { authorization: `Bearer ${await issuer.sign()}` } });
      expect(bearer.status).toBe(401);
      expect(bearer.headers.get('www-authenticate')).toMatch(/^DPoP algs="[^"]+", error="invalid_token"/);
      const key = await dpopKey();
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      const ok = await fetch(`${collector.url}/collect`, {
        headers: { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${collector.url}/collect`, accessToken: token }) },
      });
      expect(ok.status).toBe(200);
    } finally {
      collector.close();
      await issuer.stop();
    }
  });
});
