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
 * The deps for work done on behalf of one request: its logger (lines carry the request id, made on first
 * use) and its rate-limit {@link Admission}, when a limiter is mounted on the route.
 *
 * A class, so every request's deps share one shape and one `logger` getter: an object literal with its own
 * getter gives each request a getter of its own, which V8 keeps in old space, holding the request's
 * objects past the young-generation GC (README "Performance"). Each AppDeps field is copied by name: a
 * new required field fails to compile until it is, an optional one must be added here by hand.
 */
class RequestDeps implements AppDeps {
  readonly config: Config;
  readonly store: Store;
  readonly keys: SigningKeys;
  readonly clients: ClientRegistry;
  readonly clientKeysets: ClientKeysets;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly refreshPolicy: RefreshPolicy;
  readonly dpopNonces: DpopNonces;
  readonly admission: Admission | undefined;
  readonly #locals: Record<string, unknown>;
  readonly #logger: Logger;

  constructor(deps: AppDeps, locals: Record<string, unknown>) {
    this.config = deps.config;
    this.store = deps.store;
    this.keys = deps.keys;
    this.clients = deps.clients;
    this.clientKeysets = deps.clientKeysets;
    this.metrics = deps.metrics;
    this.clock = deps.clock;
    this.refreshPolicy = deps.refreshPolicy;
    this.dpopNonces = deps.dpopNonces;
    this.admission = locals.admission as Admission | undefined;
    this.#locals = locals;
    this.#logger = deps.logger;
  }

  get logger(): Logger {
    return (this.#locals.log as Logger | undefined) ?? this.#logger;
  }
}

/** The deps for work done on behalf of one request (see {@link RequestDeps}). */
export const forRequest = (deps: AppDeps, res: { locals: Record<string, unknown> }): AppDeps => new RequestDeps(deps, res.locals);

/** The refresh policy of a configuration (ms); computed once, at wiring. */
export const refreshPolicyOf = (config: Config): RefreshPolicy => ({
  idleTtl: config.refreshTokenTtl * 1000,
  maxAge: config.refreshFamilyMaxAge * 1000,
  grace: config.refreshReuseGrace * 1000,
  maxFamiliesPerClient: config.maxFamiliesPerClient,
});
