import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { SIGNING_ALGS } from '../src/config.js';
import { createJwsSigner } from '../src/tokens/jws-signer.js';

describe('the access-token signer (fast-jwt over node:crypto)', () => {
  it.each(SIGNING_ALGS)('signs %s tokens that jose verifies, with exactly {alg, typ, kid} and the claims as given', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const sign = createJwsSigner(await exportJWK(privateKey), alg, 'kid-1', 'at+jwt');
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'https://as.example', sub: 'c1', aud: 'api', exp: now + 300, iat: now - 7, jti: 'j1', client_id: 'c1', scope: 'a b', cnf: { jkt: 'x' } };
    const token = sign(claims);
    const { payload, protectedHeader } = await jwtVerify(token, publicKey, { algorithms: [alg], typ: 'at+jwt', issuer: 'https://as.example', audience: 'api' });
    expect(protectedHeader).toEqual({ alg, typ: 'at+jwt', kid: 'kid-1' });
    expect(payload).toEqual(claims);
    expect(decodeProtectedHeader(sign({ ...claims, jti: 'j2' })).kid).toBe('kid-1');

    const other = await generateKeyPair(alg);
    await expect(jwtVerify(token, other.publicKey, { algorithms: [alg] })).rejects.toThrow();
  });
});
