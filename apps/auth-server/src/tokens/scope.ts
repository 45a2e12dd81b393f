import { invalidScope, invalidTarget } from '../errors.js';

/** One RFC 6749 §3.3 scope token. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Splits an RFC 6749 §3.3 scope string; invalid_scope when malformed. */
export function parseScope(value: string): string[] {
  const scopes = value.split(' ');
  if (scopes.some((s) => !SCOPE_TOKEN.test(s))) throw invalidScope('scope must be space-separated scope tokens');
  return [...new Set(scopes)];
}

/** The granted scope: the requested one when the client holds all of it, else every scope the client holds. */
export function grantScope(requested: string | undefined, allowed: string[]): string {
  if (requested === undefined) return allowed.join(' ');
  const scopes = parseScope(requested);
  const missing = scopes.filter((s) => !allowed.includes(s));
  if (missing.length) throw invalidScope(`the client may not request scope ${missing.map((s) => `"${s.slice(0, 64)}"`).join(', ')}`);
  return scopes.join(' ');
}

/** The token's audience: the requested resource when the client may use it (RFC 8707), else its first audience. */
export function grantAudience(resource: string | undefined, audiences: string[]): string {
  if (resource === undefined) return audiences[0]!;
  if (!audiences.includes(resource)) throw invalidTarget('the client may not request this resource');
  return resource;
}
