import { createPublicKey, KeyObject, randomUUID, createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** A DPoP signing key given to `createTokenClient({ dpop: { privateKey } })`. */
export interface DpopKeyOption {
  /** The private key (a WebCrypto `CryptoKey` or a node `KeyObject`): EC P-256/P-384, Ed25519 or RSA. */
  privateKey: CryptoKey | KeyObject;
  /** The JWS algorithm. Default: ES256 (P-256), ES384 (P-384), EdDSA (Ed25519) or PS256 (RSA). */
  alg?: 'ES256' | 'ES384' | 'EdDSA' | 'RS256' | 'PS256' | undefined;
}

/** What a DPoP key signs proofs with, once resolved. */
export interface DpopSigner {
  /** Signs a proof (RFC 9449 §4.2) for `method` `url`, with `ath` when `accessToken` is given. */
  proof(method: string, url: string, options?: { accessToken?: string | undefined; nonce?: string | undefined }): Promise<string>;
}

function algFor(jwk: JWK): string {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'RSA') return 'PS256';
  throw new TypeError('"dpop.privateKey" must be an EC P-256/P-384, Ed25519 or RSA private key');
}

/** Checks the `dpop` option at construction. */
export function checkDpopOption(value: unknown): true | DpopKeyOption | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return true;
  const privateKey = (value as DpopKeyOption | null)?.privateKey;
  const WebCryptoKey = (globalThis as { CryptoKey?: abstract new () => object }).CryptoKey;
  const isCryptoKey = WebCryptoKey !== undefined && privateKey instanceof WebCryptoKey;
  if (!(privateKey instanceof KeyObject || isCryptoKey) || (privateKey as { type: string }).type !== 'private') {
    throw new TypeError('"dpop" must be true or { privateKey } with a private CryptoKey or KeyObject');
  }
  const alg = (value as DpopKeyOption).alg;
  if (alg !== undefined && !['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'].includes(alg)) {
    throw new TypeError('"dpop.alg" must be ES256, ES384, EdDSA, RS256 or PS256');
  }
  return value as DpopKeyOption;
}

/** The signer for the client's lifetime: a fresh ES256 key for `true`, else the given key. */
export async function createDpopSigner(option: true | DpopKeyOption, clock: () => number): Promise<DpopSigner> {
  let privateKey: CryptoKey | KeyObject;
  let jwk: JWK;
  let alg: string;
  if (option === true) {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    jwk = await exportJWK(pair.publicKey);
    alg = 'ES256';
  } else {
    privateKey = option.privateKey;
    const keyObject = privateKey instanceof KeyObject ? privateKey : KeyObject.from(privateKey);
    jwk = await exportJWK(createPublicKey(keyObject));
    alg = option.alg ?? algFor(jwk);
  }
  const publicJwk = Object.fromEntries(Object.entries(jwk).filter(([name]) => ['kty', 'crv', 'x', 'y', 'n', 'e'].includes(name))) as JWK;
  return {
    proof(method, url, options = {}) {
      const target = new URL(url);
      return new SignJWT({
        jti: randomUUID(),
        htm: method,
        htu: `${target.origin}${target.pathname}`,
        iat: Math.floor(clock() / 1000),
        ...(options.accessToken === undefined ? {} : { ath: createHash('sha256').update(options.accessToken).digest('base64url') }),
        ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
      })
        .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk: publicJwk })
        .sign(privateKey);
    },
  };
}

/** True when a resource server's 401 asks for a DPoP nonce (RFC 9449 §9): `WWW-Authenticate: DPoP error="use_dpop_nonce"`. */
export function asksForNonce(response: Response): boolean {
  if (response.status !== 401 || !response.headers.get('dpop-nonce')) return false;
  const challenge = response.headers.get('www-authenticate') ?? '';
  return /(^|,)\s*DPoP\b[^]*error\s*=\s*"?use_dpop_nonce"?/i.test(challenge);
}
