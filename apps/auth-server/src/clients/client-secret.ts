import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A new client id: 128 bits, base64url. */
export const generateClientId = () => randomBytes(16).toString('base64url');

/** A new client secret: 256 bits from the CSPRNG, base64url. */
export const generateClientSecret = () => randomBytes(32).toString('base64url');

/**
 * Secrets are server-generated 256-bit values, so a fast keyed hash is as strong as a slow password
 * hash here and keeps /token fast. The client id keys the HMAC, so equal secrets never hash alike.
 */
export const hashClientSecret = (clientId: string, secret: string) =>
  createHmac('sha256', clientId).update(secret).digest('base64url');

/** Constant-time check of a presented secret against the stored hash. */
export function verifyClientSecret(clientId: string, secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashClientSecret(clientId, secret), 'base64url');
  const stored = Buffer.from(storedHash, 'base64url');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
