import { Router } from 'express';
import type { JWK } from 'jose';
import { keyFitsAlgorithm } from '../clients/client-jwks.js';
import { authMethodOf, viewClient, type ClientKeys } from '../clients/client-registry.js';
import { invalidRequest, notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { clientIdSchema, clientKeysSchema, listClientsQuery, newClientSchema, newSecretSchema, parseClientInput } from '../schemas/client.js';
import { parseRequest } from '../schemas/parse.js';

const isClientId = (id: string) => clientIdSchema.safeParse(id).success;

/** The admin API for clients (README "Auth server HTTP API"): create, list, get, delete, new secret, replace keys. */
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
    const existing = isClientId(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
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
    const { limit, cursor } = parseRequest(listClientsQuery, req.query);
    const page = await deps.clients.list(cursor, limit);
    res.json({ clients: page.clients.map(viewClient), next_cursor: page.next_cursor ?? null });
  });

  router.get('/admin/clients/:id', async (req, res) => {
    const client = isClientId(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
    if (!client) throw notFound('no such client');
    res.json(viewClient(client));
  });

  router.delete('/admin/clients/:id', async (req, res) => {
    if (!isClientId(req.params.id) || !(await deps.clients.delete(req.params.id))) throw notFound('no such client');
    deps.logger.info({ event: 'client_deleted', client_id: req.params.id, by: res.locals.token?.client_id }, 'client deleted');
    res.status(204).end();
  });

  router.post('/admin/clients/:id/secret', async (req, res) => {
    const existing = isClientId(req.params.id) ? await deps.clients.get(req.params.id) : undefined;
    if (!existing) throw notFound('no such client');
    const { previous_secret_expires_in: overlap } = parseRequest(newSecretSchema, req.body);
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
