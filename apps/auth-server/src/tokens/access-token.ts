import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { SigningKeys } from '../keys/signing-keys.js';
import { randomBase64url } from './random.js';

/** RFC 8693 §4.1 actor claim: who acts on behalf of the subject, the previous actor nested inside. */
export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

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
  /** RFC 9449 §6.1: the DPoP key the token is bound to */
  cnf?: { jkt: string };
  /** present on a token minted by token exchange (README "Token exchange") */
  act?: ActorClaim;
}

export interface AccessTokenInput {
  issuer: string;
  clientId: string;
  /** `sub`; default the client id (token exchange: the subject token's sub) */
  subject?: string | undefined;
  act?: ActorClaim | undefined;
  /** seconds since epoch after which the token may not live (token exchange: the subject token's exp) */
  notAfter?: number | undefined;
  audience: string;
  scope: string;
  /** seconds */
  ttl: number;
  /** seconds since epoch */
  now: number;
  /** DPoP key thumbprint: the token gets `cnf: {jkt}` */
  jkt?: string | undefined;
}

/** Signs an RFC 9068 access token with the active key. */
export async function signAccessToken(keys: SigningKeys, input: AccessTokenInput): Promise<string> {
  return keys.signer().signAccessToken(accessTokenClaims(input));
}

function accessTokenClaims(input: AccessTokenInput): AccessTokenClaims {
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.subject ?? input.clientId,
    aud: input.audience,
    exp: Math.min(input.now + input.ttl, input.notAfter ?? Infinity),
    iat: input.now,
    jti: randomBase64url(16),
    client_id: input.clientId,
    scope: input.scope,
  };
  if (input.jkt !== undefined) claims.cnf = { jkt: input.jkt };
  if (input.act) claims.act = input.act;
  return claims;
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
