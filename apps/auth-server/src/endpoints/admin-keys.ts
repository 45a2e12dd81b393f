import { Router } from 'express';
import { invalidRequest } from '../errors.js';
import type { AppDeps } from '../deps.js';

/** The admin API for signing keys (SPEC §5): list, rotate, emergency revoke. */
export function adminKeysRouter(deps: AppDeps): Router {
  const router = Router();

  router.get('/admin/keys', (_req, res) => {
    res.json({ keys: deps.keys.list() });
  });

  router.post('/admin/keys/rotate', async (req, res) => {
    const force: unknown = (req.body as { force?: unknown } | undefined)?.force ?? false;
    if (typeof force !== 'boolean') throw invalidRequest('force must be a boolean');
    const keys = await deps.keys.rotate(force);
    deps.metrics.keyRotations.inc({ reason: force ? 'forced' : 'manual' });
    deps.logger.warn({ event: 'signing_key_rotated', forced: force, active: keys.find((k) => k.state === 'active')?.kid }, 'signing key rotated');
    res.json({ keys });
  });

  router.delete('/admin/keys/:kid', async (req, res) => {
    const kid = req.params.kid;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(kid)) throw invalidRequest('malformed kid');
    const keys = await deps.keys.revoke(kid);
    deps.metrics.keyRotations.inc({ reason: 'revoked' });
    deps.logger.warn(
      { event: 'signing_key_revoked', kid },
      'signing key removed from the JWKS; tokens it signed fail verification once resource servers refresh their keys',
    );
    res.json({ revoked: kid, keys });
  });

  return router;
}
