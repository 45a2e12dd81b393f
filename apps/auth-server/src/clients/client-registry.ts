import type { ClientPage, ClientRecord, Clock, GrantType, PublicJwk, RefreshTokenAuth, Store, TokenEndpointAuthMethod } from '../store/store.js';
import { generateClientId, generateClientSecret, hashClientSecret, verifyClientSecret } from './client-secret.js';

export interface NewClient {
  name: string;
  scopes: string[];
  audiences: string[];
  grant_types?: GrantType[] | undefined;
  refresh_token_auth?: RefreshTokenAuth | undefined;
  /** seconds */
  access_token_ttl?: number | undefined;
  token_endpoint_auth_method?: TokenEndpointAuthMethod | undefined;
  jwks?: { keys: PublicJwk[] } | undefined;
  jwks_uri?: string | undefined;
  token_endpoint_auth_signing_alg?: string | undefined;
  /** RFC 9449 §5.2: every token request must carry a DPoP proof */
  dpop_bound_access_tokens?: boolean | undefined;
  exchange_audiences?: string[] | undefined;
  exchange_accepts?: string[] | undefined;
}

/** A private_key_jwt client's keys: by value or by reference, exactly one. */
export type ClientKeys = { jwks: { keys: PublicJwk[] }; jwks_uri?: undefined } | { jwks_uri: string; jwks?: undefined };

/** A client as the admin API shows it: everything but the secret hash. */
export type ClientView = Omit<
  ClientRecord,
  'secret_hash' | 'created_at' | 'secret_rotated_at' | 'previous_secret_hash' | 'previous_secret_expires_at' | 'token_endpoint_auth_method'
> & {
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  created_at: string;
  secret_rotated_at?: string;
  previous_secret_expires_at?: string;
};

/** The method a client registered (absent on records made before private_key_jwt: client_secret_basic). */
export const authMethodOf = (client: ClientRecord): TokenEndpointAuthMethod => client.token_endpoint_auth_method ?? 'client_secret_basic';

export const DEFAULT_GRANT_TYPES: GrantType[] = ['client_credentials', 'refresh_token'];

export function viewClient(client: ClientRecord): ClientView {
  const { secret_hash: _hash, previous_secret_hash: _previous, previous_secret_expires_at, created_at, secret_rotated_at, ...rest } = client;
  return {
    ...rest,
    token_endpoint_auth_method: authMethodOf(client),
    created_at: new Date(created_at).toISOString(),
    ...(secret_rotated_at ? { secret_rotated_at: new Date(secret_rotated_at).toISOString() } : {}),
    ...(previous_secret_expires_at ? { previous_secret_expires_at: new Date(previous_secret_expires_at).toISOString() } : {}),
  };
}

export interface ClientRegistryOptions {
  /** ms an authenticated client record is reused without reading the store again (0 turns the cache off) */
  cacheTtl?: number;
  /** most client records kept */
  cacheSize?: number;
}

/** ms; bounds how long another instance may still accept a deleted client or a replaced secret */
export const CLIENT_CACHE_TTL = 2000;
const CLIENT_CACHE_SIZE = 10_000;

/**
 * Registers clients and checks their credentials. Secrets exist in clear only in the create/rotate answers.
 *
 * `authenticate` keeps the client records it read for CLIENT_CACHE_TTL (2 s), so /token does not read the
 * store on every request. Changes made through this registry (create, delete, new secret) drop the entry at
 * once; a change made by another instance is seen within the TTL: a deleted client, or a secret just
 * replaced, authenticates on other instances for at most 2 seconds more. A failed check against a cached
 * record always re-reads the store, so a new secret works everywhere at once. Misses are never cached.
 */
