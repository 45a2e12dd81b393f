import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { conflict, notFound } from '../errors.js';
import type { Clock, Keyset, Store, StoredKey } from '../store/store.js';
import type { KeyEncryption } from './key-encryption.js';

/** Seconds a retired key stays published beyond the longest access token it signed. */
export const CLOCK_MARGIN = 60;

export interface SigningKeysOptions {
  store: Store;
  encryption: KeyEncryption;
  /** alg of keys created from now on */
  alg: string;
  /** seconds: the longest access-token lifetime in force */
  accessTokenTtl: number;
  /** seconds a JWKS response may be cached; a next key must be published this long before it signs */
  jwksMaxAge: number;
  clock?: Clock;
}

export interface PublicKeyView {
  kid: string;
  alg: string;
  state: StoredKey['state'];
  created_at: string;
  activated_at?: string;
  retired_at?: string;
  /** when the key leaves the JWKS (retired keys only) */
  removed_at?: string;
}

export interface Signer {
  kid: string;
  alg: string;
  key: CryptoKey;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * The signing keyset: the keys in the store, decrypted once per change, with the active one for signing
 * and the published ones as a JWKS. `refresh()` picks up changes made by other instances.
 */
export class SigningKeys {
  readonly #options: Required<SigningKeysOptions>;
  #version = -1;
  #stored: StoredKey[] = [];
  #signer: Signer | undefined;
  #verificationKeys = new Map<string, { alg: string; key: CryptoKey }>();
  #jwks = '{"keys":[]}';

  constructor(options: SigningKeysOptions) {
    this.#options = { clock: Date.now, ...options };
  }

  /** Loads the keyset, creating an active and a next key on first start. */
  async init(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const keyset = await this.#options.store.getKeyset();
      if (keyset.keys.some((k) => k.state === 'active')) return this.#apply(keyset);
      const now = this.#options.clock();
      const active = { ...(await this.#createKey(now)), state: 'active' as const, activated_at: now };
      const next = await this.#createKey(now);
      const created = { version: keyset.version + 1, keys: [...keyset.keys, active, next] };
      if (await this.#options.store.saveKeyset(created, keyset.version)) return this.#apply(created);
    }
    throw new Error('could not create the initial signing keys: the keyset kept changing');
  }

  /** Re-reads the keyset when another writer changed it, and drops retired keys past their window. */
  async refresh(): Promise<void> {
    const keyset = await this.#options.store.getKeyset();
    if (keyset.version !== this.#version) await this.#apply(keyset);
    else this.#publish();
  }

  get version(): number {
    return this.#version;
  }

  signer(): Signer {
    if (!this.#signer) throw new Error('no active signing key');
    return this.#signer;
  }

  /** The key a token with this kid must verify against, if it is still published. */
  verificationKey(kid: string): { alg: string; key: CryptoKey } | undefined {
    return this.#verificationKeys.get(kid);
  }

  /** The JWKS document, serialized. */
  jwks(): string {
    return this.#jwks;
  }

  hasActiveKey(): boolean {
    return this.#signer !== undefined;
  }

  list(): PublicKeyView[] {
    return this.#published().map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.state,
      created_at: iso(k.created_at)!,
      activated_at: iso(k.activated_at),
      retired_at: iso(k.retired_at),
      removed_at: iso(k.removed_at),
    }));
  }

  /**
   * Promotes next to active, active to retired, and creates a new next key.
   * Refuses (409) while the next key has been published for less than the JWKS max-age, unless forced.
   */
  async rotate(force = false): Promise<PublicKeyView[]> {
    await this.#change((keys, now) => {
      const next = keys.find((k) => k.state === 'next');
      if (next && !force && now < next.created_at + this.#options.jwksMaxAge * 1000) {
        throw conflict(
          `the next key ${next.kid} has been published for less than the JWKS max-age (${this.#options.jwksMaxAge}s); resource servers may not know it yet. Retry later or force.`,
        );
      }
      return this.#rotated(keys, now);
    });
    return this.list();
  }

