import { hash } from 'node:crypto';
import { randomBase64url } from './random.js';

const TAG_LENGTH = 4;
const FAMILY_ID = /^[A-Za-z0-9_-]{26}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;

/**
 * The client's slot tag: 4 base64url characters of SHA-256(client id). Every family of a client and the
 * client's family index share it as their Redis hash tag, so one script can start a family and evict the
 * oldest one on one Redis Cluster node. Clients may share a tag; keys still name the client.
 */
export const clientSlotTag = (clientId: string) => hash('sha256', clientId, 'base64url').slice(0, TAG_LENGTH);

/** The slot tag a family id starts with (see clientSlotTag). */
export const familySlotTag = (familyId: string) => familyId.slice(0, TAG_LENGTH);

/** A new rotation family id of a client: its slot tag and 128 random bits, base64url (26 characters). */
export const newFamilyId = (clientId: string) => clientSlotTag(clientId) + randomBase64url(16);

/** How a refresh token is kept at rest: its SHA-256, base64url. */
export const hashRefreshToken = (token: string) => hash('sha256', token, 'base64url');

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
  if (dot !== 26 || !FAMILY_ID.test(familyId) || !SECRET.test(token.slice(dot + 1))) return undefined;
  return { familyId, hash: hashRefreshToken(token) };
}