export class ClientRegistry {
  readonly #cache = new Map<string, { client: ClientRecord; expires: number }>();
  readonly #cacheTtl: number;
  readonly #cacheSize: number;
  /** bumped by every local change, so a read that raced with it is not cached */
  #generation = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock = Date.now,
    options: ClientRegistryOptions = {},
  ) {
    this.#cacheTtl = options.cacheTtl ?? CLIENT_CACHE_TTL;
    this.#cacheSize = options.cacheSize ?? CLIENT_CACHE_SIZE;
  }

  /** Drops a cached client record (after a change to it). */
  invalidate(clientId: string): void {
    this.#generation++;
    this.#cache.delete(clientId);
  }

  async #read(clientId: string): Promise<ClientRecord | undefined> {
    const generation = this.#generation;
    const client = await this.store.getClient(clientId);
    if (client && this.#cacheTtl > 0 && generation === this.#generation) {
      this.#cache.delete(clientId);
      if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(clientId, { client, expires: performance.now() + this.#cacheTtl });
    }
    return client;
  }

  #cached(clientId: string): ClientRecord | undefined {
    const hit = this.#cache.get(clientId);
    if (!hit) return undefined;
    if (hit.expires > performance.now()) return hit.client;
    this.#cache.delete(clientId);
    return undefined;
  }

  /**
   * Registers a client. A secret client gets a new secret (returned once); a private_key_jwt client gets
   * none (`secret` is undefined) and keeps its `jwks` or `jwks_uri`.
   */
  create(
    input: NewClient & { token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | undefined },
    fixed?: { clientId: string; secret: string },
  ): Promise<{ client: ClientRecord; secret: string }>;
  create(input: NewClient, fixed?: { clientId: string; secret: string }): Promise<{ client: ClientRecord; secret: string | undefined }>;
  async create(input: NewClient, fixed?: { clientId: string; secret: string }): Promise<{ client: ClientRecord; secret: string | undefined }> {
    const clientId = fixed?.clientId ?? generateClientId();
    const keyed = input.token_endpoint_auth_method === 'private_key_jwt';
    const secret = keyed ? undefined : (fixed?.secret ?? generateClientSecret());
    const client: ClientRecord = {
      client_id: clientId,
      name: input.name,
      secret_hash: secret === undefined ? '' : hashClientSecret(clientId, secret),
      scopes: [...new Set(input.scopes)],
      audiences: [...new Set(input.audiences)],
      grant_types: [...new Set(input.grant_types ?? DEFAULT_GRANT_TYPES)],
      refresh_token_auth: input.refresh_token_auth ?? 'client_secret',
      ...(input.access_token_ttl ? { access_token_ttl: input.access_token_ttl } : {}),
      ...(input.token_endpoint_auth_method ? { token_endpoint_auth_method: input.token_endpoint_auth_method } : {}),
      ...(keyed && input.jwks ? { jwks: input.jwks } : {}),
      ...(keyed && input.jwks_uri ? { jwks_uri: input.jwks_uri } : {}),
      ...(keyed && input.token_endpoint_auth_signing_alg ? { token_endpoint_auth_signing_alg: input.token_endpoint_auth_signing_alg } : {}),
      ...(input.dpop_bound_access_tokens ? { dpop_bound_access_tokens: true } : {}),
      ...(input.exchange_audiences ? { exchange_audiences: [...new Set(input.exchange_audiences)] } : {}),
      ...(input.exchange_accepts ? { exchange_accepts: [...new Set(input.exchange_accepts)] } : {}),
      created_at: this.clock(),
    };
    await this.store.putClient(client);
    this.invalidate(clientId);
    return { client, secret };
  }

  get(clientId: string): Promise<ClientRecord | undefined> {
    return this.store.getClient(clientId);
  }

  list(cursor: string | undefined, limit: number): Promise<ClientPage> {
    return this.store.listClients(cursor, limit);
  }

  async delete(clientId: string): Promise<boolean> {
    this.invalidate(clientId);
    try {
      return await this.store.deleteClient(clientId);
    } finally {
      this.invalidate(clientId);
    }
  }

  /**
   * Issues a new secret. Without `previousSecretExpiresIn` (seconds) every earlier secret stops at once;
   * with it the secret replaced now stays valid that long more, and any older one ends (two at most).
   * Only for secret clients: callers check the method first.
   */
  async rotateSecret(clientId: string, previousSecretExpiresIn?: number): Promise<{ client: ClientRecord; secret: string } | undefined> {
    const client = await this.store.getClient(clientId);
    if (!client) return undefined;
    const secret = generateClientSecret();
    const now = this.clock();
    const { previous_secret_hash: _hash, previous_secret_expires_at: _expires, ...rest } = client;
    const updated: ClientRecord = {
      ...rest,
      secret_hash: hashClientSecret(clientId, secret),
      secret_rotated_at: now,
      ...(previousSecretExpiresIn ? { previous_secret_hash: client.secret_hash, previous_secret_expires_at: now + previousSecretExpiresIn * 1000 } : {}),
    };
    this.invalidate(clientId);
    try {
      await this.store.putClient(updated);
    } finally {
      this.invalidate(clientId);
    }
    return { client: updated, secret };
  }

  /** Replaces a private_key_jwt client's keys (its own key rotation); undefined when there is no such client. */
  async setKeys(clientId: string, keys: ClientKeys): Promise<ClientRecord | undefined> {
    const client = await this.store.getClient(clientId);
    if (!client) return undefined;
    const { jwks: _jwks, jwks_uri: _uri, ...rest } = client;
    const updated: ClientRecord = { ...rest, ...(keys.jwks ? { jwks: keys.jwks } : { jwks_uri: keys.jwks_uri }) };
    this.invalidate(clientId);
    try {
      await this.store.putClient(updated);
    } finally {
      this.invalidate(clientId);
    }
    return updated;
  }

  /**
   * The client record for authentication, from the cache when `fresh` is not set (see the class comment
   * for how stale it may be). Callers that fail against a cached record retry with `fresh`.
   */
  async lookup(clientId: string, fresh = false): Promise<{ client: ClientRecord | undefined; cached: boolean }> {
    const cached = fresh ? undefined : this.#cached(clientId);
    return cached ? { client: cached, cached: true } : { client: await this.#read(clientId), cached: false };
  }

  #secretMatches(client: ClientRecord | undefined, clientId: string, secret: string): boolean {
    const current = verifyClientSecret(clientId, secret, client?.secret_hash || hashClientSecret(clientId, ''));
    const previous =
      client?.previous_secret_hash !== undefined &&
      verifyClientSecret(clientId, secret, client.previous_secret_hash) &&
      this.clock() < (client.previous_secret_expires_at ?? 0);
    return client !== undefined && client.secret_hash !== '' && (current || previous);
  }

  /**
   * The client when the secret is right (its current one, or the previous one inside its overlap window);
   * undefined otherwise, in constant time with respect to the secret. A private_key_jwt client never matches.
   */
  async authenticate(clientId: string, secret: string): Promise<ClientRecord | undefined> {
    const cached = this.#cached(clientId);
    if (cached && this.#secretMatches(cached, clientId, secret)) return cached;
    // A miss, or a failed check against a record that may be stale (a secret replaced elsewhere): read it.
    const client = await this.#read(clientId);
    return this.#secretMatches(client, clientId, secret) ? client : undefined;
  }
}
