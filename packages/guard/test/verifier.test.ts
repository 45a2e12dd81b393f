import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, InsufficientScopeError, InvalidTokenError, type Verifier } from '../src/index.js';
import { badTokens } from './helpers/attacks.js';
import { makeKey, TestIssuer } from './helpers/issuer.js';

let issuer: TestIssuer;
let attacker: TestIssuer;
let verifier: Verifier;

beforeAll(async () => {
  issuer = await TestIssuer.start();
  attacker = await TestIssuer.start();
  verifier = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600 });
});

afterAll(async () => {
  await issuer.stop();
  await attacker.stop();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('the token was accepted'),
    (error: unknown) => error,
  );
}

describe('verify', () => {
  it('returns the typed claims of a valid token', async () => {
    const token = await issuer.sign({ jti: 'abc', scope: 'collect read' });
    const claims = await verifier.verify(token, { scopes: ['collect'] });
    expect(claims).toMatchObject({
      iss: issuer.url,
      sub: 'client-1',
      aud: 'collector',
      jti: 'abc',
      client_id: 'client-1',
      scope: 'collect read',
    });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
  });

  it('exposes the act claim of a delegated token and refuses a malformed one', async () => {
    const act = { sub: 'service-b', act: { sub: 'service-a' } };
    const claims = await verifier.verify(await issuer.sign({ sub: 'caller', client_id: 'service-b', act }));
    expect(claims.act).toEqual(act);
    expect(claims.act?.act?.sub).toBe('service-a');
    for (const bad of ['service-a', { sub: 1 }, { act: { sub: 'x' } }, { sub: 'b', act: [] }, { sub: 'b', act: { sub: 'a', act: null } }, []]) {
      const error = await rejection(verifier.verify(await issuer.sign({ act: bad })));
      expect(error, JSON.stringify(bad)).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).description).toBe('the access token has an invalid act claim');
    }
  });

  it('refuses a token delegated more often than maxDelegationDepth', async () => {
    const once = await issuer.sign({ act: { sub: 'service-a' } });
    const twice = await issuer.sign({ act: { sub: 'service-b', act: { sub: 'service-a' } } });
    const plain = await issuer.sign({});
    const depth1 = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600, maxDelegationDepth: 1 });
    await expect(depth1.verify(plain)).resolves.toBeDefined();
    await expect(depth1.verify(once)).resolves.toMatchObject({ act: { sub: 'service-a' } });
    const error = await rejection(depth1.verify(twice));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).description).toBe('the access token has 2 delegation levels (act), more than the 1 accepted');
    const depth0 = createVerifier({ issuer: issuer.url, audience: 'collector', cooldown: 3600, maxDelegationDepth: 0 });
    expect(await rejection(depth0.verify(once))).toBeInstanceOf(InvalidTokenError);
    await expect(verifier.verify(twice)).resolves.toBeDefined();
  });

  it('accepts typ application/at+jwt and an aud array containing the audience', async () => {
    const token = await issuer.sign({ aud: ['billing', 'collector'] }, { header: { typ: 'application/at+jwt' } });
    await expect(verifier.verify(token)).resolves.toMatchObject({ aud: ['billing', 'collector'] });
  });

  it('takes the accepted audiences per call, checked again for a token it already verified', async () => {
    const token = await issuer.sign({}, { audience: 'billing' });
    await expect(verifier.verify(token, { audience: ['svc-a', 'billing'] })).resolves.toMatchObject({ aud: 'billing' });
    const refused = await rejection(verifier.verify(token));
    expect(refused).toBeInstanceOf(InvalidTokenError);
    expect((refused as InvalidTokenError).description).toBe('the access token is not intended for this audience');
    await expect(rejection(verifier.verify(token, { audience: 'svc-a' }))).resolves.toBeInstanceOf(InvalidTokenError);
    await expect(rejection(verifier.verify(await issuer.sign({ aud: [1] as unknown as string[] }), { audience: 'svc-a' }))).resolves.toBeInstanceOf(InvalidTokenError);
    await expect(verifier.verify(token, { audience: [] })).rejects.toThrow(TypeError);
  });

  it('honours the clock tolerance on exp and nbf', async () => {
    const now = Math.floor(Date.now() / 1000);
    const lenient = createVerifier({ issuer: issuer.url, audience: 'collector', clockTolerance: 120, cooldown: 3600 });
    const expired = await issuer.sign({ exp: now - 60, iat: now - 400 });
    const early = await issuer.sign({ nbf: now + 60, iat: now + 60 });
    await expect(lenient.verify(expired)).resolves.toBeTruthy();
    await expect(lenient.verify(early)).resolves.toBeTruthy();
    await expect(rejection(verifier.verify(expired))).resolves.toBeInstanceOf(InvalidTokenError);
  });

  it.each(['EdDSA', 'RS256', 'PS256'])('verifies %s tokens', async (alg) => {
    const key = await issuer.addKey(alg);
    const fresh = createVerifier({ issuer: issuer.url, audience: 'collector' });
    await expect(fresh.verify(await issuer.sign({}, { key }))).resolves.toMatchObject({ client_id: 'client-1' });
  });

  it('refuses algorithms outside the configured allowlist', async () => {
    const key = await issuer.addKey('PS256');
    const esOnly = createVerifier({ issuer: issuer.url, audience: 'collector', algorithms: ['ES256'] });
    const error = await rejection(esOnly.verify(await issuer.sign({}, { key })));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).description).toMatch(/algorithm is not allowed/);
  });

  it('raises insufficient_scope naming the required scopes', async () => {
    const token = await issuer.sign({ scope: 'read write' });
    const error = await rejection(verifier.verify(token, { scopes: 'collect' }));
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect((error as InsufficientScopeError).scopes).toEqual(['collect']);
    expect((error as InsufficientScopeError).wwwAuthenticate('collector')).toContain('scope="collect"');
  });

  it('does not treat a scope prefix as the scope', async () => {
    const token = await issuer.sign({ scope: 'collector collect:read' });
    await expect(rejection(verifier.verify(token, { scopes: ['collect'] }))).resolves.toBeInstanceOf(InsufficientScopeError);
  });

  it('accepts a token whose key publishes no alg and no use', async () => {
    const key = await makeKey();
    const { alg: _alg, use: _use, ...bare } = key.publicJwk;
    issuer.keys.push({ ...key, publicJwk: bare });
    const fresh = createVerifier({ issuer: issuer.url, audience: 'collector' });
    await expect(fresh.verify(await issuer.sign({}, { key }))).resolves.toBeTruthy();
  });
});

describe('JWT attack suite: every token is invalid_token', () => {
  it.each(badTokens)('$name', async ({ make, description }) => {
    const token = await make(issuer, attacker);
    const attackerRequests = { ...attacker.requests };
    const error = await rejection(verifier.verify(token, { scopes: ['collect'] }));
    expect(error).toBeInstanceOf(InvalidTokenError);
    const { status, code, description: text } = error as InvalidTokenError;
    expect({ status, code }).toEqual({ status: 401, code: 'invalid_token' });
    expect(text).toMatch(description);
    expect(text).not.toContain(token);
    expect(text).not.toContain('passwd');
    expect(attacker.requests).toEqual(attackerRequests);
  });
});
