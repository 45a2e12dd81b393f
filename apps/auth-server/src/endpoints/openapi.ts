import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Config } from '../config.js';
import { ASSERTION_ALGORITHMS, jwksSchema } from '../clients/client-jwks.js';
import { AUTH_METHODS, clientIdSchema, clientKeysSchema, listClientsQuery, newClientSchema, newSecretSchema } from '../schemas/client.js';
import { kidSchema, rotateKeysSchema } from '../schemas/keys.js';
import { refreshRequestSchema, tokenParamSchema, tokenRequestSchema } from '../schemas/oauth.js';

type DocConfig = Pick<Config, 'issuer' | 'collectorUrl' | 'accessTokenTtl' | 'production'>;

/** The JSON Schema (2020-12, as OpenAPI 3.1 uses) of what a request schema accepts. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'throw' });
  return rest;
}

/** Query parameters from an object schema: one parameter per property. */
function queryParameters(schema: z.ZodObject): object[] {
  const { properties = {}, required = [] } = jsonSchema(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(properties).map(([name, property]) => ({ name, in: 'query', required: required.includes(name), schema: property }));
}

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
  '415': oauthError('a body that is neither application/x-www-form-urlencoded nor application/json'),
  '429': oauthError('rate limited; RateLimit headers say when to retry'),
  '503': oauthError('temporarily_unavailable: the store is unreachable; Retry-After'),
};
const ADMIN_ERRORS = {
  '400': oauthError('invalid_request'),
  '401': oauthError('no, invalid or revoked access token (RFC 6750; WWW-Authenticate: Bearer)'),
  '403': oauthError('insufficient_scope: the token lacks scope admin'),
  '413': oauthError('body over 16 KiB'),
  '415': oauthError('a body that is not application/json'),
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
const idParam = (name: string, schema: z.ZodType) => ({ name, in: 'path', required: true, schema: jsonSchema(schema) });
const AUTH_METHOD = jsonSchema(z.enum(AUTH_METHODS));
const SIGNING_ALG = jsonSchema(z.enum(ASSERTION_ALGORITHMS));
/** RFC 9449 §4: the proof header of token requests and of DPoP-bound resource requests. */
const DPOP_HEADER = {
  name: 'DPoP',
  in: 'header',
  required: false,
  description: 'RFC 9449 DPoP proof (a dpop+jwt JWS): binds the issued access token to its key (cnf.jkt, token_type DPoP)',
  schema: { type: 'string', maxLength: 8192 },
};

/**
 * The OpenAPI 3.1 document of every endpoint of the auth server, and the collector's /collect. Request
 * schemas are generated from the zod schemas the routes validate with (schemas/); response schemas,
 * which no code validates, are declared here once.
 */
function document(config: DocConfig) {
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
      '/token': oauthPost('Token endpoint: client_credentials, refresh_token and token-exchange (RFC 8693) grants', ref('TokenRequest'), {
        description: 'token pair; Cache-Control: no-store',
        content: json(ref('TokenResponse')),
      }, [DPOP_HEADER]),
      '/token/refresh': oauthPost(
        'Refresh a token pair; client authentication unless the client registered refresh_token_auth "none"',
        ref('RefreshRequest'),
        { description: 'new token pair', content: json(ref('TokenResponse')) },
        [DPOP_HEADER],
      ),
      '/revoke': oauthPost(
        'RFC 7009 revocation: a refresh token revokes its family; an access token is denied until it expires',
        ref('TokenParameter'),
        { description: 'revoked, or unknown token' },
      ),
      '/introspect': oauthPost('RFC 7662 introspection for clients holding scope introspect or admin', ref('TokenParameter'), {
        description: 'token state',
        content: json(ref('Introspection')),
      }),
      '/admin/clients': {
        get: admin({
          summary: 'List clients (paginated)',
          parameters: queryParameters(listClientsQuery),
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
        get: admin({ summary: 'One client (never its secret)', parameters: [idParam('id', clientIdSchema)], responses: { '200': { description: 'client', content: json(ref('Client')) }, '404': oauthError('no such client') } }),
        delete: admin({ summary: 'Delete a client and revoke its refresh families', parameters: [idParam('id', clientIdSchema)], responses: { '204': { description: 'deleted' }, '404': oauthError('no such client') } }),
      },
      '/admin/clients/{id}/secret': {
        post: admin({
          summary: 'Issue a new secret; the old one stops at once, or after previous_secret_expires_in seconds (two valid at most)',
          parameters: [idParam('id', clientIdSchema)],
          requestBody: { required: false, content: json(ref('NewSecret')) },
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
          parameters: [idParam('id', clientIdSchema)],
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
          requestBody: { required: false, content: json(ref('RotateKeys')) },
          responses: { '200': { description: 'keys after rotation', content: json({ type: 'object', properties: { keys: { type: 'array', items: ref('SigningKey') } } }) }, '409': oauthError('next key too fresh') },
        }),
      },
      '/admin/keys/{kid}': {
        delete: admin({
          summary: 'Emergency revoke: the key leaves the JWKS at once (an active key is rotated out first)',
          parameters: [idParam('kid', kidSchema)],
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
        TokenRequest: jsonSchema(tokenRequestSchema),
        RefreshRequest: jsonSchema(refreshRequestSchema),
        TokenParameter: jsonSchema(tokenParamSchema),
        TokenResponse: {
          type: 'object',
          required: ['access_token', 'token_type', 'expires_in', 'scope'],
          properties: {
            access_token: { type: 'string', description: 'RFC 9068 JWT (typ at+jwt)' },
            token_type: { type: 'string', enum: ['Bearer', 'DPoP'], description: 'DPoP when the request carried a valid DPoP proof' },
            expires_in: { type: 'integer', description: 'seconds' },
            refresh_token: { type: 'string', description: 'opaque, single use; absent when the client may not refresh, and on token exchange' },
            scope: { type: 'string' },
            issued_token_type: { const: 'urn:ietf:params:oauth:token-type:access_token', description: 'token exchange only (RFC 8693 §2.2.1)' },
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
            act: { $ref: '#/components/schemas/Actor' },
          },
        },
        Actor: {
          type: 'object',
          description: 'RFC 8693 §4.1: the client acting for the subject (token exchange); the previous actor nested in act',
          required: ['sub'],
          properties: { sub: { type: 'string' }, act: { $ref: '#/components/schemas/Actor' } },
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
        NewClient: jsonSchema(newClientSchema(config.accessTokenTtl, config.production)),
        ClientJwks: jsonSchema(jwksSchema),
        ClientKeys: jsonSchema(clientKeysSchema(config.production)),
        NewSecret: jsonSchema(newSecretSchema),
        RotateKeys: jsonSchema(rotateKeysSchema),
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
            exchange_audiences: { type: 'array', items: { type: 'string' } },
            exchange_accepts: { type: 'array', items: { type: 'string' } },
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

/** Every operation refuses a body over 16 KiB, whatever its type (those that take none read and ignore a smaller one). */
function withBodyLimit<T extends { paths: Record<string, Record<string, unknown>> }>(doc: T): T {
  for (const item of Object.values(doc.paths)) {
    for (const operation of Object.values(item) as { responses?: Record<string, unknown> }[]) {
      if (operation.responses && !operation.responses['413']) operation.responses['413'] = oauthError('body over 16 KiB');
    }
  }
  return doc;
}

export const buildOpenApi = (config: DocConfig) => withBodyLimit(document(config));

/** GET /openapi.json: the document is built on the first request (not at start: /token never needs it), then served as built. */
export function openApiEndpoint(config: DocConfig): RequestHandler {
  let body: string | undefined;
  return (_req, res) => {
    body ??= JSON.stringify(buildOpenApi(config));
    res.type('application/json').send(body);
  };
}
