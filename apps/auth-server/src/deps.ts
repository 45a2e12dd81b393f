import type { ClientKeysets } from './clients/client-keysets.js';
import type { ClientRegistry } from './clients/client-registry.js';
import type { Config } from './config.js';
import type { DpopNonces } from './dpop/nonces.js';
import type { Admission } from './http/rate-limit.js';
import type { SigningKeys } from './keys/signing-keys.js';
import type { Logger } from '@tessera/service-kit';
import type { Metrics } from './metrics.js';
import type { Clock, RefreshPolicy, Store } from './store/store.js';

/** What the auth server's app is built from; main.ts wires it, tests build their own. */
export interface AppDeps {
  config: Config;
  store: Store;
  keys: SigningKeys;
  clients: ClientRegistry;
  /** private_key_jwt clients' key sets fetched from their jwks_uri */
  clientKeysets: ClientKeysets;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  /** the refresh-token lifetimes, from REFRESH_TOKEN_TTL, REFRESH_FAMILY_MAX_AGE and REFRESH_REUSE_GRACE */
  refreshPolicy: RefreshPolicy;
  /** stateless DPoP server nonces (DPOP_NONCE=required) */
  dpopNonces: DpopNonces;
  /** per request (see {@link forRequest}): its rate-limit charge, which its grant's store write carries */
  admission?: Admission | undefined;
}

/**
 * The deps for work done on behalf of one request: its logger (lines carry the request id) and its
 * rate-limit {@link Admission}, when a limiter is mounted on the route.
 */
export const forRequest = (deps: AppDeps, res: { locals: Record<string, unknown> }): AppDeps => ({
  ...deps,
  admission: res.locals.admission as Admission | undefined,
  get logger() {
    return (res.locals.log as Logger | undefined) ?? deps.logger;
  },
});

/** The refresh policy of a configuration (ms); computed once, at wiring. */
export const refreshPolicyOf = (config: Config): RefreshPolicy => ({
  idleTtl: config.refreshTokenTtl * 1000,
  maxAge: config.refreshFamilyMaxAge * 1000,
  grace: config.refreshReuseGrace * 1000,
  maxFamiliesPerClient: config.maxFamiliesPerClient,
});
