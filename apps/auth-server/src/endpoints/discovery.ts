import type { RequestHandler } from 'express';
import type { AppDeps } from '../deps.js';
import { DPOP_SIGNING_ALGS } from '../dpop/binding.js';
import { SUPPORTED_GRANT_TYPES } from './token.js';
import { ASSERTION_ALGORITHMS } from '../clients/client-jwks.js';

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

/** GET /.well-known/oauth-authorization-server (RFC 8414). */
export function metadataEndpoint(deps: AppDeps): RequestHandler {
  const { issuer, signingAlg } = deps.config;
  return (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300').json({
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      revocation_endpoint: `${issuer}/revoke`,
      introspection_endpoint: `${issuer}/introspect`,
      grant_types_supported: SUPPORTED_GRANT_TYPES,
      response_types_supported: [],
      token_endpoint_auth_methods_supported: AUTH_METHODS,
      token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
      revocation_endpoint_auth_methods_supported: AUTH_METHODS,
      revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
      introspection_endpoint_auth_methods_supported: AUTH_METHODS,
      introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
      scopes_supported: ['admin', 'introspect'],
      access_token_signing_alg_values_supported: [...new Set([signingAlg, ...deps.keys.list().map((k) => k.alg)])],
      dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
      service_documentation: `${issuer}/docs`,
    });
  };
}

/** GET /.well-known/jwks.json: public keys only, cacheable for JWKS_MAX_AGE. */
export function jwksEndpoint(deps: AppDeps): RequestHandler {
  return (_req, res) => {
    res
      .set('Content-Type', 'application/jwk-set+json')
      .set('Cache-Control', `public, max-age=${deps.config.jwksMaxAge}`)
      .send(deps.keys.jwks());
  };
}
