import { z } from 'zod';
import { SCOPE_TOKEN } from '../tokens/scope.js';

/** The grant types a client may be registered for. */
export const CLIENT_GRANT_TYPES = ['client_credentials', 'refresh_token'] as const;

/**
 * The body of POST /admin/clients, also what `cli clients create` validates and what /openapi.json
 * publishes as `NewClient`. `maxTtl` is ACCESS_TOKEN_TTL (seconds). A field added here is validated by
 * the route and the CLI and documented at once.
 */
export const newClientSchema = (maxTtl: number) =>
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
        .refine((g) => g.includes('client_credentials'), 'must include client_credentials')
        .meta({ contains: { const: 'client_credentials' }, default: [...CLIENT_GRANT_TYPES] })
        .optional(),
      refresh_token_auth: z.enum(['client_secret', 'none']).meta({ default: 'client_secret' }).optional(),
      access_token_ttl: z
        .number()
        .int()
        .min(1)
        .max(maxTtl, `at most ACCESS_TOKEN_TTL (${maxTtl}s)`)
        .meta({ description: 'seconds; at most ACCESS_TOKEN_TTL' })
        .optional(),
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
