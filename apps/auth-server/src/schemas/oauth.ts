import { z } from 'zod';
import { invalidRequest } from '../errors.js';
import { TOKEN_EXCHANGE_GRANT } from '../store/store.js';

/** The parameters of an OAuth request, each a single string (RFC 6749 §3.2: no repeated parameters). */
export type Params = Record<string, string | undefined>;

/** The grant types /token serves; endpoints/token.ts must have a grant for each. */
export const TOKEN_GRANT_TYPES = ['client_credentials', 'refresh_token', TOKEN_EXCHANGE_GRANT] as const;
export type TokenGrantType = (typeof TOKEN_GRANT_TYPES)[number];

const clientCredentials = {
  client_id: z.string().meta({ description: 'client_secret_post (or send HTTP Basic instead); with private_key_jwt optional and equal to the assertion iss' }).optional(),
  client_secret: z.string().meta({ description: 'client_secret_post' }).optional(),
  client_assertion_type: z.literal('urn:ietf:params:oauth:client-assertion-type:jwt-bearer').meta({ description: 'private_key_jwt (RFC 7523 §2.2)' }).optional(),
  // no maxLength: an oversized assertion is a failed client authentication (401), not a malformed request
  client_assertion: z
    .string()
    .meta({
      description:
        'private_key_jwt: at most 8 KiB, a JWS signed with a registered key (ES256, ES384, EdDSA/Ed25519, RS256, PS256); iss = sub = client_id; aud the issuer, the token endpoint or this endpoint URL (one string); exp at most 5 min ahead; jti single use',
    })
    .optional(),
};
const scope = z.string().meta({ description: 'space-separated scope tokens' });

/**
 * The bodies of the OAuth endpoints, form-encoded or JSON. Unknown parameters are ignored (RFC 6749 §3.2),
 * so the objects are open; the grants check what depends on the grant (a refresh_token for refresh_token).
 */
export const tokenRequestSchema = z.looseObject({
  grant_type: z.enum(TOKEN_GRANT_TYPES).meta({ examples: ['client_credentials'] }),
  scope: scope.meta({ description: 'space-separated; defaults to every scope of the client; may only narrow on refresh' }).optional(),
  resource: z.string().meta({ description: 'RFC 8707: one of the client’s audiences; defaults to its first' }).optional(),
  refresh_token: z.string().meta({ description: 'required by the refresh_token grant' }).optional(),
  subject_token: z
    .string()
    .meta({ description: 'token exchange (RFC 8693): an active access token of this server whose aud names the client (its client id or exchange_accepts)' })
    .optional(),
  subject_token_type: z
    .string()
    .meta({ description: 'token exchange: must be urn:ietf:params:oauth:token-type:access_token', examples: ['urn:ietf:params:oauth:token-type:access_token'] })
    .optional(),
  audience: z.string().meta({ description: 'token exchange: the target, instead of resource (both only when equal); one of the client’s exchange_audiences' }).optional(),
  requested_token_type: z.string().meta({ description: 'token exchange, optional: only urn:ietf:params:oauth:token-type:access_token' }).optional(),
  ...clientCredentials,
});

export const refreshRequestSchema = z.looseObject({
  refresh_token: z.string().min(1).meta({ examples: ['AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] }),
  scope: scope.meta({ description: 'may only narrow the granted scope' }).optional(),
  ...clientCredentials,
});

/** RFC 7009 §2.1 and RFC 7662 §2.1. */
export const tokenParamSchema = z.looseObject({
  token: z.string().min(1).meta({ examples: ['not-a-token'] }),
  token_type_hint: z.string().meta({ description: 'access_token or refresh_token; not needed: the token’s form tells' }).optional(),
  ...clientCredentials,
});

/** A parameter that must be present and non-empty. */
export function requireParam(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') throw invalidRequest(`${name} is required`);
  return value;
}
