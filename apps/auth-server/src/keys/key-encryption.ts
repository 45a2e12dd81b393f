import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { EncryptedPrivateKey } from '../store/store.js';

/** Thrown when the stored private keys cannot be decrypted with the configured secret. */
export class KeyDecryptionError extends Error {
  override name = 'KeyDecryptionError';
}

/** AES-256-GCM under a key derived (HKDF-SHA256) from KEY_ENCRYPTION_SECRET. */
export class KeyEncryption {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'tessera', 'tessera signing key encryption v1', 32));
  }

  encrypt(plaintext: string, kid: string): EncryptedPrivateKey {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(kid));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), ciphertext: ciphertext.toString('base64url') };
  }

  decrypt(sealed: EncryptedPrivateKey, kid: string): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(sealed.iv, 'base64url'))
        .setAAD(Buffer.from(kid))
        .setAuthTag(Buffer.from(sealed.tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyDecryptionError(`KEY_ENCRYPTION_SECRET does not decrypt signing key ${kid}: is it the secret the keys were created with?`);
    }
  }
}