  /** Removes a key from the JWKS at once; an active key is rotated out first. */
  async revoke(kid: string): Promise<PublicKeyView[]> {
    await this.#change(async (keys, now) => {
      const key = keys.find((k) => k.kid === kid);
      if (!key) throw notFound(`no published key has kid ${kid}`);
      let rest = keys;
      if (key.state === 'active') rest = await this.#rotated(keys, now);
      rest = rest.filter((k) => k.kid !== kid);
      if (!rest.some((k) => k.state === 'next')) rest.push(await this.#createKey(now));
      return rest;
    });
    return this.list();
  }

  async #rotated(keys: StoredKey[], now: number): Promise<StoredKey[]> {
    const removedAt = now + (this.#options.accessTokenTtl + CLOCK_MARGIN) * 1000;
    const hasNext = keys.some((k) => k.state === 'next');
    const promoted = keys.map((k): StoredKey => {
      if (k.state === 'active') return { ...k, state: 'retired', retired_at: now, removed_at: removedAt };
      if (k.state === 'next') return { ...k, state: 'active', activated_at: now };
      return k;
    });
    if (!hasNext) {
      const emergency = await this.#createKey(now);
      promoted.push({ ...emergency, state: 'active', activated_at: now });
    }
    return [...promoted.filter((k) => k.state !== 'retired' || (k.removed_at ?? 0) > now), await this.#createKey(now)];
  }

  async #change(edit: (keys: StoredKey[], now: number) => StoredKey[] | Promise<StoredKey[]>): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const keyset = await this.#options.store.getKeyset();
      const keys = await edit(keyset.keys, this.#options.clock());
      const changed = { version: keyset.version + 1, keys };
      if (await this.#options.store.saveKeyset(changed, keyset.version)) return this.#apply(changed);
    }
    throw conflict('the keyset kept changing under this request; retry');
  }

  async #createKey(now: number): Promise<StoredKey> {
    const { alg, encryption } = this.#options;
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
    const privateJwk = await exportJWK(privateKey);
    return {
      kid,
      alg,
      state: 'next',
      public_jwk: publicJwk as Record<string, unknown>,
      private_key: encryption.encrypt(JSON.stringify(privateJwk), kid),
      created_at: now,
    };
  }

  async #apply(keyset: Keyset): Promise<void> {
    const verificationKeys = new Map<string, { alg: string; key: CryptoKey }>();
    let signer: Signer | undefined;
    for (const k of keyset.keys) {
      const publicKey = (await importJWK(k.public_jwk as JWK, k.alg)) as CryptoKey;
      verificationKeys.set(k.kid, { alg: k.alg, key: publicKey });
      if (k.state === 'active') {
        const privateJwk = JSON.parse(this.#options.encryption.decrypt(k.private_key, k.kid)) as JWK;
        signer = { kid: k.kid, alg: k.alg, key: (await importJWK(privateJwk, k.alg)) as CryptoKey };
      } else {
        this.#options.encryption.decrypt(k.private_key, k.kid);
      }
    }
    this.#version = keyset.version;
    this.#stored = keyset.keys;
    this.#signer = signer;
    this.#verificationKeys = verificationKeys;
    this.#publish();
  }

  #published(): StoredKey[] {
    const now = this.#options.clock();
    return this.#stored.filter((k) => k.state !== 'retired' || (k.removed_at ?? 0) > now);
  }

  #publish(): void {
    const published = this.#published();
    for (const kid of this.#verificationKeys.keys()) {
      if (!published.some((k) => k.kid === kid)) this.#verificationKeys.delete(kid);
    }
    this.#jwks = JSON.stringify({
      keys: published.map((k) => ({ ...k.public_jwk, kid: k.kid, alg: k.alg, use: 'sig' })),
    });
  }
}
