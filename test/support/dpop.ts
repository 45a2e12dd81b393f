import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** A DPoP key pair of a test client. */
export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

export interface ProofOptions {
  htm: string;
  htu: string;
  /** the access token sent with the proof: sets ath */
  accessToken?: string;
  /** seconds since the epoch; default now */
  iat?: number;
  jti?: string;
  nonce?: string;
  /** claims merged over the defaults (undefined removes one) */
  claims?: Record<string, unknown>;
  /** header members merged over `{typ, alg, jwk}` */
  header?: Record<string, unknown>;
}

export const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Signs a DPoP proof (RFC 9449 §4.2) with `key`; options let a test break any part of it. */
export async function proof(key: DpopKey, options: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: options.jti ?? randomUUID(),
    htm: options.htm,
    htu: options.htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ...(options.accessToken === undefined ? {} : { ath: ath(options.accessToken) }),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...options.header } as never)
    .sign(key.privateKey);
}
