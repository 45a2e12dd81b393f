import { describe, expect, it } from 'vitest';
import {
  createVerifier,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  metadataUrl,
  MissingTokenError,
  type VerifierOptions,
} from '../src/index.js';

const base: VerifierOptions = { issuer: 'http://localhost:4000', audience: 'collector' };

describe('createVerifier options', () => {
  it.each<[string, Partial<VerifierOptions> | Record<string, unknown>, RegExp]>([
    ['issuer', { issuer: 'localhost:4000' }, /^"issuer" must be an absolute http\(s\) URL/],
    ['issuer', { issuer: 'ftp://example.com' }, /^"issuer" must be an absolute http\(s\) URL/],
    ['issuer', { issuer: 'https://example.com/?a=1' }, /^"issuer"/],
    ['issuer', { issuer: undefined }, /^"issuer"/],
    ['audience', { audience: '' }, /^"audience" must be a non-empty string/],
    ['jwksUri', { jwksUri: '/jwks.json' }, /^"jwksUri" must be an absolute http\(s\) URL/],
    ['algorithms', { algorithms: ['none'] }, /^"algorithms" must not contain none/],
    ['algorithms', { algorithms: ['ES256', 'HS256'] }, /^"algorithms" must not contain HS256/],
    ['algorithms', { algorithms: ['hs512'] }, /^"algorithms" must not contain hs512/],
    ['algorithms', { algorithms: [] }, /^"algorithms" must be a non-empty array/],
    ['algorithms', { algorithms: ['ES999'] }, /^"algorithms" may only contain/],
    ['clockTolerance', { clockTolerance: -1 }, /^"clockTolerance" must be a finite number of seconds/],
    ['clockTolerance', { clockTolerance: '5s' }, /^"clockTolerance"/],
    ['maxTokenLength', { maxTokenLength: 0 }, /^"maxTokenLength" must be a positive integer/],
    ['cooldown', { cooldown: Number.NaN }, /^"cooldown"/],
    ['cacheMaxAge', { cacheMaxAge: -5 }, /^"cacheMaxAge"/],
    ['timeout', { timeout: 1.5 }, /^"timeout" must be a positive integer \(milliseconds\)/],
    ['fetch', { fetch: 'yes' }, /^"fetch" must be a function/],
    ['onKeysetError', { onKeysetError: 1 }, /^"onKeysetError" must be a function/],
    ['maxDelegationDepth', { maxDelegationDepth: -1 }, /^"maxDelegationDepth" must be an integer >= 0 or Infinity/],
    ['maxDelegationDepth', { maxDelegationDepth: 1.5 }, /^"maxDelegationDepth"/],
    ['maxDelegationDepth', { maxDelegationDepth: '1' }, /^"maxDelegationDepth"/],
    ['maxDelegationDepth', { maxDelegationDepth: Number.NaN }, /^"maxDelegationDepth"/],
  ])('refuses a bad %s with a TypeError naming it', (_name, override, message) => {
    const build = () => createVerifier({ ...base, ...override } as VerifierOptions);
    expect(build).toThrow(TypeError);
    expect(build).toThrow(message);
  });

  it('accepts the defaults and fetches nothing at construction', () => {
    let calls = 0;
    const verifier = createVerifier({ ...base, fetch: async () => (calls++, new Response('{}')) });
    expect(verifier).toMatchObject({ issuer: base.issuer, audience: 'collector' });
    expect(calls).toBe(0);
  });

  it('refuses bad required scopes per call', async () => {
    await expect(createVerifier(base).verify('x', { scopes: ['a b'] })).rejects.toThrow(TypeError);
  });
});

describe('RFC 8414 metadata URL', () => {
  it.each([
    ['http://localhost:4000', 'http://localhost:4000/.well-known/oauth-authorization-server'],
    ['http://localhost:4000/', 'http://localhost:4000/.well-known/oauth-authorization-server'],
    ['https://id.example.com/tenant/a', 'https://id.example.com/.well-known/oauth-authorization-server/tenant/a'],
  ])('%s -> %s', (issuer, url) => {
    expect(metadataUrl(issuer)).toBe(url);
  });
});

describe('error challenges', () => {
  it('formats RFC 6750 WWW-Authenticate values', () => {
    expect(new MissingTokenError().wwwAuthenticate('api')).toBe('Bearer realm="api"');
    expect(new InvalidRequestError('bad header').wwwAuthenticate('api')).toBe(
      'Bearer realm="api", error="invalid_request", error_description="bad header"',
    );
    expect(new InsufficientScopeError(['collect', 'read']).wwwAuthenticate('api')).toMatch(/, scope="collect read"$/);
    expect(new InvalidTokenError('x').status).toBe(401);
  });

  it('keeps quoted strings well-formed', () => {
    expect(new InvalidTokenError('say "hi"\\ \n').wwwAuthenticate('api')).toBe(
      'Bearer realm="api", error="invalid_token", error_description="say hi "',
    );
  });
});
