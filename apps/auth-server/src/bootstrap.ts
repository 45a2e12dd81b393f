import { randomBytes } from 'node:crypto';
import { ClientRegistry } from './clients/client-registry.js';
import { generateClientSecret } from './clients/client-secret.js';
import type { Config } from './config.js';
import type { AppDeps } from './deps.js';
import { KeyEncryption } from './keys/key-encryption.js';
import { SigningKeys } from './keys/signing-keys.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createStore } from './store/create-store.js';
import type { Clock, Store } from './store/store.js';

export interface BuildOptions {
  logger: Logger;
  store?: Store;
  clock?: Clock;
}

/** Connects the store, loads (or creates) the signing keys and builds everything the app needs. */
export async function buildDeps(config: Config, options: BuildOptions): Promise<AppDeps> {
  const clock = options.clock ?? Date.now;
  const store = options.store ?? (await createStore(config, clock, options.logger));
  const encryption = new KeyEncryption(config.keyEncryptionSecret ?? randomBytes(32).toString('base64url'));
  const keys = new SigningKeys({
    store,
    encryption,
    alg: config.signingAlg,
    accessTokenTtl: config.accessTokenTtl,
    jwksMaxAge: config.jwksMaxAge,
    clock,
  });
  await keys.init();
  return { config, store, keys, clients: new ClientRegistry(store, clock), logger: options.logger, metrics: createMetrics(), clock };
}

/** The bootstrap admin client (scope admin, audience the issuer), upserted at start. */
export async function ensureAdminClient(deps: AppDeps): Promise<{ clientId: string; secret: string; generated: boolean }> {
  const { adminClientId, adminClientSecret, issuer } = deps.config;
  const generated = !adminClientId;
  const clientId = adminClientId ?? `admin-${randomBytes(6).toString('base64url')}`;
  const secret = adminClientSecret ?? generateClientSecret();
  await deps.clients.create(
    { name: 'bootstrap admin', scopes: ['admin'], audiences: [issuer], grant_types: ['client_credentials'] },
    { clientId, secret },
  );
  return { clientId, secret, generated };
}

/**
 * Polls the store so this instance picks up key changes made elsewhere (within `intervalMs`),
 * and makes the scheduled rotation when KEY_ROTATION_INTERVAL is due (one instance wins the lease).
 */
export function startKeyMaintenance(deps: AppDeps, intervalMs = 2000): () => void {
  const instance = randomBytes(8).toString('hex');
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await deps.keys.refresh();
      const every = deps.config.keyRotationInterval * 1000;
      const active = deps.keys.list().find((k) => k.state === 'active');
      if (every > 0 && active?.activated_at && Date.parse(active.activated_at) + every <= deps.clock()) {
        if (await deps.store.acquireLease(`rotation:${active.kid}`, instance, 60_000)) {
          await deps.keys.rotate(false);
          deps.metrics.keyRotations.inc({ reason: 'scheduled' });
          deps.logger.warn({ event: 'signing_key_rotated', scheduled: true, retired: active.kid }, 'scheduled signing key rotation');
        }
      }
    } catch (error) {
      deps.logger.warn({ err: { message: (error as Error).message } }, 'key maintenance failed; retrying');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
