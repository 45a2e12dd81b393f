// Peer: node-oidc-provider issuing ES256 JWT access tokens (RFC 9068 profile) on client_credentials.
// The resource indicators feature makes the access token a JWT; the default in-process adapter stores
// nothing for a JWT client_credentials token. Env: PORT, HOST, CLIENT_ID, CLIENT_SECRET, AUDIENCE, SCOPE.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 4100);
const host = process.env.HOST ?? '127.0.0.1';
const issuer = `http://${host}:${port}`;
const audience = process.env.AUDIENCE ?? 'collector';
const scope = process.env.SCOPE ?? 'collect';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID ?? 'bench',
      client_secret: process.env.CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope,
    },
  ],
  jwks: { keys: [jwk] },
  scopes: [scope],
  ttl: { ClientCredentials: 900 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench:collector',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope,
        audience,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.proxy = false;
provider.on('server_error', (_ctx, error) => process.stderr.write(`oidc-provider: ${error.stack}\n`));

provider.listen(port, host, () => process.stdout.write(`oidc-provider listening on ${issuer}\n`));
process.on('SIGTERM', () => process.exit(0));
