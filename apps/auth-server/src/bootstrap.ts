import { randomBytes } from 'node:crypto';
import { ClientKeysets, type ClientKeysetOptions } from './clients/client-keysets.js';
import { ClientRegistry } from './clients/client-registry.js';
import { generateClientSecret } from './clients/client-secret.js';
import type { Config } from './config.js';
import { refreshPolicyOf, type AppDeps } from './deps.js';
import { DpopNonces } from './dpop/nonces.js';
import { KeyEncryption } from './keys/key-encryption.js';
import { SigningKeys } from './keys/signing-keys.js';
import type { Logger } from '@tessera/service-kit';
import { createMetrics } from './metrics.js';
import { createStore } from './store/create-store.js';
import type { Clock, Store } from './store/store.js';

export interface BuildOptions {
  logger: Logger;
  store?: Store;
  clock?: Clock;
  /** limits of jwks_uri fetches (tests shorten the timeout and cooldown); default those of README "Client authentication" */
  clientKeysets?: ClientKeysetOptions;
}

/** Connects the store, loads (or creates) the signing keys and builds everything the app needs. */
export async function buildDeps(config: Config, options: BuildOptions): Promise<AppDeps> {
  const clock = options.clock ?? Date.now;
  const metrics = createMetrics();
  const store = options.store ?? (await createStore(config, clock, options.logger, (operation) => metrics.underReplicatedWrites.inc({ operation })));
  const secret = config.keyEncryptionSecret ?? randomBytes(32).toString('base64url');
  const encryption = new KeyEncryption(secret, config.keyEncryptionSecretPrevious);
  const keys = new SigningKeys({
    store,
    encryption,
    alg: config.signingAlg,
    accessTokenTtl: config.accessTokenTtl,
    jwksMaxAge: config.jwksMaxAge,
    retirementMargin: config.keyRetirementMargin,
    clock,
  });
  await keys.init();
  const clientKeysets = new ClientKeysets({
    onError: (clientId, error) =>
      options.logger.warn({ event: 'client_jwks_fetch_failed', client_id: clientId, err: { message: error.message } }, "a client's jwks_uri could not be fetched"),
    ...options.clientKeysets,
  });
  return {
    config,
    store,
    keys,
    clients: new ClientRegistry(store, clock),
    clientKeysets,
    logger: options.logger,
    metrics,
    clock,
    refreshPolicy: refreshPolicyOf(config),
    dpopNonces: new DpopNonces(secret, config.keyEncryptionSecretPrevious, clock),
  };
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

/** How long one instance holds the right to make a scheduled rotation. */
const ROTATION_LEASE_MS = 60_000;

/**
 * Polls the store every `intervalMs` so this instance signs with a key changed elsewhere within that time,
 * and makes the scheduled rotation when KEY_ROTATION_INTERVAL is due. Exactly one rotation per period across
 * instances: the instance holding the lease named after the due key rotates, and the rotation re-checks the
 * schedule on the keyset it compare-and-sets, so a late or stale instance finds nothing due.
 * @returns a function that stops the polling
 */
export function startKeyMaintenance(deps: AppDeps, intervalMs = 2000): () => void {
  const holder = randomBytes(8).toString('hex');
  const every = deps.config.keyRotationInterval;
  let running = false;
  let failing = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const before = deps.keys.signer().kid;
      await deps.keys.refresh();
      const due = every > 0 ? deps.keys.rotationDue(every) : undefined;
      if (due && (await deps.store.acquireLease(`key-rotation:${due}`, holder, ROTATION_LEASE_MS)) && (await deps.keys.rotateIfDue(every))) {
        deps.metrics.keyRotations.inc({ reason: 'scheduled' });
        deps.logger.warn(
          { event: 'signing_key_rotated', reason: 'scheduled', retired: due, active: deps.keys.signer().kid },
          'scheduled signing key rotation',
        );
      } else if (deps.keys.signer().kid !== before) {
        deps.logger.info({ event: 'signing_key_changed', active: deps.keys.signer().kid, previous: before }, 'now signing with the active key set elsewhere');
      }
      if (failing) deps.logger.info({ event: 'key_maintenance_recovered' }, 'key maintenance recovered');
      failing = false;
    } catch (error) {
      if (!failing) deps.logger.warn({ event: 'key_maintenance_failed', err: { message: (error as Error).message } }, 'key maintenance failed; retrying');
      failing = true;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
