import { describe, expect, it } from 'vitest';
import { createTokenClient, type TokenClientOptions } from '../src/index.js';

const base: TokenClientOptions = { issuer: 'http://localhost:4000', clientId: 'svc', clientSecret: 's3cret' };

describe('createTokenClient options', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['issuer', { issuer: undefined }, /^"issuer" must be an absolute http\(s\) URL/],
    ['issuer', { issuer: 'localhost:4000' }, /^"issuer" must be an absolute http\(s\) URL/],
    ['issuer', { issuer: 'ftp://example.com' }, /^"issuer"/],
    ['issuer', { issuer: 'https://example.com/?tenant=a' }, /^"issuer"/],
    ['issuer', { issuer: 'https://user:pw@example.com' }, /^"issuer"/],
    ['clientId', { clientId: '' }, /^"clientId" must be a non-empty string/],
    ['clientSecret', { clientSecret: undefined }, /^"clientSecret" must be a non-empty string/],
    ['scope', { scope: '' }, /^"scope" must be/],
    ['scope', { scope: ['read', 'a b'] }, /^"scope" must be/],
    ['scope', { scope: 42 }, /^"scope" must be/],
    ['resource', { resource: '' }, /^"resource" must be a non-empty string/],
    ['authMethod', { authMethod: 'private_key_jwt' }, /^"authMethod" must be client_secret_basic or client_secret_post/],
    ['refreshSkew', { refreshSkew: -1 }, /^"refreshSkew" must be a finite number of seconds/],
    ['refreshSkew', { refreshSkew: '30s' }, /^"refreshSkew"/],
    ['refreshSkew', { refreshSkew: Number.POSITIVE_INFINITY }, /^"refreshSkew"/],
    ['timeout', { timeout: 0 }, /^"timeout" must be a positive integer \(milliseconds\)/],
    ['fetch', { fetch: 'yes' }, /^"fetch" must be a function/],
    ['clock', { clock: 1700000000000 }, /^"clock" must be a function/],
  ])('refuses a bad %s with a TypeError naming it', (_name, override, message) => {
    const build = () => createTokenClient({ ...base, ...override } as TokenClientOptions);
    expect(build).toThrow(TypeError);
    expect(build).toThrow(message);
  });

  it.each<Record<string, unknown>>([{ issuer: 'nope' }, { timeout: 0 }, { scope: 's3cret"scope' }, { clientSecret: ['s3cret'] }, { clientSecret: { s3cret: 1 } }])(
    'never puts the secret in an option error: %j',
    (override) => {
      let error: unknown;
      try {
        createTokenClient({ ...base, ...override } as TokenClientOptions);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TypeError);
      const { message, stack } = error as TypeError;
      expect(`${message}\n${stack}\n${JSON.stringify(error)}\n${String((error as TypeError).cause)}`).not.toContain('s3cret');
    },
  );

  it('accepts the defaults and fetches nothing at construction; the issuer loses a trailing slash', () => {
    let calls = 0;
    const client = createTokenClient({ ...base, issuer: 'http://localhost:4000/', fetch: async () => (calls++, new Response('{}')) });
    expect(client.issuer).toBe('http://localhost:4000');
    expect(calls).toBe(0);
  });

  it.each([
    ['http://localhost:4000', 'http://localhost:4000/.well-known/oauth-authorization-server'],
    ['https://id.example.com/tenant/a', 'https://id.example.com/.well-known/oauth-authorization-server/tenant/a'],
  ])('discovers %s at %s (RFC 8414 §3)', async (issuer, url) => {
    const urls: string[] = [];
    const client = createTokenClient({ ...base, issuer, fetch: async (input) => (urls.push(String(input)), new Response('{}')) });
    await expect(client.getAccessToken()).rejects.toMatchObject({ error: 'invalid_metadata' });
    expect(urls).toEqual([url]);
  });
});
