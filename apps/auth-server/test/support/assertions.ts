import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type TestAlg = 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519' | 'RS256' | 'PS256';

export interface TestKey {
  alg: TestAlg;
  kid: string;
  privateKey: CryptoKey;
  /** the public JWK as registered (with kid) */
  publicJwk: JWK & { kid: string };
  /** the private JWK (to test that private members are refused) */
  privateJwk: JWK;
}

/** A fresh key pair for `alg`, with a kid. */
export async function testKey(alg: TestAlg, kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    alg,
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid },
    privateJwk: { ...(await exportJWK(privateKey)), kid },
  };
}

export interface AssertionOptions {
  /** claims replacing (or, when undefined, removing) the defaults */
  claims?: Record<string, unknown>;
  /** header members added to (or, when undefined, removed from) {alg, kid} */
  header?: Record<string, unknown>;
  /** seconds since the epoch; default now */
  now?: number;
}

/** A client assertion (RFC 7523) signed with `key`: iss = sub = clientId, aud, 60 s exp, a fresh jti. */
export async function signAssertion(key: TestKey, clientId: string, aud: string, options: AssertionOptions = {}): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { iss: clientId, sub: clientId, aud, iat: now, exp: now + 60, jti: randomUUID(), ...options.claims };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, ...options.header };
  for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
