import { createHash } from 'node:crypto';
import { randomBase64url } from './random.js';

const FAMILY_ID = /^[A-Za-z0-9_-]{22}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** A new rotation family id: 128 bits, base64url. */
export const newFamilyId = () => randomBase64url(16);

/** How a refresh token is kept at rest: its SHA-256, base64url. */
export const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * A new refresh token of a family: `<family id>.<256 random bits>`, base64url. The family id lets the
 * store find the family (and its hash tag) without a second lookup; only the hash is stored.
 */
export function mintRefreshToken(familyId: string): { token: string; hash: string } {
  const token = `${familyId}.${randomBase64url(32)}`;
  return { token, hash: hashRefreshToken(token) };
}

/** The family id and hash of a presented refresh token, or undefined when it cannot be one of ours. */
export function parseRefreshToken(token: string): { familyId: string; hash: string } | undefined {
  const dot = token.indexOf('.');
  const familyId = token.slice(0, dot);
  if (dot !== 22 || !FAMILY_ID.test(familyId) || !SECRET.test(token.slice(dot + 1))) return undefined;
  return { familyId, hash: hashRefreshToken(token) };
}
