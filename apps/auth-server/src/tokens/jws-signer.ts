import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { createSigner, type Algorithm } from 'fast-jwt';
import type { JWK } from 'jose';

/** Signs a JWT claims set as a compact JWS, synchronously. Gives `claims` an undefined `nbf` when it has none. */
export type JwsSigner = (claims: Record<string, unknown>) => string;

/**
 * The one place the auth server signs: fast-jwt over a node:crypto private key, made once per key, so a
 * token costs one synchronous signature instead of a WebCrypto job. The protected header is exactly
 * `{alg, typ, kid}`; the claims are signed as given (their `iat` is kept). jose still does everything else
 * (keys, JWKS, verification), and the test suite has jose verify what this signs for every SIGNING_ALG.
 */
export function createJwsSigner(privateJwk: JWK, alg: string, kid: string, typ: string): JwsSigner {
  const pem = createPrivateKey({ key: privateJwk as JsonWebKey, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' });
  const sign = createSigner({ key: String(pem), algorithm: alg as Algorithm, kid, header: { alg, typ } });
  return (claims) => {
    // fast-jwt copies the claims as `{ ...claims, iat, exp, nbf }`; V8 moves a spread copy that gains a key
    // its source lacks straight out of the young generation, so the claims come with every key it sets
    // (an undefined `nbf` is left out of the token, as JSON leaves out undefined)
    if (!('nbf' in claims)) claims.nbf = undefined;
    return sign(claims);
  };
}
