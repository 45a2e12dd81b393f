import type { JWK } from 'jose';
import { z } from 'zod';
import { ASSERTION_ALGORITHMS, firstUnusableKey, jwksSchema, jwksUriSchema, keyFitsAlgorithm, privateMemberPath, storedJwks } from '../clients/client-jwks.js';
import { invalidRequest } from '../errors.js';
import { TOKEN_EXCHANGE_GRANT } from '../store/store.js';
import { SCOPE_TOKEN } from '../tokens/scope.js';
import { parseRequest } from './parse.js';

/** The grant types a client may be registered for. */
export const CLIENT_GRANT_TYPES = ['client_credentials', 'refresh_token', TOKEN_EXCHANGE_GRANT] as const;

/** How a client authenticates at the token endpoint (RFC 7591 names). */
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
const KEYED_ONLY = ['jwks', 'jwks_uri', 'token_endpoint_auth_signing_alg'] as const;

/**
 * The body of POST /admin/clients, also what `cli clients create` validates and what /openapi.json
 * publishes as `NewClient`. `maxTtl` is ACCESS_TOKEN_TTL (seconds); `production` refuses http jwks_uri
 * values. A field added here is validated by the route and the CLI and documented at once. Parse it with
 * {@link parseClientInput}.
 */
export const newClientSchema = (maxTtl: number, production = false) =>
  z
    .strictObject({
      name: z.string().trim().min(1).max(200).meta({ examples: ['billing exporter'] }),
      scopes: z
        .array(z.string().max(128).regex(SCOPE_TOKEN, 'a scope token (RFC 6749 §3.3)').meta({ examples: ['collect'] }))
        .min(1)
        .max(100),
      audiences: z
        .array(z.string().min(1).max(512).meta({ examples: ['collector'] }))
        .min(1)
        .max(50)
        .meta({ description: 'the first is the default token audience' }),
      grant_types: z
        .array(z.enum(CLIENT_GRANT_TYPES))
        .min(1)
        .refine((g) => g.includes('client_credentials') || g.includes(TOKEN_EXCHANGE_GRANT), `must include client_credentials or ${TOKEN_EXCHANGE_GRANT}`)
        .refine((g) => !g.includes('refresh_token') || g.includes('client_credentials'), 'refresh_token needs client_credentials')
        .meta({
          default: ['client_credentials', 'refresh_token'],
          description: `must include client_credentials or ${TOKEN_EXCHANGE_GRANT} (README "Token exchange"); refresh_token needs client_credentials`,
        })
        .optional(),
      refresh_token_auth: z.enum(['client_secret', 'none']).meta({ default: 'client_secret' }).optional(),
      access_token_ttl: z
        .number()
        .int()
        .min(1)
        .max(maxTtl, `at most ACCESS_TOKEN_TTL (${maxTtl}s)`)
        .meta({ description: 'seconds; at most ACCESS_TOKEN_TTL' })
        .optional(),
      token_endpoint_auth_method: z.enum(AUTH_METHODS).meta({ default: 'client_secret_basic' }).optional(),
      jwks: jwksSchema.meta({ description: 'private_key_jwt: the public keys, by value' }).optional(),
      jwks_uri: jwksUriSchema(production).meta({ description: 'private_key_jwt: where the public keys are served' }).optional(),
      token_endpoint_auth_signing_alg: z.enum(ASSERTION_ALGORITHMS).meta({ description: 'private_key_jwt: the one alg assertions may use' }).optional(),
      dpop_bound_access_tokens: z.boolean().meta({ default: false, description: 'RFC 9449 §5.2: token requests without a DPoP proof are refused' }).optional(),
      exchange_audiences: z
        .array(z.string().min(1).max(512).meta({ examples: ['service-b'] }))
        .min(1)
        .max(50)
        .meta({ description: `token exchange (README "Token exchange"): the targets it may exchange subject tokens for; required with grant type ${TOKEN_EXCHANGE_GRANT}` })
        .optional(),
      exchange_accepts: z
        .array(z.string().min(1).max(512).meta({ examples: ['service-a'] }))
        .min(1)
        .max(50)
        .meta({ description: 'token exchange (README "Token exchange"): audiences, besides its client id, of the subject tokens it may exchange' })
        .optional(),
    })
    .superRefine((body, ctx) => {
      const exchanges = body.grant_types?.includes(TOKEN_EXCHANGE_GRANT) ?? false;
      if (exchanges && !body.exchange_audiences) {
        ctx.addIssue({ code: 'custom', path: ['exchange_audiences'], message: `required with grant type ${TOKEN_EXCHANGE_GRANT}` });
      }
      for (const field of ['exchange_audiences', 'exchange_accepts'] as const) {
        if (!exchanges && body[field]) ctx.addIssue({ code: 'custom', path: [field], message: `needs grant type ${TOKEN_EXCHANGE_GRANT}` });
      }
      if (body.token_endpoint_auth_method !== 'private_key_jwt') {
        for (const field of KEYED_ONLY) {
          if (body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'only for token_endpoint_auth_method private_key_jwt' });
        }
        return;
      }
      if ((body.jwks === undefined) === (body.jwks_uri === undefined)) {
        ctx.addIssue({ code: 'custom', path: [body.jwks ? 'jwks_uri' : 'jwks'], message: 'a private_key_jwt client registers exactly one of jwks and jwks_uri' });
      }
      const alg = body.token_endpoint_auth_signing_alg;
      if (alg && body.jwks && !body.jwks.keys.some((k) => keyFitsAlgorithm(k as JWK, alg))) {
        ctx.addIssue({ code: 'custom', path: ['token_endpoint_auth_signing_alg'], message: `no key in jwks fits ${alg}` });
      }
    })
    .meta({ description: 'a client registration' });

