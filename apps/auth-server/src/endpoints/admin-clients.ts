import { Router } from 'express';
import { z } from 'zod';
import { viewClient } from '../clients/client-registry.js';
import { invalidRequest, notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { isScopeToken } from '../tokens/scope.js';

/** The body of POST /admin/clients (also what `cli clients create` validates); `maxTtl` is ACCESS_TOKEN_TTL. */
export const newClientSchema = (maxTtl: number) =>
  z.strictObject({
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
  });

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^\d{1,9}$/).optional(),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw invalidRequest(`${where}${issue.message}`);
}

const CLIENT_ID = /^[\w.-]{1,128}$/;

/** The admin API for clients (SPEC §3): create, list, get, delete, new secret. */
export function adminClientsRouter(deps: AppDeps): Router {
  const router = Router();
  const schema = newClientSchema(deps.config.accessTokenTtl);

  router.post('/admin/clients', async (req, res) => {
    const input = parse(schema, req.body);
    const { client, secret } = await deps.clients.create(input);
    deps.logger.info({ event: 'client_created', client_id: client.client_id, by: res.locals.token?.client_id }, 'client created');
    res.status(201).set('Cache-Control', 'no-store').json({ ...viewClient(client), client_secret: secret });
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
    const rotated = CLIENT_ID.test(req.params.id) ? await deps.clients.rotateSecret(req.params.id) : undefined;
    if (!rotated) throw notFound('no such client');
    deps.logger.info({ event: 'client_secret_rotated', client_id: req.params.id, by: res.locals.token?.client_id }, 'client secret rotated');
    res.set('Cache-Control', 'no-store').json({ client_id: rotated.client.client_id, client_secret: rotated.secret });
  });

  return router;
}
