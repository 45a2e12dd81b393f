import { Router } from 'express';
import { z } from 'zod';
import type { JWK } from 'jose';
import { ASSERTION_ALGORITHMS, firstUnusableKey, jwksSchema, jwksUriSchema, keyFitsAlgorithm, privateMemberPath, storedJwks } from '../clients/client-jwks.js';
import { authMethodOf, viewClient, type ClientKeys } from '../clients/client-registry.js';
import { invalidRequest, notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { isScopeToken } from '../tokens/scope.js';

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
const KEYED_ONLY = ['jwks', 'jwks_uri', 'token_endpoint_auth_signing_alg'] as const;

/**
 * The body of POST /admin/clients (also what `cli clients create` validates); `maxTtl` is ACCESS_TOKEN_TTL,
 * `production` refuses http jwks_uri values. Parse it with {@link parseClientInput}.
 */
export const newClientSchema = (maxTtl: number, production = false) =>
  z
    .strictObject({
    name: z.string().trim().min(1).max(200),
    scopes: z.array(z.string().max(128).refine(isScopeToken, 'a scope token (RFC 6749 §3.3)')).min(1).max(100),
    audiences: z.array(z.string().min(1).max(512)).min(1).max(50),
    grant_types: z
      .array(z.enum(['client_credentials', 'refresh_token']))
      .min(1)
      .refine((g) => g.includes('client_credentials'), 'must include client_credentials')
      .optional(),
    refresh_token_auth: z.enum(['client_secret', 'none']).optional(),
    access_token_ttl: z.number().int().min(1).max(maxTtl, `at most ACCESS_TOKEN_TTL (${maxTtl}s)`).optional(),
    token_endpoint_auth_method: z.enum(AUTH_METHODS).optional(),
    jwks: jwksSchema.optional(),
    jwks_uri: jwksUriSchema(production).optional(),
    token_endpoint_auth_signing_alg: z.enum(ASSERTION_ALGORITHMS).optional(),
    dpop_bound_access_tokens: z.boolean().optional(),
  })
    .superRefine((body, ctx) => {
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
    });

/** The body of PUT /admin/clients/:id/jwks: exactly one of jwks and jwks_uri. */
export const clientKeysSchema = (production = false) =>
  z.union([z.strictObject({ jwks: jwksSchema }), z.strictObject({ jwks_uri: jwksUriSchema(production) })], {
    error: 'exactly one of jwks and jwks_uri',
  });

/** The body of POST /admin/clients/:id/secret (may be empty). */
export const newSecretSchema = z.strictObject({
  previous_secret_expires_in: z.number().int().min(1).max(604_800, 'at most 604800 (7 days)').optional(),
});

/** A zod issue as `path: message`. */
export const describeIssue = (issue: z.core.$ZodIssue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`;

/**
 * Parses a body that may carry `jwks`: a private key member anywhere is refused first (naming it), then the
 * schema, then jose checks every key is a usable public key. The stored key set keeps public members only.
 * @throws OAuthError invalid_request naming the field
 */
export async function parseClientInput<T extends object>(schema: z.ZodType<T>, value: unknown): Promise<T> {
  const jwks = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).jwks : undefined;
  const secretPath = privateMemberPath(jwks);
  if (secretPath) throw invalidRequest(`jwks.${secretPath.join('.')}: a private key member; register public keys only (nothing was stored)`);
  const parsed = parse(schema, value);
  const keys = (parsed as { jwks?: { keys: Record<string, unknown>[] } }).jwks;
  if (!keys) return parsed;
  const bad = await firstUnusableKey(storedJwks(keys));
  if (bad !== undefined) throw invalidRequest(`jwks.keys.${bad}: not a usable public key`);
  return { ...parsed, jwks: storedJwks(keys) };
}

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,9}$/).optional(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw invalidRequest(describeIssue(result.error.issues[0]!));
}

const CLIENT_ID = /^[\w.-]{1,128}$/;

/** The admin API for clients (SPEC §3): create, list, get, delete, new secret. */
export function adminClientsRouter(deps: AppDeps): Router {
  const router = Router();
  const schema = newClientSchema(deps.config.accessTokenTtl, deps.config.production);
  const keysSchema = clientKeysSchema(deps.config.production);

  router.post('/admin/clients', async (req, res) => {
    const input = await parseClientInput(schema, req.body);
    const { client, secret } = await deps.clients.create(input);
    deps.logger.info({ event: 'client_created', client_id: client.client_id, method: authMethodOf(client), by: res.locals.token?.client_id }, 'client created');
    res
      .status(201)
      .set('Cache-Control', 'no-store')
      .json({ ...viewClient(client), ...(secret === undefined ? {} : { client_secret: secret }) });
  });

  router.put('/admin/clients/:id/jwks', async (req, res) => {
    const existing = CLIENT_ID.test(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
    if (!existing) throw notFound('no such client');
    const keys = (await parseClientInput(keysSchema, req.body)) as ClientKeys;
    if (authMethodOf(existing) !== 'private_key_jwt') throw invalidRequest('token_endpoint_auth_method: the client authenticates with a secret; only private_key_jwt clients have keys');
    const alg = existing.token_endpoint_auth_signing_alg;
    if (alg && keys.jwks && !keys.jwks.keys.some((k) => keyFitsAlgorithm(k as JWK, alg))) throw invalidRequest(`jwks: no key fits the client's token_endpoint_auth_signing_alg ${alg}`);
    const updated = await deps.clients.setKeys(req.params.id, keys);
    if (!updated) throw notFound('no such client');
    deps.logger.info({ event: 'client_keys_replaced', client_id: req.params.id, by: res.locals.token?.client_id }, 'client keys replaced');
    res.json(viewClient(updated));
  });

  router.get('/admin/clients', async (req, res) => {
    const { limit, cursor } = parse(listQuery, req.query);
    const page = await deps.clients.list(cursor, limit);
    res.json({ clients: page.clients.map(viewClient), next_cursor: page.next_cursor ?? null });
  });

  router.get('/admin/clients/:id', async (req, res) => {
    const client = CLIENT_ID.test(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
    if (!client) throw notFound('no such client');
    res.json(viewClient(client));
  });

  router.delete('/admin/clients/:id', async (req, res) => {
    if (!CLIENT_ID.test(req.params.id) || !(await deps.clients.delete(req.params.id))) throw notFound('no such client');
    deps.logger.info({ event: 'client_deleted', client_id: req.params.id, by: res.locals.token?.client_id }, 'client deleted');
    res.status(204).end();
  });

  router.post('/admin/clients/:id/secret', async (req, res) => {
    const existing = CLIENT_ID.test(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
    if (!existing) throw notFound('no such client');
    const { previous_secret_expires_in: overlap } = parse(newSecretSchema, req.body);
    if (authMethodOf(existing) === 'private_key_jwt') throw invalidRequest('token_endpoint_auth_method: a private_key_jwt client has no secret; replace its keys with PUT /admin/clients/:id/jwks');
    const rotated = await deps.clients.rotateSecret(req.params.id, overlap);
    if (!rotated) throw notFound('no such client');
    deps.logger.info(
      { event: 'client_secret_rotated', client_id: req.params.id, previous_secret_expires_in: overlap ?? 0, by: res.locals.token?.client_id },
      'client secret rotated',
    );
    res.set('Cache-Control', 'no-store').json({
      client_id: rotated.client.client_id,
      client_secret: rotated.secret,
      ...(rotated.client.previous_secret_expires_at ? { previous_secret_expires_at: new Date(rotated.client.previous_secret_expires_at).toISOString() } : {}),
    });
  });

  return router;
}
