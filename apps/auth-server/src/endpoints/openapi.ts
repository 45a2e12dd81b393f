import type { RequestHandler } from 'express';
import type { Config } from '../config.js';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const oauthError = (description: string) => ({ description, content: json(ref('OAuthError')) });
const form = (schema: object) => ({
  required: true,
  content: { 'application/x-www-form-urlencoded': { schema }, 'application/json': { schema } },
});

const TOKEN_ERRORS = {
  '400': oauthError(
    'invalid_request, invalid_grant, invalid_scope, invalid_target, unauthorized_client or unsupported_grant_type (RFC 6749 §5.2); invalid_dpop_proof, or use_dpop_nonce with a DPoP-Nonce header (RFC 9449)',
  ),
  '401': oauthError('invalid_client; WWW-Authenticate: Basic when Basic was used'),
  '413': oauthError('body over 16 KiB'),
  '429': oauthError('rate limited; RateLimit headers say when to retry'),
  '503': oauthError('temporarily_unavailable: the store is unreachable; Retry-After'),
};
const ADMIN_ERRORS = {
  '400': oauthError('invalid_request'),
  '401': oauthError('no, invalid or revoked access token (RFC 6750; WWW-Authenticate: Bearer)'),
  '403': oauthError('insufficient_scope: the token lacks scope admin'),
  '503': oauthError('temporarily_unavailable'),
};
const admin = (operation: Record<string, unknown>) => ({
  tags: ['admin'],
  security: [{ adminBearer: [] }],
  ...operation,
  responses: { ...(operation.responses as object), ...ADMIN_ERRORS },
});
/** A form/JSON POST of the OAuth endpoints, with client authentication and the §5.2 errors. */
const oauthPost = (summary: string, body: object, ok: object, parameters: object[] = []) => ({
  post: { tags: ['oauth'], summary, security: [{ clientBasic: [] }, {}], parameters, requestBody: form(body), responses: { '200': ok, ...TOKEN_ERRORS } },
});
/** private_key_jwt (RFC 7523 §2.2, SPEC §10): accepted wherever client authentication is. */
const ASSERTION_PARAMS = {
  client_assertion_type: { type: 'string', const: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', description: 'private_key_jwt' },
  client_assertion: {
    type: 'string',
    maxLength: 8192,
    description:
      'private_key_jwt: a JWS signed with a registered key (ES256, ES384, EdDSA/Ed25519, RS256, PS256); iss = sub = client_id; aud the issuer, the token endpoint or this endpoint URL (one string); exp at most 5 min ahead; jti single use',
  },
};
const TOKEN_PARAM = {
  type: 'object',
  required: ['token'],
  properties: { token: { type: 'string' }, token_type_hint: { type: 'string', enum: ['access_token', 'refresh_token'] }, ...ASSERTION_PARAMS },
};
const AUTH_METHOD = { type: 'string', enum: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'], default: 'client_secret_basic' };
const SIGNING_ALG = { type: 'string', enum: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] };
/** RFC 9449 §4: the proof header of token requests and of DPoP-bound resource requests. */
const DPOP_HEADER = {
  name: 'DPoP',
  in: 'header',
  required: false,
  description: 'RFC 9449 DPoP proof (a dpop+jwt JWS): binds the issued access token to its key (cnf.jkt, token_type DPoP)',
  schema: { type: 'string', maxLength: 8192 },
};
const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/** The OpenAPI 3.1 document of every endpoint of the auth server, and the collector's /collect. */
export function buildOpenApi(config: Pick<Config, 'issuer' | 'collectorUrl'>) {
  const { issuer, collectorUrl } = config;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera',
      version: '0.1.0',
      description:
        'OAuth 2.0 authorization server for machine-to-machine tokens (RFC 6749, 9068, 7009, 7662, 8414) and its collector resource server. Authorize with the oauth2 scheme (client_credentials) to call /collect, or with the admin bearer token for /admin.',
    },
    servers: [{ url: issuer, description: 'auth server' }],
    tags: [{ name: 'oauth' }, { name: 'discovery' }, { name: 'admin' }, { name: 'operations' }, { name: 'collector' }],
    paths: {
      '/.well-known/oauth-authorization-server': {
        get: { tags: ['discovery'], summary: 'RFC 8414 metadata', responses: { '200': { description: 'metadata', content: json(ref('Metadata')) } } },
      },
      '/.well-known/jwks.json': {
        get: {
          tags: ['discovery'],
          summary: 'Published public signing keys (next, active and retired)',
          responses: { '200': { description: 'JWK Set', content: { 'application/jwk-set+json': { schema: ref('Jwks') } } } },
        },
      },
      '/token': oauthPost('Token endpoint: client_credentials and refresh_token grants', ref('TokenRequest'), {
        description: 'token pair; Cache-Control: no-store',
        content: json(ref('TokenResponse')),
      }, [DPOP_HEADER]),
      '/token/refresh': oauthPost(
        'Refresh a token pair; client authentication unless the client registered refresh_token_auth "none"',
        { type: 'object', required: ['refresh_token'], properties: { refresh_token: { type: 'string' }, scope: { type: 'string' }, ...ASSERTION_PARAMS } },
        { description: 'new token pair', content: json(ref('TokenResponse')) },
        [DPOP_HEADER],
      ),
      '/revoke': oauthPost(
        'RFC 7009 revocation: a refresh token revokes its family; an access token is denied until it expires',
        TOKEN_PARAM,
        { description: 'revoked, or unknown token' },
      ),
      '/introspect': oauthPost('RFC 7662 introspection for clients holding scope introspect or admin', TOKEN_PARAM, {
        description: 'token state',
        content: json(ref('Introspection')),
      }),
      '/admin/clients': {
        get: admin({
          summary: 'List clients (paginated)',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'a page',
              content: json({
                type: 'object',
                properties: { clients: { type: 'array', items: ref('Client') }, next_cursor: { type: ['string', 'null'] } },
              }),
            },
          },
        }),
        post: admin({
          summary: 'Register a client; the secret is shown only here (a private_key_jwt client has none)',
          requestBody: { required: true, content: json(ref('NewClient')) },
          responses: { '201': { description: 'created', content: json({ allOf: [ref('Client'), { type: 'object', properties: { client_secret: { type: 'string' } } }] }) } },
        }),
      },
      '/admin/clients/{id}': {
        get: admin({ summary: 'One client (never its secret)', parameters: [idParam('id')], responses: { '200': { description: 'client', content: json(ref('Client')) }, '404': oauthError('no such client') } }),
        delete: admin({ summary: 'Delete a client and revoke its refresh families', parameters: [idParam('id')], responses: { '204': { description: 'deleted' }, '404': oauthError('no such client') } }),
      },
      '/admin/clients/{id}/secret': {
        post: admin({
          summary: 'Issue a new secret; the old one stops at once, or after previous_secret_expires_in seconds (two valid at most)',
          parameters: [idParam('id')],
          requestBody: {
            required: false,
            content: json({
              type: 'object',
              additionalProperties: false,
              properties: { previous_secret_expires_in: { type: 'integer', minimum: 1, maximum: 604800, description: 'seconds the replaced secret stays valid' } },
            }),
          },
          responses: {
            '200': {
              description: 'new secret, shown once',
              content: json({
                type: 'object',
                properties: { client_id: { type: 'string' }, client_secret: { type: 'string' }, previous_secret_expires_at: { type: 'string', format: 'date-time' } },
              }),
            },
            '404': oauthError('no such client'),
          },
        }),
      },
      '/admin/clients/{id}/jwks': {
        put: admin({
          summary: "Replace a private_key_jwt client's keys: {jwks} or {jwks_uri}",
          parameters: [idParam('id')],
          requestBody: { required: true, content: json(ref('ClientKeys')) },
          responses: { '200': { description: 'client with its new keys', content: json(ref('Client')) }, '404': oauthError('no such client') },
        }),
      },
      '/admin/keys': {
        get: admin({ summary: 'Signing keys and their states', responses: { '200': { description: 'keys', content: json({ type: 'object', properties: { keys: { type: 'array', items: ref('SigningKey') } } }) } } }),
      },
      '/admin/keys/rotate': {
        post: admin({
          summary: 'Rotate: next → active → retired, new next; refused while next is younger than the JWKS max-age unless forced',
          requestBody: { required: false, content: json({ type: 'object', properties: { force: { type: 'boolean', default: false } } }) },
          responses: { '200': { description: 'keys after rotation', content: json({ type: 'object', properties: { keys: { type: 'array', items: ref('SigningKey') } } }) }, '409': oauthError('next key too fresh') },
        }),
      },
      '/admin/keys/{kid}': {
        delete: admin({
          summary: 'Emergency revoke: the key leaves the JWKS at once (an active key is rotated out first)',
          parameters: [idParam('kid')],
          responses: { '200': { description: 'revoked', content: json({
              type: 'object',
              properties: {
                revoked: { type: 'string' },
                state: { type: 'string', enum: ['next', 'active', 'retired'], description: 'the state the key had' },
                effect: { type: 'string', description: 'what the revocation means for tokens already issued' },
                keys: { type: 'array', items: ref('SigningKey') },
              },
            }) }, '404': oauthError('no such key') },
        }),
      },
      '/healthz': { get: { tags: ['operations'], summary: 'Liveness', responses: { '200': { description: 'alive', content: json({ type: 'object', properties: { status: { const: 'ok' } } }) } } } },
      '/readyz': {
        get: {
          tags: ['operations'],
          summary: 'Readiness: store reachable and an active signing key',
          responses: { '200': { description: 'ready', content: json(ref('Readiness')) }, '503': { description: 'not ready', content: json(ref('Readiness')) } },
        },
      },
      '/metrics': { get: { tags: ['operations'], summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { tags: ['operations'], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
      '/docs': { get: { tags: ['operations'], summary: 'Swagger UI', responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } } } },
      '/collect': {
        servers: [{ url: collectorUrl, description: 'collector' }],
        get: {
          tags: ['collector'],
          summary: 'The collector: the verified claims of a valid access token with scope collect and audience collector',
          security: [{ oauth2: ['collect'] }, { collectorBearer: [] }, { collectorDpop: [] }],
          parameters: [{ ...DPOP_HEADER, description: 'RFC 9449 proof for this request (htm GET, htu the /collect URL, ath of the token); required with Authorization: DPoP' }],
          responses: {
            '200': { description: 'verified', content: json({ type: 'object', properties: { message: { type: 'string' }, claims: ref('AccessTokenClaims') } }) },
            '400': oauthError('invalid_request: malformed Authorization header (RFC 6750)'),
            '401': oauthError(
              'no token (no error code), invalid_token or invalid_dpop_proof; WWW-Authenticate carries both challenges: Bearer realm="collector", DPoP algs="…" (RFC 6750, RFC 9449 §7.1)',
            ),
            '403': oauthError('insufficient_scope'),
            '503': oauthError('the signing keys are not available yet'),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        clientBasic: { type: 'http', scheme: 'basic', description: 'client_secret_basic: client_id and client_secret' },
        adminBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'access token with scope admin and audience the issuer' },
        collectorBearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        collectorDpop: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'RFC 9449: `Authorization: DPoP <DPoP-bound access token>` plus a `DPoP` proof header per request',
        },
        oauth2: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { collect: 'call /collect', admin: 'the admin API', introspect: 'call /introspect' } } },
        },
      },
      schemas: {
        OAuthError: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'string' }, error_description: { type: 'string' } },
        },
        TokenRequest: {
          type: 'object',
          required: ['grant_type'],
          properties: {
            grant_type: { type: 'string', enum: ['client_credentials', 'refresh_token'] },
            scope: { type: 'string', description: 'space-separated; defaults to every scope of the client; may only narrow on refresh' },
            resource: { type: 'string', description: 'RFC 8707: one of the client’s audiences; defaults to its first' },
            refresh_token: { type: 'string' },
            client_id: { type: 'string', description: 'client_secret_post; with private_key_jwt optional and equal to the assertion iss' },
            client_secret: { type: 'string', description: 'client_secret_post' },
            ...ASSERTION_PARAMS,
          },
        },
        TokenResponse: {
          type: 'object',
          required: ['access_token', 'token_type', 'expires_in', 'scope'],
          properties: {
            access_token: { type: 'string', description: 'RFC 9068 JWT (typ at+jwt)' },
            token_type: { type: 'string', enum: ['Bearer', 'DPoP'], description: 'DPoP when the request carried a valid DPoP proof' },
            expires_in: { type: 'integer', description: 'seconds' },
            refresh_token: { type: 'string', description: 'opaque, single use; absent when the client may not refresh' },
            scope: { type: 'string' },
          },
        },
        AccessTokenClaims: {
          type: 'object',
          properties: {
            iss: { type: 'string' },
            sub: { type: 'string' },
            aud: { type: 'string' },
            exp: { type: 'integer' },
            iat: { type: 'integer' },
            jti: { type: 'string' },
            client_id: { type: 'string' },
            scope: { type: 'string' },
            cnf: { type: 'object', properties: { jkt: { type: 'string', description: 'RFC 7638 thumbprint of the DPoP key' } } },
          },
        },
        Introspection: {
          type: 'object',
          required: ['active'],
          allOf: [ref('AccessTokenClaims')],
          properties: {
            active: { type: 'boolean' },
            token_type: { type: 'string', enum: ['access_token', 'refresh_token', 'DPoP'], description: 'DPoP for a DPoP-bound access token' },
          },
        },
        NewClient: {
          type: 'object',
          required: ['name', 'scopes', 'audiences'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 200 },
            scopes: { type: 'array', items: { type: 'string' }, minItems: 1 },
            audiences: { type: 'array', items: { type: 'string' }, minItems: 1, description: 'the first is the default token audience' },
            grant_types: { type: 'array', items: { type: 'string', enum: ['client_credentials', 'refresh_token'] }, default: ['client_credentials', 'refresh_token'] },
            refresh_token_auth: { type: 'string', enum: ['client_secret', 'none'], default: 'client_secret' },
            access_token_ttl: { type: 'integer', description: 'seconds; at most ACCESS_TOKEN_TTL' },
            token_endpoint_auth_method: AUTH_METHOD,
            jwks: { ...ref('ClientJwks'), description: 'private_key_jwt: the public keys by value (exactly one of jwks and jwks_uri)' },
            jwks_uri: { type: 'string', format: 'uri', maxLength: 2048, description: 'private_key_jwt: https (http only for loopback hosts, not in production)' },
            token_endpoint_auth_signing_alg: { ...SIGNING_ALG, description: 'private_key_jwt: pins the assertion alg' },
            dpop_bound_access_tokens: { type: 'boolean', default: false, description: 'RFC 9449 §5.2: token requests without a DPoP proof are refused' },
          },
        },
        ClientJwks: {
          type: 'object',
          required: ['keys'],
          properties: {
            keys: {
              type: 'array',
              minItems: 1,
              maxItems: 10,
              items: {
                type: 'object',
                required: ['kty', 'kid'],
                description: 'public JWK: EC P-256/P-384, OKP Ed25519 or RSA ≥ 2048 bits; any private member (d, p, q, dp, dq, qi, k) is refused',
                properties: {
                  kty: { type: 'string', enum: ['EC', 'OKP', 'RSA'] },
                  kid: { type: 'string', maxLength: 256 },
                  use: { const: 'sig' },
                  alg: SIGNING_ALG,
                  crv: { type: 'string', enum: ['P-256', 'P-384', 'Ed25519'] },
                  x: { type: 'string' },
                  y: { type: 'string' },
                  n: { type: 'string' },
                  e: { type: 'string' },
                },
              },
            },
          },
        },
        ClientKeys: {
          oneOf: [
            { type: 'object', required: ['jwks'], additionalProperties: false, properties: { jwks: ref('ClientJwks') } },
            { type: 'object', required: ['jwks_uri'], additionalProperties: false, properties: { jwks_uri: { type: 'string', format: 'uri' } } },
          ],
        },
        Client: {
          type: 'object',
          properties: {
            client_id: { type: 'string' },
            name: { type: 'string' },
            scopes: { type: 'array', items: { type: 'string' } },
            audiences: { type: 'array', items: { type: 'string' } },
            grant_types: { type: 'array', items: { type: 'string' } },
            refresh_token_auth: { type: 'string' },
            access_token_ttl: { type: 'integer' },
            token_endpoint_auth_method: AUTH_METHOD,
            jwks: ref('ClientJwks'),
            jwks_uri: { type: 'string' },
            token_endpoint_auth_signing_alg: SIGNING_ALG,
            dpop_bound_access_tokens: { type: 'boolean' },
            created_at: { type: 'string', format: 'date-time' },
            secret_rotated_at: { type: 'string', format: 'date-time' },
            previous_secret_expires_at: { type: 'string', format: 'date-time', description: 'until when the replaced secret still works' },
          },
        },
        SigningKey: {
          type: 'object',
          properties: {
            kid: { type: 'string' },
            alg: { type: 'string' },
            state: { type: 'string', enum: ['next', 'active', 'retired'] },
            created_at: { type: 'string', format: 'date-time' },
            activated_at: { type: 'string', format: 'date-time' },
            retired_at: { type: 'string', format: 'date-time' },
            removed_at: { type: 'string', format: 'date-time', description: 'when a retired key leaves the JWKS' },
          },
        },
        Metadata: { type: 'object', properties: { issuer: { type: 'string' }, token_endpoint: { type: 'string' }, jwks_uri: { type: 'string' } } },
        Jwks: { type: 'object', properties: { keys: { type: 'array', items: { type: 'object' } } } },
        Readiness: { type: 'object', properties: { status: { type: 'string' }, checks: { type: 'object' } } },
      },
    },
  };
}

/** GET /openapi.json */
export function openApiEndpoint(config: Pick<Config, 'issuer' | 'collectorUrl'>): RequestHandler {
  const body = JSON.stringify(buildOpenApi(config));
  return (_req, res) => {
    res.type('application/json').send(body);
  };
}
