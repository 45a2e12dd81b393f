import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createVerifier, InsufficientScopeError, InvalidTokenError } from '../src/index.js';
import { TestIssuer } from './helpers/issuer.js';

let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await TestIssuer.start();
});

afterAll(async () => {
  await issuer.stop();
});

describe('verified token cache', () => {
  it('checks the scopes of a remembered token on every call', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', jwksUri: issuer.jwksUri });
    const token = await issuer.sign({ scope: 'collect' });
    expect((await verifier.verify(token, { scopes: 'collect' })).scope).toBe('collect');
    await expect(verifier.verify(token, { scopes: 'admin' })).rejects.toBeInstanceOf(InsufficientScopeError);
    expect((await verifier.verify(token, { scopes: 'collect' })).scope).toBe('collect');
  });

  it('hands out copies: changing the claims returned does not change the next answer', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: ['collector'][0]!, jwksUri: issuer.jwksUri });
    const token = await issuer.sign({ scope: 'collect' });
    const first = await verifier.verify(token);
    first.scope = 'admin';
    const second = await verifier.verify(token);
    second.sub = 'someone-else';
    expect(await verifier.verify(token)).toMatchObject({ scope: 'collect', sub: 'client-1' });
  });

  it('answers a remembered token with the same claims as its first verification, nested and odd members included', async () => {
    const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', jwksUri: issuer.jwksUri });
    const claims = JSON.parse('{"scope":"collect","act":{"sub":"a","act":{"sub":"b"}},"list":[1,null,{"x":true}],"__proto__":{"polluted":1}}') as Record<string, unknown>;
    const token = await issuer.sign(claims);
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    expect(second).toEqual(first);
    expect(Object.hasOwn(second, '__proto__')).toBe(true);
    expect((second as { polluted?: unknown }).polluted).toBeUndefined();
    (second.act as { act: { sub: string } }).act.sub = 'changed';
    (second.list as unknown[]).push(2);
    expect(await verifier.verify(token)).toEqual(first);
  });

  it('forgets a token once it expires (exp plus the clock tolerance)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', jwksUri: issuer.jwksUri, clockTolerance: 2, cacheMaxAge: 3600 });
      const now = Math.floor(Date.now() / 1000);
      const token = await issuer.sign({ exp: now + 10 });
      await verifier.verify(token);
      vi.setSystemTime((now + 11) * 1000);
      await verifier.verify(token);
      vi.setSystemTime((now + 12) * 1000);
      await expect(verifier.verify(token)).rejects.toThrow(/expired/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('rejects a remembered token once its key is no longer published', async () => {
    const other = await TestIssuer.start();
    try {
      const verifier = createVerifier({ issuer: other.url, audience: 'collector', jwksUri: other.jwksUri, cooldown: 0, cacheMaxAge: 0 });
      const token = await other.sign();
      await verifier.verify(token);
      other.jwksBody = () => ({ keys: [] });
      await verifier.refreshKeys();
      await expect(verifier.verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
    } finally {
      await other.stop();
    }
  });

  it('can be turned off (every call checks the signature again), and refuses a bad size', async () => {
    // counts the real WebCrypto signature checks jose makes (the spy passes every call through)
    const checks = vi.spyOn(globalThis.crypto.subtle, 'verify');
    try {
      const signatureChecks = async (verifiedCacheSize: number | undefined) => {
        const verifier = createVerifier({ issuer: issuer.url, audience: 'collector', jwksUri: issuer.jwksUri, verifiedCacheSize });
        const token = await issuer.sign();
        checks.mockClear();
        for (let i = 0; i < 3; i++) expect((await verifier.verify(token)).sub).toBe('client-1');
        return checks.mock.calls.length;
      };
      expect(await signatureChecks(undefined)).toBe(1);
      expect(await signatureChecks(0)).toBe(3);
    } finally {
      checks.mockRestore();
    }
    expect(() => createVerifier({ issuer: issuer.url, audience: 'collector', verifiedCacheSize: -1 })).toThrow(/verifiedCacheSize/);
  });
});
