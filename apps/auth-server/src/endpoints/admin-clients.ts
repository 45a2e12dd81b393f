import { Router } from 'express';
import { viewClient } from '../clients/client-registry.js';
import { notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { clientIdSchema, listClientsQuery, newClientSchema } from '../schemas/client.js';
import { parseRequest } from '../schemas/parse.js';

const isClientId = (id: string) => clientIdSchema.safeParse(id).success;

/** The admin API for clients (README "Auth server HTTP API"): create, list, get, delete, new secret. */
export function adminClientsRouter(deps: AppDeps): Router {
  const router = Router();
  const schema = newClientSchema(deps.config.accessTokenTtl);

  router.post('/admin/clients', async (req, res) => {
    const input = parseRequest(schema, req.body);
    const { client, secret } = await deps.clients.create(input);
    deps.logger.info({ event: 'client_created', client_id: client.client_id, by: res.locals.token?.client_id }, 'client created');
    res.status(201).set('Cache-Control', 'no-store').json({ ...viewClient(client), client_secret: secret });
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
    const rotated = isClientId(req.params.id) ? await deps.clients.rotateSecret(req.params.id) : undefined;
    if (!rotated) throw notFound('no such client');
    deps.logger.info({ event: 'client_secret_rotated', client_id: req.params.id, by: res.locals.token?.client_id }, 'client secret rotated');
    res.set('Cache-Control', 'no-store').json({ client_id: rotated.client.client_id, client_secret: rotated.secret });
  });

  return router;
}
