import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { EncryptedPrivateKey } from '../store/store.js';

/** Thrown when the stored private keys cannot be decrypted with the configured secret. */
export class KeyDecryptionError extends Error {
  override name = 'KeyDecryptionError';
}

const deriveKey = (secret: string) => Buffer.from(hkdfSync('sha256', secret, 'tessera', 'tessera signing key encryption v1', 32));

function open(key: Buffer, sealed: EncryptedPrivateKey, kid: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64url'))
      .setAAD(Buffer.from(kid))
      .setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/**
 * AES-256-GCM (the kid as additional data) under a key derived (HKDF-SHA256) from KEY_ENCRYPTION_SECRET.
 * With `previous` (KEY_ENCRYPTION_SECRET_PREVIOUS) keys sealed under the old secret still open, and
 * `reseal` moves them to the current one.
 */
export class KeyEncryption {
  readonly #key: Buffer;
  readonly #previous: Buffer | undefined;

  constructor(secret: string, previous?: string) {
    this.#key = deriveKey(secret);
    this.#previous = previous === undefined ? undefined : deriveKey(previous);
  }

  encrypt(plaintext: string, kid: string): EncryptedPrivateKey {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(kid));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), ciphertext: ciphertext.toString('base64url') };
  }

  decrypt(sealed: EncryptedPrivateKey, kid: string): string {
    const plaintext = open(this.#key, sealed, kid) ?? (this.#previous && open(this.#previous, sealed, kid));
    if (plaintext === undefined) {
      throw new KeyDecryptionError(
        `KEY_ENCRYPTION_SECRET${this.#previous ? ' (nor KEY_ENCRYPTION_SECRET_PREVIOUS)' : ''} does not decrypt signing key ${kid}: is it the secret the keys were created with?`,
      );
    }
    return plaintext;
  }

  /** The key sealed under the current secret when it is still sealed under the previous one; else undefined. */
  reseal(sealed: EncryptedPrivateKey, kid: string): EncryptedPrivateKey | undefined {
    if (!this.#previous || open(this.#key, sealed, kid) !== undefined) return undefined;
    return this.encrypt(this.decrypt(sealed, kid), kid);
  }
}
