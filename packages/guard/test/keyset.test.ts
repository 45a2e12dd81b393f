import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createVerifier,
  InvalidTokenError,
  KeysetFetchError,
  KeysetUnavailableError,
  type VerifierOptions,
} from '../src/index.js';
import { makeKey, TestIssuer } from './helpers/issuer.js';

const issuers: TestIssuer[] = [];

async function startIssuer(): Promise<TestIssuer> {
  const issuer = await TestIssuer.start();
  issuers.push(issuer);
  return issuer;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(issuers.splice(0).map((issuer) => issuer.stop()));
});

function verifierFor(issuer: TestIssuer, options: Partial<VerifierOptions> = {}) {
  const errors: KeysetFetchError[] = [];
  const verifier = createVerifier({
    issuer: issuer.url,
    audience: 'collector',
    onKeysetError: (error) => errors.push(error),
    ...options,
  });
  return { verifier, errors };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('verification succeeded'),
    (error: Error) => error,
  );
}

/** Moves the (faked) wall clock forward; timers and I/O stay real. */
const advance = (seconds: number) => vi.setSystemTime(Date.now() + seconds * 1000);

describe('key discovery', () => {
  it('reads jwks_uri from RFC 8414 metadata once and caches both', async () => {
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer);
    for (let i = 0; i < 3; i++) await verifier.verify(await issuer.sign());
    expect(issuer.requests).toEqual({ metadata: 1, jwks: 1 });
  });

  it('uses jwksUri when given, without discovery', async () => {
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri });
    await verifier.verify(await issuer.sign());
    expect(issuer.requests).toEqual({ metadata: 0, jwks: 1 });
  });

  it('refuses metadata whose issuer differs from the configured one', async () => {
    const issuer = await startIssuer();
    issuer.metadataBody = () => ({ issuer: 'http://evil.example', jwks_uri: issuer.jwksUri });
    const { verifier, errors } = verifierFor(issuer);
    expect(await failure(verifier.verify(await issuer.sign()))).toBeInstanceOf(KeysetUnavailableError);
    expect(issuer.requests.jwks).toBe(0);
    expect(errors.map((error) => error.message)).toEqual([expect.stringMatching(/issuer/)]);
  });
});

