import { RemoteKeyset, type KeysetFetchError } from '@tessera/guard';

/** Limits on fetching a client's `jwks_uri` (README "Client authentication"). Durations in seconds unless named otherwise. */
export interface ClientKeysetOptions {
  /** ms per fetch, body included. Default 5000. */
  timeout?: number;
  /** bytes. Default 64 KiB. */
  maxBytes?: number;
  /** Seconds between two fetches of one client's set (an unknown kid refetches at most this often). Default 30. */
  cooldown?: number;
  /** Cache lifetime without Cache-Control. Default 300. */
  cacheMaxAge?: number;
  /** Bounds on an honoured Cache-Control. Default 60 and 3600. */
  minCacheAge?: number;
  maxCacheAge?: number;
  /** Most clients whose key sets are kept (least recently used ones are dropped). Default 1000. */
  maxClients?: number;
  fetch?: typeof globalThis.fetch;
  onError?: (clientId: string, error: KeysetFetchError) => void;
}

/**
 * One guard RemoteKeyset per private_key_jwt client with a `jwks_uri` (cache per Cache-Control, unknown-kid
 * refetch cooldown, single flight, stale-if-error), with no redirects, a 5 s timeout and a 64 KiB limit.
 * Bounded: an LRU of at most `maxClients` key sets, so many clients cannot grow memory without bound.
 */
export class ClientKeysets {
  readonly #sets = new Map<string, { uri: string; keyset: RemoteKeyset }>();
  readonly #options: Required<Omit<ClientKeysetOptions, 'onError'>> & Pick<ClientKeysetOptions, 'onError'>;

  constructor(options: ClientKeysetOptions = {}) {
    this.#options = {
      timeout: options.timeout ?? 5000,
      maxBytes: options.maxBytes ?? 64 * 1024,
      cooldown: options.cooldown ?? 30,
      cacheMaxAge: options.cacheMaxAge ?? 300,
      minCacheAge: options.minCacheAge ?? 60,
      maxCacheAge: options.maxCacheAge ?? 3600,
      maxClients: options.maxClients ?? 1000,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      onError: options.onError,
    };
  }

  /** The key set of a client's `jwks_uri`; a new one when the URI changed. */
  get(clientId: string, uri: string): RemoteKeyset {
    const hit = this.#sets.get(clientId);
    this.#sets.delete(clientId);
    if (hit?.uri === uri) {
      this.#sets.set(clientId, hit);
      return hit.keyset;
    }
    const o = this.#options;
    const keyset = new RemoteKeyset({
      issuer: uri,
      jwksUri: uri,
      cooldown: o.cooldown,
      cacheMaxAge: o.cacheMaxAge,
      minCacheAge: o.minCacheAge,
      maxCacheAge: o.maxCacheAge,
      timeout: o.timeout,
      maxBytes: o.maxBytes,
      followRedirects: false,
      fetch: o.fetch,
      onError: o.onError && ((error) => o.onError!(clientId, error)),
    });
    if (this.#sets.size >= o.maxClients) this.#sets.delete(this.#sets.keys().next().value!);
    this.#sets.set(clientId, { uri, keyset });
    return keyset;
  }

  /** How many clients' key sets are held. */
  get size(): number {
    return this.#sets.size;
  }
}
