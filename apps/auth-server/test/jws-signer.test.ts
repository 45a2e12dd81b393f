import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

  it("leaves its garbage in V8's young generation: signing promotes under 125 bytes a token (fast-jwt's claims copy promoted about 250)", async () => {
    // the built signer in a process of its own whose GC trace (--trace-gc-nvp) counts the bytes each scavenge promotes
    const signer = fileURLToPath(new URL('../dist/tokens/jws-signer.js', import.meta.url));
    const script = `const { createJwsSigner } = await import(${JSON.stringify(signer)});
      const { generateKeyPairSync } = await import('node:crypto');
      const sign = createJwsSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), 'ES256', 'k1', 'at+jwt');
      for (let i = 0; i < 40000; i++) sign({ iss: 'https://as.example', sub: 'c1', aud: 'api', exp: 2e9, iat: 1e9, jti: 'j' + i, client_id: 'c1', scope: 'a b' });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--max-semi-space-size=8', '--trace-gc-nvp', '--input-type=module', '-e', script], {
      maxBuffer: 64 * 2 ** 20,
    });
    const promoted = [...stdout.matchAll(/ gc=s .*? promoted=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(stdout).toMatch(/ gc=s /);
    expect(promoted / 40000).toBeLessThan(125);
  });
});