describe('key set cache', () => {
  it('refetches on an unknown kid at most once per cooldown for the whole key set', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 30 });
    await verifier.verify(await issuer.sign());
    expect(issuer.requests.jwks).toBe(1);

    const early = await issuer.addKey();
    expect(await failure(verifier.verify(await issuer.sign({}, { key: early })))).toBeInstanceOf(InvalidTokenError);
    expect(issuer.requests.jwks).toBe(1);

    advance(31);
    await expect(verifier.verify(await issuer.sign({}, { key: early }))).resolves.toBeTruthy();
    expect(issuer.requests.jwks).toBe(2);

    const unpublished = await makeKey();
    expect(await failure(verifier.verify(await issuer.sign({}, { key: unpublished })))).toBeInstanceOf(InvalidTokenError);
    const later = await issuer.addKey();
    expect(await failure(verifier.verify(await issuer.sign({}, { key: later })))).toBeInstanceOf(InvalidTokenError);
    expect(issuer.requests.jwks).toBe(2);

    advance(31);
    await expect(verifier.verify(await issuer.sign({}, { key: later }))).resolves.toBeTruthy();
    expect(issuer.requests.jwks).toBe(3);
    expect(verifier.stats).toMatchObject({ fetches: 3, fetchErrors: 0, cacheMisses: 5 });
  });

  it('shares one fetch between concurrent misses', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 30 });
    await verifier.verify(await issuer.sign());
    advance(31);

    const [second, third] = [await issuer.addKey(), await issuer.addKey()];
    const rotated = await Promise.all(
      Array.from({ length: 10 }, (_, i) => issuer.sign({}, { key: i % 2 ? second : third })),
    );
    await Promise.all(rotated.map((token) => verifier.verify(token)));
    expect(issuer.requests.jwks).toBe(2);
  });

  it('shares one discovery and one fetch between concurrent first requests', async () => {
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer);
    const tokens = await Promise.all(Array.from({ length: 8 }, () => issuer.sign()));
    await Promise.all(tokens.map((token) => verifier.verify(token)));
    expect(issuer.requests).toEqual({ metadata: 1, jwks: 1 });
  });

  it('respects Cache-Control max-age and refreshes an expired set in the background', async () => {
    const issuer = await startIssuer();
    issuer.jwksCacheControl = 'public, max-age=3600';
    const cached = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 0, cacheMaxAge: 0 }).verifier;
    for (let i = 0; i < 3; i++) await cached.verify(await issuer.sign());
    expect(issuer.requests.jwks).toBe(1);

    issuer.jwksCacheControl = 'max-age=0';
    const expiring = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 0 }).verifier;
    await expiring.verify(await issuer.sign());
    await expiring.verify(await issuer.sign());
    await vi.waitFor(() => expect(issuer.requests.jwks).toBe(3));
  });

  it('uses cacheMaxAge when the response has no Cache-Control', async () => {
    const issuer = await startIssuer();
    issuer.jwksCacheControl = undefined;
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 0, cacheMaxAge: 0 });
    await verifier.verify(await issuer.sign());
    await verifier.verify(await issuer.sign());
    await vi.waitFor(() => expect(issuer.requests.jwks).toBe(2));
  });

  it('drops keys the issuer stops publishing', async () => {
    const issuer = await startIssuer();
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 0 });
    const token = await issuer.sign();
    await verifier.verify(token);
    expect(issuer.requests.jwks).toBe(1);
    issuer.keys.shift();
    const replacement = await issuer.addKey();
    // the unknown kid makes the verifier fetch the set again, which no longer has the first key
    await verifier.verify(await issuer.sign({}, { key: replacement }));
    expect(issuer.requests.jwks).toBe(2);
    const error = await failure(verifier.verify(token));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect(error.message).toBe('no published key matches the token kid');
    // with cooldown 0 the now unknown kid is looked up once more before the token is refused
    expect(issuer.requests.jwks).toBe(3);
  });
});

describe('issuer outages', () => {
  it('keeps serving the last good keys and reports the failure once per episode', async () => {
    const issuer = await startIssuer();
    const { verifier, errors } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 0, cacheMaxAge: 0 });
    const token = await issuer.sign();
    await verifier.verify(token);
    await issuer.stop();

    await expect(verifier.verify(token)).resolves.toBeTruthy();
    for (let i = 0; i < 3; i++) {
      const error = await failure(verifier.verify(await issuer.sign({}, { key: await makeKey() })));
      expect(error).toBeInstanceOf(InvalidTokenError);
    }
    expect(verifier.stats.fetchErrors).toBeGreaterThanOrEqual(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(KeysetFetchError);

    const rotated = await issuer.addKey();
    await issuer.start();
    await expect(verifier.verify(await issuer.sign({}, { key: rotated }))).resolves.toBeTruthy();
    await issuer.stop();
    await failure(verifier.verify(await issuer.sign({}, { key: await makeKey() })));
    expect(errors).toHaveLength(2);
  });

  it('answers KeysetUnavailableError while no keys were ever obtained, then recovers', async () => {
    const issuer = await startIssuer();
    await issuer.stop();
    const { verifier, errors } = verifierFor(issuer, { cooldown: 0 });
    const token = await issuer.sign();
    for (let i = 0; i < 2; i++) {
      const error = await failure(verifier.verify(token));
      expect(error).toBeInstanceOf(KeysetUnavailableError);
      expect(error).toMatchObject({ status: 503, code: 'temporarily_unavailable', retryAfter: 1 });
    }
    expect(errors).toHaveLength(1);
    await issuer.start();
    await expect(verifier.verify(token)).resolves.toBeTruthy();
  });

  it('retries at most once a second while no keys were ever obtained, not once per cooldown', async () => {
    const issuer = await startIssuer();
    await issuer.stop();
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 600 });
    expect(await verifier.refreshKeys()).toBe(false);
    await issuer.start();
    const error = await failure(verifier.verify(await issuer.sign()));
    expect(error).toBeInstanceOf(KeysetUnavailableError);
    expect((error as KeysetUnavailableError).retryAfter).toBeLessThanOrEqual(1);
    expect((error as KeysetUnavailableError).headers()).toEqual({ 'Retry-After': expect.stringMatching(/^\d+$/) });
    expect(issuer.requests.jwks).toBe(0);
    expect(verifier.stats).toMatchObject({ fetches: 1, fetchErrors: 1 });
    vi.setSystemTime(Date.now() + 900);
    expect(await failure(verifier.verify(await issuer.sign()))).toBeInstanceOf(KeysetUnavailableError);
    expect(issuer.requests.jwks).toBe(0);
    vi.setSystemTime(Date.now() + 100);
    await expect(verifier.verify(await issuer.sign())).resolves.toBeTruthy();
    expect(issuer.requests.jwks).toBe(1);
  });

  it('gives up on a hanging issuer after the timeout', async () => {
    const issuer = await startIssuer();
    issuer.hang = true;
    const { verifier, errors } = verifierFor(issuer, { jwksUri: issuer.jwksUri, timeout: 100 });
    expect(await failure(verifier.verify(await issuer.sign()))).toBeInstanceOf(KeysetUnavailableError);
    expect(errors[0]?.message).toMatch(/no answer within 100 ms/);
  });
});

