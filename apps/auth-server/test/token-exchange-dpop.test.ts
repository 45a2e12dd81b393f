import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, startHarness, type Harness } from './harness.js';
import { dpopKey, proof, type DpopKey } from '../../../test/support/dpop.js';

type Client = { client_id: string; client_secret: string };

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';

describe('token exchange with DPoP (SPEC §14, §11)', () => {
  let h: Harness;
  let caller: Client;
  let callerKey: DpopKey;
  let aKey: DpopKey;
  let subject: string;

  const now = () => Math.floor(h.clock.ms / 1000);
  const tokenProof = (key: DpopKey) => proof(key, { htm: 'POST', htu: `${ISSUER}/token`, iat: now() });
  const exchange = async (client: Client, key?: DpopKey) => {
    const req = h.http.post('/token').auth(client.client_id, client.client_secret).type('form');
    if (key) req.set('DPoP', await tokenProof(key));
    return req.send({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS, resource: 'service-b' });
  };
  const serviceA = (extra: Record<string, unknown> = {}) =>
    h.createClient({ name: 'service A', scopes: ['read'], audiences: ['service-a'], grant_types: [GRANT], exchange_audiences: ['service-b'], exchange_accepts: ['service-a'], ...extra });

  beforeEach(async () => {
    h = await startHarness('memory');
    [callerKey, aKey] = await Promise.all([dpopKey(), dpopKey()]);
    caller = await h.createClient({ name: 'caller', scopes: ['read'], audiences: ['service-a'], grant_types: ['client_credentials'] });
    const bound = await h.http.post('/token').auth(caller.client_id, caller.client_secret).set('DPoP', await tokenProof(callerKey)).type('form').send({ grant_type: 'client_credentials', resource: 'service-a' });
    expect(bound.body.token_type).toBe('DPoP');
    subject = bound.body.access_token;
    expect(decodeJwt(subject).cnf).toEqual({ jkt: callerKey.jkt });
  });
  afterEach(() => h.close());

  it('accepts a DPoP-bound subject token from its audience and never copies its cnf', async () => {
    const res = await exchange(await serviceA());
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', issued_token_type: ACCESS });
    expect(decodeJwt(res.body.access_token)).not.toHaveProperty('cnf');
  });

  it('binds the new token to the exchange request’s own proof key', async () => {
    const res = await exchange(await serviceA(), aKey);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    const claims = decodeJwt(res.body.access_token);
    expect(claims.cnf).toEqual({ jkt: aKey.jkt });
    expect(claims).toMatchObject({ sub: caller.client_id, act: { sub: expect.any(String) } });
  });

  it('a client registered with dpop_bound_access_tokens needs a proof to exchange; a bad proof is invalid_dpop_proof', async () => {
    const bound = await serviceA({ dpop_bound_access_tokens: true });
    const refused = await exchange(bound);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'invalid_dpop_proof', error_description: expect.stringMatching(/dpop_bound_access_tokens/) });
    const wrongUrl = await h.http
      .post('/token')
      .auth(bound.client_id, bound.client_secret)
      .set('DPoP', await proof(aKey, { htm: 'POST', htu: `${ISSUER}/introspect`, iat: now() }))
      .type('form')
      .send({ grant_type: GRANT, subject_token: subject, subject_token_type: ACCESS, resource: 'service-b' });
    expect([wrongUrl.status, wrongUrl.body.error]).toEqual([400, 'invalid_dpop_proof']);
    expect((await exchange(bound, aKey)).body.token_type).toBe('DPoP');
  });
});
