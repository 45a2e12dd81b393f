import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { promotedBytesPerCall } from '../../../test/support/promotion.js';

// The built modules, as the server runs them (npm test builds first).
const dist = (path: string) => JSON.stringify(fileURLToPath(new URL(`../dist/${path}`, import.meta.url)));

// V8 promotes a spread copy that gains a key its source lacks (`{ ...source, extra }`) straight out of the
// young generation, on every call. Each case below did so on the /token path before it was fixed; the
// figure after "was" is what it promoted per call then.
describe("per-request work leaves its garbage in V8's young generation", () => {
  it('signing an access token (fast-jwt copies the claims with iat, exp and nbf; was 238 B)', async () => {
    const promoted = await promotedBytesPerCall(
      `const { createJwsSigner } = await import(${dist('tokens/jws-signer.js')});
       const { generateKeyPairSync } = await import('node:crypto');
       const sign = createJwsSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), 'ES256', 'k1', 'at+jwt');`,
      `sign({ iss: 'https://as.example', sub: 'c1', aud: 'api', exp: 2e9, iat: 1e9, jti: 'j' + i, client_id: 'c1', scope: 'a b' });`,
    );
    expect(promoted).toBeLessThan(100);
  });

  it("validating the /token parameters (zod copies the parse context with async; was 54 B)", async () => {
    const promoted = await promotedBytesPerCall(
      `const { parseRequest } = await import(${dist('schemas/parse.js')});
       const { tokenRequestSchema } = await import(${dist('schemas/oauth.js')});`,
      `parseRequest(tokenRequestSchema, { grant_type: 'client_credentials', scope: 'collect' });`,
    );
    expect(promoted).toBeLessThan(30);
  });

  it('reading Basic client credentials (was 82 B)', async () => {
    const promoted = await promotedBytesPerCall(
      `const { readClientCredentials } = await import(${dist('http/client-authentication.js')});
       const req = { headers: { authorization: 'Basic ' + Buffer.from('client-1:secret-1').toString('base64') } };`,
      `readClientCredentials(req, { grant_type: 'client_credentials' });`,
      200_000,
    );
    expect(promoted).toBeLessThan(30);
  });
});