describe('key set documents', () => {
  it.each([
    ['not JSON', () => 'this is not json', /not JSON/],
    ['no keys array', () => ({ keys: 'nope' }), /"keys" array/],
    ['a JSON array', () => [], /"keys" array/],
  ])('refuses a key set that is %s', async (_name, body, message) => {
    const issuer = await startIssuer();
    issuer.jwksBody = body;
    const { verifier, errors } = verifierFor(issuer, { jwksUri: issuer.jwksUri });
    expect(await failure(verifier.verify(await issuer.sign()))).toBeInstanceOf(KeysetUnavailableError);
    expect(errors[0]?.message).toMatch(message);
  });

  it('refuses a non-200 answer', async () => {
    const issuer = await startIssuer();
    const { verifier, errors } = verifierFor(issuer, { jwksUri: `${issuer.url}/missing` });
    expect(await failure(verifier.verify(await issuer.sign()))).toBeInstanceOf(KeysetUnavailableError);
    expect(errors[0]?.message).toMatch(/status 404/);
  });

  it('ignores keys meant for encryption or without a kid', async () => {
    const issuer = await startIssuer();
    const encryption = await makeKey();
    const anonymous = await makeKey();
    issuer.jwksBody = () => ({
      keys: [
        issuer.key.publicJwk,
        { ...encryption.publicJwk, use: 'enc' },
        { ...anonymous.publicJwk, kid: undefined },
        { kty: 'oct', kid: 'secret', k: 'c2VjcmV0' },
        'garbage',
      ],
    });
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri, cooldown: 3600 });
    await expect(verifier.verify(await issuer.sign())).resolves.toBeTruthy();
    expect(verifier.stats.keys).toBe(1);
    expect(await failure(verifier.verify(await issuer.sign({}, { key: encryption })))).toBeInstanceOf(InvalidTokenError);
    const oct = await failure(verifier.verify(await issuer.sign({}, { key: { ...anonymous, kid: 'secret' } })));
    expect(oct).toBeInstanceOf(InvalidTokenError);
  });

  it('strips private members an issuer publishes by mistake', async () => {
    const issuer = await startIssuer();
    issuer.jwksBody = () => ({ keys: [issuer.key.privateJwk] });
    const { verifier } = verifierFor(issuer, { jwksUri: issuer.jwksUri });
    await expect(verifier.verify(await issuer.sign())).resolves.toBeTruthy();
  });
});
