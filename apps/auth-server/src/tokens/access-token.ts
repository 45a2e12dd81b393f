import { KeyObject, constants, sign, type SignKeyObjectInput } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { Signer, SigningKeys } from '../keys/signing-keys.js';
import { randomBase64url } from './random.js';

/** RFC 9068 claims of a Tessera access token. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope: string;
}

export interface AccessTokenInput {
  issuer: string;
  clientId: string;
  audience: string;
  scope: string;
  /** seconds */
  ttl: number;
  /** seconds since epoch */
  now: number;
}

interface CompactSigner {
  /** base64url of the protected header, followed by '.' */
  header: string;
  sign: (input: Buffer) => Buffer;
}

/**
 * node:crypto's one-shot sign with a KeyObject: the same JWS as jose's SignJWT (RFC 7515 compact, ECDSA as
 * r||s per RFC 7518 §3.4), at half the CPU of WebCrypto's job and promise machinery per token.
 */
function nodeSigner(signer: Signer): CompactSigner | undefined {
  const header = `${Buffer.from(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })).toString('base64url')}.`;
  let key: KeyObject;
  try {
    key = KeyObject.from(signer.key as unknown as Parameters<typeof KeyObject.from>[0]);
  } catch {
    return undefined;
  }
  let options: SignKeyObjectInput;
  let digest: string | null = 'sha256';
  switch (signer.alg) {
    case 'ES256':
      options = { key, dsaEncoding: 'ieee-p1363' };
      break;
    case 'EdDSA':
      options = { key };
      digest = null;
      break;
    case 'RS256':
      options = { key, padding: constants.RSA_PKCS1_PADDING };
      break;
    case 'PS256':
      options = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
      break;
    default:
      return undefined;
  }
  return { header, sign: (input) => sign(digest, input, options) };
}

/** One per Signer object (SigningKeys replaces it when the active key changes); null: use jose. */
const compactSigners = new WeakMap<Signer, { kid: string; alg: string; signer: CompactSigner | null }>();

function compactSigner(signer: Signer): CompactSigner | undefined {
  let cached = compactSigners.get(signer);
  if (!cached || cached.kid !== signer.kid || cached.alg !== signer.alg) {
    cached = { kid: signer.kid, alg: signer.alg, signer: nodeSigner(signer) ?? null };
    compactSigners.set(signer, cached);
  }
  return cached.signer ?? undefined;
}

/** Signs an RFC 9068 access token with the active key. */
export async function signAccessToken(keys: SigningKeys, input: AccessTokenInput): Promise<{ token: string; claims: AccessTokenClaims }> {
  const signer = keys.signer();
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.clientId,
    aud: input.audience,
    exp: input.now + input.ttl,
    iat: input.now,
    jti: randomBase64url(16),
    client_id: input.clientId,
    scope: input.scope,
  };
  const fast = compactSigner(signer);
  if (!fast) {
    const token = await new SignJWT(claims).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' }).sign(signer.key);
    return { token, claims };
  }
  const signingInput = `${fast.header}${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = fast.sign(Buffer.from(signingInput)).toString('base64url');
  return { token: `${signingInput}.${signature}`, claims };
}

const MAX_TOKEN_LENGTH = 8192;

/**
 * Verifies an access token this server issued, against its own published keys.
 * Returns undefined for anything that is not a valid, unexpired token of this issuer.
 */
export async function verifyOwnAccessToken(
  keys: SigningKeys,
  token: string,
  options: { issuer: string; audience?: string; now: number },
): Promise<AccessTokenClaims | undefined> {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const header = decodeProtectedHeader(token);
    if (typeof header.kid !== 'string') return undefined;
    const key = keys.verificationKey(header.kid);
    if (!key || header.alg !== key.alg) return undefined;
    const { payload } = await jwtVerify(token, key.key, {
      issuer: options.issuer,
      audience: options.audience,
      typ: 'at+jwt',
      algorithms: [key.alg],
      requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'scope'],
      currentDate: new Date(options.now * 1000),
    });
    return payload as AccessTokenClaims;
  } catch {
    return undefined;
  }
}
