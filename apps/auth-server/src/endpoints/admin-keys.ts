import { Router, type ErrorRequestHandler } from 'express';
import { conflict, invalidRequest, notFound } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { RotationRefusedError, UnknownKeyError } from '../keys/signing-keys.js';
import { kidSchema, rotateKeysSchema } from '../schemas/keys.js';
import { parseRequest } from '../schemas/parse.js';

/** Where the key lifecycle's domain errors become HTTP answers: 404 unknown kid, 409 refused change. */
const keyErrors: ErrorRequestHandler = (error: unknown, _req, _res, next) => {
  if (error instanceof UnknownKeyError) return next(notFound(error.message));
  if (error instanceof RotationRefusedError) return next(conflict(error.message));
  next(error);
};

/** The admin API for signing keys (README "Signing keys"): list, rotate, emergency revoke. */
export function adminKeysRouter(deps: AppDeps): Router {
  const router = Router();

  router.get('/admin/keys', async (_req, res) => {
    await deps.keys.refresh();
    res.json({ keys: deps.keys.list() });
  });

  router.post('/admin/keys/rotate', async (req, res) => {
    const { force } = parseRequest(rotateKeysSchema, req.body);
    const keys = await deps.keys.rotate(force);
    const retired = keys.filter((k) => k.state === 'retired').sort((a, b) => (a.retired_at! < b.retired_at! ? -1 : 1)).at(-1)?.kid;
    const active = keys.find((k) => k.state === 'active');
    const next = keys.find((k) => k.state === 'next');
    deps.metrics.keyRotations.inc({ reason: force ? 'forced' : 'manual' });
    deps.logger.warn(
      { event: 'signing_key_rotated', reason: force ? 'forced' : 'manual', by: res.locals.token?.client_id, retired, active: active?.kid, active_alg: active?.alg, next_alg: next?.alg },
      'signing key rotated',
    );
    res.json({ keys });
  });

  router.delete('/admin/keys/:kid', async (req, res) => {
    const kid = req.params.kid;
    if (!kidSchema.safeParse(kid).success) throw invalidRequest('malformed kid');
    const { revoked, effect, keys } = await deps.keys.revoke(kid);
    deps.metrics.keyRotations.inc({ reason: 'revoked' });
    deps.logger.warn({ event: 'signing_key_revoked', kid, state: revoked.state, by: res.locals.token?.client_id }, `signing key removed from the JWKS. ${effect}`);
    res.json({ revoked: kid, state: revoked.state, effect, keys });
  });

  router.use(keyErrors);
  return router;
}
