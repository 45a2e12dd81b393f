import { randomBytes } from 'node:crypto';
import { exportSPKI, SignJWT, type CryptoKey } from 'jose';
import { b64url, makeKey, type TestIssuer } from './issuer.js';

export interface BadToken {
  name: string;
  /** Builds the token against the real issuer (and an attacker's issuer). */
  make(issuer: TestIssuer, attacker: TestIssuer): Promise<string>;
  /** What the error_description must say. */
  description: RegExp;
}

const now = () => Math.floor(Date.now() / 1000);

async function hmacWith(issuer: TestIssuer, secret: Uint8Array): Promise<string> {
  return new SignJWT({ iss: issuer.url, sub: 'c', aud: 'collector', exp: now() + 300, iat: now(), jti: 'j', client_id: 'c', scope: 'collect' })
    .setProtectedHeader({ alg: 'HS256', kid: issuer.key.kid, typ: 'at+jwt' })
    .sign(secret);
}

/** Every token here must be refused with 401 invalid_token. */
export const badTokens: BadToken[] = [
  {
    name: 'alg none',
    make: async (issuer) => {
      const claims = { iss: issuer.url, sub: 'c', aud: 'collector', exp: now() + 300, iat: now(), jti: 'j', client_id: 'c', scope: 'collect' };
      return `${b64url({ alg: 'none', kid: issuer.key.kid, typ: 'at+jwt' })}.${b64url(claims)}.`;
    },
    description: /algorithm is not allowed/,
  },
  {
    name: 'HS256 signed with the public JWK as HMAC secret',
    make: (issuer) => hmacWith(issuer, new TextEncoder().encode(JSON.stringify(issuer.key.publicJwk))),
    description: /algorithm is not allowed/,
  },
  {
    name: 'HS256 signed with the public key PEM as HMAC secret',
    make: async (issuer) => {
      const { importJWK } = await import('jose');
      const publicKey = await importJWK(issuer.key.publicJwk, 'ES256', { extractable: true });
      return hmacWith(issuer, new TextEncoder().encode(await exportSPKI(publicKey as CryptoKey)));
    },
    description: /algorithm is not allowed/,
  },
  {
    name: 'foreign key using a real kid',
    make: async (issuer) => issuer.sign({}, { key: { ...(await makeKey()), kid: issuer.key.kid } }),
    description: /signature is invalid/,
  },
  {
    name: 'real kid naming a key of another algorithm',
    make: async (issuer) => issuer.sign({}, { key: { ...(await makeKey('RS256')), kid: issuer.key.kid } }),
    description: /another algorithm/,
  },
  {
    name: 'jku header pointing at the attacker key set',
    make: (_issuer, attacker) => attacker.sign({ iss: _issuer.url }, { header: { jku: attacker.jwksUri } }),
    description: /must not carry jku/,
  },
  {
    name: 'jku header on a token otherwise valid',
    make: (issuer, attacker) => issuer.sign({}, { header: { jku: attacker.jwksUri } }),
    description: /must not carry jku/,
  },
  {
    name: 'x5u header pointing at the attacker',
    make: (issuer, attacker) => attacker.sign({ iss: issuer.url }, { header: { x5u: `${attacker.url}/cert.pem` } }),
    description: /must not carry x5u/,
  },
  {
    name: 'embedded jwk header with the attacker key',
    make: (issuer, attacker) =>
      attacker.sign({ iss: issuer.url }, { header: { jwk: { ...attacker.key.publicJwk, kid: undefined, use: undefined } } }),
    description: /must not carry jwk/,
  },
  {
    name: 'x5c header',
    make: (issuer) => issuer.sign({}, { header: { x5c: [randomBytes(64).toString('base64')] } }),
    description: /must not carry x5c/,
  },
  { name: 'expired', make: (issuer) => issuer.sign({ exp: now() - 60, iat: now() - 400 }), description: /expired/ },
  { name: 'nbf in the future', make: (issuer) => issuer.sign({ nbf: now() + 60 }), description: /not valid yet/ },
  { name: 'iat in the future', make: (issuer) => issuer.sign({ iat: now() + 60 }), description: /issued in the future/ },
  { name: 'no exp', make: (issuer) => issuer.sign({ exp: undefined }), description: /lacks the required exp claim/ },
  { name: 'wrong iss', make: (issuer) => issuer.sign({ iss: 'http://evil.example' }), description: /expected issuer/ },
  { name: 'iss with a trailing slash', make: (issuer) => issuer.sign({ iss: `${issuer.url}/` }), description: /expected issuer/ },
  { name: 'wrong aud', make: (issuer) => issuer.sign({}, { audience: 'billing' }), description: /audience/ },
  { name: 'aud array without ours', make: (issuer) => issuer.sign({ aud: ['billing', 'ledger'] }), description: /audience/ },
  { name: 'no typ', make: (issuer) => issuer.sign({}, { header: { typ: undefined } }), description: /typ/ },
  { name: 'typ JWT', make: (issuer) => issuer.sign({}, { header: { typ: 'JWT' } }), description: /typ/ },
  { name: 'typ application/jwt', make: (issuer) => issuer.sign({}, { header: { typ: 'application/jwt' } }), description: /typ/ },
  { name: 'non-string client_id', make: (issuer) => issuer.sign({ client_id: 42 }), description: /client_id/ },
  {
    name: 'opaque refresh token presented as bearer',
    make: async () => randomBytes(32).toString('base64url'),
    description: /not a JWT/,
  },
  {
    name: 'oversized token',
    make: (issuer) => issuer.sign({ padding: 'x'.repeat(8200) }),
    description: /longer than 8192 characters/,
  },
  { name: 'tampered payload', make: async (issuer) => tamper(await issuer.sign()), description: /signature is invalid/ },
  { name: 'missing kid', make: (issuer) => issuer.sign({}, { header: { kid: undefined } }), description: /no usable kid/ },
  { name: 'very long kid', make: (issuer) => issuer.sign({}, { header: { kid: 'k'.repeat(2000) } }), description: /no usable kid/ },
  { name: 'numeric kid', make: (issuer) => issuer.sign({}, { header: { kid: 42 } }), description: /no usable kid/ },
  { name: 'object kid', make: (issuer) => issuer.sign({}, { header: { kid: { $ne: null } } }), description: /no usable kid/ },
  { name: 'empty kid', make: (issuer) => issuer.sign({}, { header: { kid: '' } }), description: /no usable kid/ },
  {
    name: 'path traversal kid',
    make: (issuer) => issuer.sign({}, { header: { kid: '../../../../etc/passwd' } }),
    description: /no published key/,
  },
  { name: '__proto__ kid', make: (issuer) => issuer.sign({}, { header: { kid: '__proto__' } }), description: /no published key/ },
  { name: 'constructor kid', make: (issuer) => issuer.sign({}, { header: { kid: 'constructor' } }), description: /no published key/ },
];

function tamper(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  return `${header}.${b64url({ ...claims, scope: 'collect admin' })}.${signature}`;
}
