import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyDecryptionError, KeyEncryption } from '../src/keys/key-encryption.js';
import { SigningKeys } from '../src/keys/signing-keys.js';
import { buildTestDeps, startHarness, type Harness } from './harness.js';

const OLD = 'test-key-encryption-secret-0123456789abcdef';
const NEW = 'the-new-key-encryption-secret-after-a-change-0123';

describe('changing KEY_ENCRYPTION_SECRET with KEY_ENCRYPTION_SECRET_PREVIOUS', () => {
  let h: Harness;
  afterEach(() => h.close());

  const keysWith = (secret: string) =>
    new SigningKeys({ store: h.testStore.store, encryption: new KeyEncryption(secret), alg: 'ES256', accessTokenTtl: 900, jwksMaxAge: 300 });

  it('starts with the new secret and the previous one, reseals every key under the new one, and keeps the same keys', async () => {
    h = await startHarness('redis', { KEY_ENCRYPTION_SECRET: OLD });
    const before = h.deps.keys.list().map((k) => k.kid);
    const rawBefore = await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data');

    const { deps } = await buildTestDeps(h.testStore, h.clock, { KEY_ENCRYPTION_SECRET: NEW, KEY_ENCRYPTION_SECRET_PREVIOUS: OLD });
    expect(deps.keys.list().map((k) => k.kid)).toEqual(before);
    expect(deps.keys.signer().kid).toBe(h.deps.keys.signer().kid);
    expect(await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data')).not.toBe(rawBefore);

    await expect(keysWith(OLD).load()).rejects.toBeInstanceOf(KeyDecryptionError);
    await expect(keysWith(NEW).load()).resolves.toBeUndefined();
  });

  it('without the previous secret the new one refuses to start and changes nothing', async () => {
    h = await startHarness('redis', { KEY_ENCRYPTION_SECRET: OLD });
    const raw = await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data');
    await expect(buildTestDeps(h.testStore, h.clock, { KEY_ENCRYPTION_SECRET: NEW })).rejects.toThrow(/^KEY_ENCRYPTION_SECRET does not decrypt/);
    expect(await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data')).toBe(raw);
  });

  it('refuses a previous secret without a different current one', () => {
    expect(() => loadConfig({ KEY_ENCRYPTION_SECRET_PREVIOUS: OLD })).toThrow(/^KEY_ENCRYPTION_SECRET_PREVIOUS: /);
    expect(() => loadConfig({ KEY_ENCRYPTION_SECRET: OLD, KEY_ENCRYPTION_SECRET_PREVIOUS: OLD })).toThrow(/^KEY_ENCRYPTION_SECRET_PREVIOUS: /);
  });
});