export type NewClientInput = z.output<ReturnType<typeof newClientSchema>>;

/** The client id in /admin/clients/{id}; any other id is 404. */
export const clientIdSchema = z.string().regex(/^[\w.-]{1,128}$/);

/** The query of GET /admin/clients. */
export const listClientsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,9}$/).meta({ description: 'next_cursor of the previous page', examples: ['50'] }).optional(),
});

/** The body of PUT /admin/clients/{id}/jwks: exactly one of jwks and jwks_uri. */
export const clientKeysSchema = (production = false) =>
  z.union([z.strictObject({ jwks: jwksSchema }), z.strictObject({ jwks_uri: jwksUriSchema(production) })], {
    error: 'exactly one of jwks and jwks_uri',
  });

/** The body of POST /admin/clients/{id}/secret (may be empty). */
export const newSecretSchema = z.strictObject({
  previous_secret_expires_in: z
    .number()
    .int()
    .min(1)
    .max(604_800, 'at most 604800 (7 days)')
    .meta({ description: 'seconds the previous secret stays valid; without it, it stops at once' })
    .optional(),
});

/**
 * Parses a body that may carry `jwks`: a private key member anywhere is refused first (naming it), then the
 * schema, then jose checks every key is a usable public key. The stored key set keeps public members only.
 * @throws OAuthError invalid_request naming the field
 */
export async function parseClientInput<S extends z.ZodType>(schema: S, value: unknown): Promise<z.output<S>> {
  const jwks = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).jwks : undefined;
  const secretPath = privateMemberPath(jwks);
  if (secretPath) throw invalidRequest(`jwks.${secretPath.join('.')}: a private key member; register public keys only (nothing was stored)`);
  const parsed = parseRequest(schema, value);
  const keys = (parsed as { jwks?: { keys: Record<string, unknown>[] } }).jwks;
  if (!keys) return parsed;
  const bad = await firstUnusableKey(storedJwks(keys));
  if (bad !== undefined) throw invalidRequest(`jwks.keys.${bad}: not a usable public key`);
  return { ...(parsed as object), jwks: storedJwks(keys) } as z.output<S>;
}
