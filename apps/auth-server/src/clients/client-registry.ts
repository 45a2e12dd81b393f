import type { ClientPage, ClientRecord, Clock, GrantType, RefreshTokenAuth, Store } from '../store/store.js';
import { generateClientId, generateClientSecret, hashClientSecret, verifyClientSecret } from './client-secret.js';

export interface NewClient {
  name: string;
  scopes: string[];
  audiences: string[];
  grant_types?: GrantType[] | undefined;
  refresh_token_auth?: RefreshTokenAuth | undefined;
  /** seconds */
  access_token_ttl?: number | undefined;
}

/** A client as the admin API shows it: everything but the secret hash. */
export type ClientView = Omit<ClientRecord, 'secret_hash' | 'created_at' | 'secret_rotated_at'> & {
  created_at: string;
  secret_rotated_at?: string;
};

export const DEFAULT_GRANT_TYPES: GrantType[] = ['client_credentials', 'refresh_token'];

export function viewClient(client: ClientRecord): ClientView {
  const { secret_hash: _hash, created_at, secret_rotated_at, ...rest } = client;
  return {
    ...rest,
    created_at: new Date(created_at).toISOString(),
    ...(secret_rotated_at ? { secret_rotated_at: new Date(secret_rotated_at).toISOString() } : {}),
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

  async create(input: NewClient, fixed?: { clientId: string; secret: string }): Promise<{ client: ClientRecord; secret: string }> {
    const clientId = fixed?.clientId ?? generateClientId();
    const secret = fixed?.secret ?? generateClientSecret();
    const client: ClientRecord = {
      client_id: clientId,
      name: input.name,
      secret_hash: hashClientSecret(clientId, secret),
      scopes: [...new Set(input.scopes)],
      audiences: [...new Set(input.audiences)],
      grant_types: [...new Set(input.grant_types ?? DEFAULT_GRANT_TYPES)],
      refresh_token_auth: input.refresh_token_auth ?? 'client_secret',
      ...(input.access_token_ttl ? { access_token_ttl: input.access_token_ttl } : {}),
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

  /** Issues a new secret; the old one stops working at once. */
  async rotateSecret(clientId: string): Promise<{ client: ClientRecord; secret: string } | undefined> {
    const client = await this.store.getClient(clientId);
    if (!client) return undefined;
    const secret = generateClientSecret();
    const updated = { ...client, secret_hash: hashClientSecret(clientId, secret), secret_rotated_at: this.clock() };
    this.invalidate(clientId);
    try {
      await this.store.putClient(updated);
    } finally {
      this.invalidate(clientId);
    }
    return { client: updated, secret };
  }

  /** The client when the secret is right; undefined otherwise, in constant time with respect to the secret. */
  async authenticate(clientId: string, secret: string): Promise<ClientRecord | undefined> {
    const cached = this.#cached(clientId);
    if (cached && verifyClientSecret(clientId, secret, cached.secret_hash)) return cached;
    // A miss, or a failed check against a record that may be stale (a secret replaced elsewhere): read it.
    const client = await this.#read(clientId);
    const ok = verifyClientSecret(clientId, secret, client?.secret_hash ?? hashClientSecret(clientId, ''));
    return ok && client ? client : undefined;
  }
}
