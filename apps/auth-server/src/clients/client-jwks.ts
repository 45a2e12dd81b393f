import { importJWK, type JWK } from 'jose';
import { z } from 'zod';
import type { SigningAlgorithm } from '@tessera/guard';
import type { PublicJwk } from '../store/store.js';

/**
 * The JWS algorithms a client assertion may use (README "Client authentication"). `Ed25519` (RFC 9864) is accepted wherever
 * `EdDSA` is, for Ed25519 keys. Never `none`, never HS*.
 */
export const ASSERTION_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] as const satisfies readonly SigningAlgorithm[];
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

export const isAssertionAlgorithm = (value: unknown): value is AssertionAlgorithm =>
  typeof value === 'string' && (ASSERTION_ALGORITHMS as readonly string[]).includes(value);

/** Most keys a client may register by value. */
export const MAX_CLIENT_KEYS = 10;
const MIN_RSA_BITS = 2048;
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);
const PUBLIC_MEMBERS = ['kty', 'kid', 'use', 'alg', 'crv', 'x', 'y', 'n', 'e'] as const;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Whether a public JWK can verify signatures of `alg` (kty and curve fit, and the key's own alg if it names one). */
export function keyFitsAlgorithm(key: JWK, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg && !(isEd(key.alg) && isEd(alg))) return false;
  switch (alg) {
    case 'ES256':
      return key.kty === 'EC' && key.crv === 'P-256';
    case 'ES384':
      return key.kty === 'EC' && key.crv === 'P-384';
    case 'EdDSA':
    case 'Ed25519':
      return key.kty === 'OKP' && key.crv === 'Ed25519';
    case 'RS256':
    case 'PS256':
      return key.kty === 'RSA';
    default:
      return false;
  }
}

const isEd = (alg: string) => alg === 'EdDSA' || alg === 'Ed25519';

/** The algorithm a key is imported with to check it (any one it fits). */
const probeAlgorithm = (key: JWK): AssertionAlgorithm | undefined => ASSERTION_ALGORITHMS.find((alg) => keyFitsAlgorithm(key, alg));

/** The path of the first private (or symmetric) key member anywhere in `value`, e.g. `keys.0.d`. */
export function privateMemberPath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = privateMemberPath(item, [...path, i]);
      if (found) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [name, member] of Object.entries(value)) {
      if (PRIVATE_MEMBERS.has(name)) return [...path, name];
      const found = privateMemberPath(member, [...path, name]);
      if (found) return found;
    }
  }
  return undefined;
}

const b64 = (max: number) => z.string().min(1).max(max).regex(B64URL, 'base64url').meta({ examples: ['AQAB'] });

const publicJwk = z
  .looseObject({
    kty: z.enum(['EC', 'OKP', 'RSA'], 'EC (P-256, P-384), OKP (Ed25519) or RSA (2048 bits or more)'),
    kid: z.string().min(1).max(256),
    use: z.literal('sig', 'sig (signatures)').optional(),
    alg: z.enum(ASSERTION_ALGORITHMS, `one of ${ASSERTION_ALGORITHMS.join(', ')}`).optional(),
    crv: z.string().max(16).optional(),
    x: b64(1024).optional(),
    y: b64(1024).optional(),
    n: b64(2048).optional(),
    e: b64(16).optional(),
  })
  .superRefine((key, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (key.kty === 'EC') {
      if (key.crv !== 'P-256' && key.crv !== 'P-384') return issue('crv', 'an EC key must be on P-256 or P-384');
      if (!key.x || !key.y) return issue(key.x ? 'y' : 'x', 'required for an EC key');
    } else if (key.kty === 'OKP') {
      if (key.crv !== 'Ed25519') return issue('crv', 'an OKP key must be Ed25519');
      if (!key.x) return issue('x', 'required for an Ed25519 key');
    } else {
      if (!key.n || !key.e) return issue(key.n ? 'e' : 'n', 'required for an RSA key');
      const bits = Buffer.from(key.n, 'base64url').toString('hex').replace(/^0+/, '').length * 4;
      if (bits < MIN_RSA_BITS) return issue('n', `an RSA key must have at least ${MIN_RSA_BITS} bits`);
    }
    if (key.alg !== undefined && !keyFitsAlgorithm(key as JWK, key.alg)) issue('alg', `does not fit a ${key.kty} ${key.crv ?? ''} key`.trim());
  });

/**
 * `jwks` of a registration: 1 to 10 public signing keys, each with a distinct kid. Check
 * {@link privateMemberPath} first (a private member anywhere is refused before anything else) and store
 * {@link storedJwks} of it.
 */
export const jwksSchema = z.looseObject({
  keys: z
    .array(publicJwk)
    .min(1)
    .max(MAX_CLIENT_KEYS, `at most ${MAX_CLIENT_KEYS} keys`)
    .refine((keys) => new Set(keys.map((k) => k.kid)).size === keys.length, 'every kid must be distinct'),
});

/** The key set as stored: public members only. */
export const storedJwks = (jwks: { keys: Record<string, unknown>[] }): { keys: PublicJwk[] } => ({
  keys: jwks.keys.map((key) => {
    const out: Record<string, unknown> = {};
    for (const member of PUBLIC_MEMBERS) if (key[member] !== undefined) out[member] = key[member];
    return out as PublicJwk;
  }),
});

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** `jwks_uri` of a registration: https; http only for loopback hosts and only outside production. */
export const jwksUriSchema = (production: boolean) =>
  z
    .string()
    .max(2048)
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return ctx.addIssue({ code: 'custom', message: 'an absolute https URL' });
      }
      if (url.username || url.password || url.hash) return ctx.addIssue({ code: 'custom', message: 'a URL without credentials or fragment' });
      if (url.protocol === 'https:') return;
      if (url.protocol !== 'http:') return ctx.addIssue({ code: 'custom', message: 'an https URL' });
      if (production) return ctx.addIssue({ code: 'custom', message: 'an https URL (http is refused when NODE_ENV=production)' });
      if (!LOOPBACK.test(url.hostname)) ctx.addIssue({ code: 'custom', message: 'an https URL (http only for loopback hosts: 127.0.0.0/8, localhost, [::1])' });
    });

/**
 * Checks with jose that every key really is a usable public key (a point on its curve, a valid modulus).
 * @returns the index of the first key that is not, or undefined when all are
 */
export async function firstUnusableKey(jwks: { keys: PublicJwk[] }): Promise<number | undefined> {
  for (const [i, key] of jwks.keys.entries()) {
    const alg = probeAlgorithm(key as JWK);
    try {
      if (!alg) return i;
      await importJWK(key as JWK, alg);
    } catch {
      return i;
    }
  }
  return undefined;
}
