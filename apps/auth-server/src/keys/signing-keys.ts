import { createJwsSigner, type JwsSigner } from '../tokens/jws-signer.js';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Clock, Keyset, Store, StoredKey } from '../store/store.js';
import type { KeyEncryption } from './key-encryption.js';

/** No published key has this kid (the admin API answers 404, the CLI exits 1). */
export class UnknownKeyError extends Error {
  override name = 'UnknownKeyError';
}

/**
 * The keyset cannot change as asked now: the next key is younger than the JWKS max-age, there are no keys
 * yet, or other writers kept changing it (the admin API answers 409, the CLI exits 1).
 */
export class RotationRefusedError extends Error {
  override name = 'RotationRefusedError';
}

/** Default seconds a retired key stays published beyond the longest access token it signed. */
export const DEFAULT_RETIREMENT_MARGIN = 60;

export interface SigningKeysOptions {
  store: Store;
  encryption: KeyEncryption;
  /** alg of keys created from now on (SIGNING_ALG) */
  alg: string;
  /** seconds: ACCESS_TOKEN_TTL, the longest access-token lifetime this process signs */
  accessTokenTtl: number;
  /** seconds a JWKS response may be cached; a next key must be published this long before it signs */
  jwksMaxAge: number;
  /** seconds a retired key stays published beyond retire time + token lifetime (clock skew, instance pickup) */
  retirementMargin?: number;
  clock?: Clock;
}

/** A key as the admin API and the CLI show it: public metadata only. */
export interface PublicKeyView {
  kid: string;
  alg: string;
  state: StoredKey['state'];
  created_at: string;
  activated_at?: string | undefined;
  retired_at?: string | undefined;
  /** when the key leaves the JWKS (retired keys only; next and active keys stay until rotated) */
  removed_at?: string | undefined;
}

/** What an emergency revocation did. */
export interface Revocation {
  /** the key as it was before it was removed */
  revoked: PublicKeyView;
  /** what the revocation means for tokens already issued, in one paragraph */
  effect: string;
  keys: PublicKeyView[];
}

export interface Signer {
  kid: string;
  alg: string;
  key: CryptoKey;
  /** signs an access token's claims (header `{alg, typ: at+jwt, kid}`) with this key */
  signAccessToken: JwsSigner;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

const view = (k: StoredKey): PublicKeyView => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  created_at: iso(k.created_at)!,
  activated_at: iso(k.activated_at),
  retired_at: iso(k.retired_at),
  removed_at: iso(k.removed_at),
});

const isLive = (k: StoredKey, now: number) => k.state !== 'retired' || (k.removed_at ?? 0) > now;

/**
 * The signing keyset (README "Signing keys"): next → active → retired → removed.
 *
 * The keys live in the store as one versioned record changed only by compare-and-set, so any number of
 * instances (and the CLI) can change it concurrently. Private keys are decrypted once per change; a secret
 * that cannot decrypt a stored key fails with KeyDecryptionError before anything is written.
 * `refresh()` picks up changes made elsewhere.
 */
export class SigningKeys {
  readonly #options: Required<SigningKeysOptions>;
  #version = -1;
  #stored: StoredKey[] = [];
  #signer: Signer | undefined;
  #verificationKeys = new Map<string, { alg: string; key: CryptoKey }>();
  #jwks = '{"keys":[]}';

  constructor(options: SigningKeysOptions) {
    this.#options = { clock: Date.now, retirementMargin: DEFAULT_RETIREMENT_MARGIN, ...options };
  }

  /** Loads the keyset for signing, creating an active and a next key on first start. */
  async init(): Promise<void> {
    await this.#change(async (keys, now) => {
      if (keys.some((k) => k.state === 'active')) return undefined;
      const active = { ...(await this.#createKey(now)), state: 'active' as const, activated_at: now };
      return [...keys, active, await this.#createKey(now)];
    });
    await this.#reseal();
    await this.#coverTokenTtl();
  }

  /** Moves private keys still sealed under KEY_ENCRYPTION_SECRET_PREVIOUS to the current secret. */
  async #reseal(): Promise<void> {
    const { encryption } = this.#options;
    await this.#change((keys) => {
      const resealed = keys.map((k) => {
        const sealed = encryption.reseal(k.private_key, k.kid);
        return sealed ? { ...k, private_key: sealed } : k;
      });
      return resealed.some((k, i) => k !== keys[i]) ? resealed : undefined;
    });
  }

  /** Loads the keyset without changing it (the CLI: it lists and edits keys but never signs). */
  async load(): Promise<void> {
    await this.#apply(await this.#options.store.getKeyset());
  }

  /** Re-reads the keyset when another writer changed it, and drops retired keys past their window. */
  async refresh(): Promise<void> {
    const keyset = await this.#options.store.getKeyset();
    if (keyset.version !== this.#version) await this.#apply(keyset);
    else this.#publish();
    await this.#coverTokenTtl();
  }

  /** The active key. Throws when there is none (the store was never initialised). */
  signer(): Signer {
    if (!this.#signer) throw new Error('no active signing key');
    return this.#signer;
  }

  /** The key a token with this kid must verify against, if it is still published. */
  verificationKey(kid: string): { alg: string; key: CryptoKey } | undefined {
    return this.#verificationKeys.get(kid);
  }

  /** The JWKS document (RFC 7517), serialized: public members only. */
  jwks(): string {
    return this.#jwks;
  }

  hasActiveKey(): boolean {
    return this.#signer !== undefined;
  }

  /** The published keys (next, active, retired within their window). */
  list(): PublicKeyView[] {
    return this.#published().map(view);
  }

  /**
   * Promotes next to active, active to retired, and creates a new next key with the configured alg.
   * The next key is promoted whatever its alg: it is the only key resource servers are known to have.
   * Refuses (RotationRefusedError) while the next key has been published for less than the JWKS max-age, unless forced.
   */
  async rotate(force = false): Promise<PublicKeyView[]> {
    await this.#change((keys, now) => {
      const next = keys.find((k) => k.state === 'next');
      if (next && !force && !this.#publishedLongEnough(next, now)) {
        const wait = Math.ceil((next.created_at + this.#options.jwksMaxAge * 1000 - now) / 1000);
        throw new RotationRefusedError(
          `the next key ${next.kid} has been published for less than the JWKS max-age (${this.#options.jwksMaxAge}s): resource servers may not know it yet. Retry in ${wait}s, or force.`,
        );
      }
      return this.#rotated(keys, now);
    });
    return this.list();
  }

  /**
   * The scheduled rotation: rotates when the active key has signed for `intervalSeconds` and the next key
   * is published long enough. The check runs again on the keyset it changes (compare-and-set), so of any
   * number of instances deciding at once, one rotates and the others find nothing due.
   * @returns whether this call rotated
   */
  async rotateIfDue(intervalSeconds: number): Promise<boolean> {
    return this.#change((keys, now) => (this.#dueKey(keys, now, intervalSeconds) ? this.#rotated(keys, now) : undefined));
  }

  /** The active key's kid when the scheduled rotation is due by this instance's view of the keyset. */
  rotationDue(intervalSeconds: number): string | undefined {
    return this.#dueKey(this.#stored, this.#options.clock(), intervalSeconds)?.kid;
  }

  /**
   * Emergency revocation: removes a published key from the JWKS at once. An active key is rotated out
   * first (the next key signs from now on, even when it is younger than the JWKS max-age); a new next
   * key is created when the revoked key was the next one.
   */
  async revoke(kid: string): Promise<Revocation> {
    let revoked: StoredKey | undefined;
    let successor: StoredKey | undefined;
    await this.#change(async (keys, now) => {
      revoked = keys.find((k) => k.kid === kid && isLive(k, now));
      if (!revoked) throw new UnknownKeyError(`no published key has kid ${kid}`);
      let rest = revoked.state === 'active' ? await this.#rotated(keys, now) : keys;
      rest = rest.filter((k) => k.kid !== kid);
      if (!rest.some((k) => k.state === 'next')) rest.push(await this.#createKey(now));
      successor = rest.find((k) => k.state === 'active');
      return rest;
    });
    return { revoked: view(revoked!), effect: this.#revocationEffect(revoked!, successor), keys: this.list() };
  }

  #revocationEffect(revoked: StoredKey, successor: StoredKey | undefined): string {
    const maxAge = this.#options.jwksMaxAge;
    const tokens =
      `Tokens it signed no longer pass this server's introspection; resource servers reject them once their cached JWKS expires ` +
      `(at most JWKS_MAX_AGE = ${maxAge}s; restart them or make them refetch to cut that short). Clients holding such tokens must fetch new ones.`;
    if (revoked.state === 'next') return `Key ${revoked.kid} was the next key and never signed a token; a new next key replaces it.`;
    if (revoked.state === 'active') return `Key ${revoked.kid} was the active key; ${successor?.kid} signs from now on. ${tokens}`;
    return `Key ${revoked.kid} was retired (it signed until ${iso(revoked.retired_at)}). ${tokens}`;
  }

  #publishedLongEnough(key: StoredKey, now: number): boolean {
    return now >= key.created_at + this.#options.jwksMaxAge * 1000;
  }

  #dueKey(keys: StoredKey[], now: number, intervalSeconds: number): StoredKey | undefined {
    const active = keys.find((k) => k.state === 'active');
    const next = keys.find((k) => k.state === 'next');
    if (!active || intervalSeconds <= 0 || (active.activated_at ?? active.created_at) + intervalSeconds * 1000 > now) return undefined;
    return next && !this.#publishedLongEnough(next, now) ? undefined : active;
  }

  async #rotated(keys: StoredKey[], now: number): Promise<StoredKey[]> {
    if (!keys.some((k) => k.state === 'active')) throw new RotationRefusedError('there are no signing keys yet: start the auth server once to create them');
    const hasNext = keys.some((k) => k.state === 'next');
    const promoted = keys.map((k): StoredKey => {
      if (k.state === 'active') {
        const ttl = Math.max(k.token_ttl ?? 0, this.#options.accessTokenTtl);
        return { ...k, state: 'retired', retired_at: now, removed_at: now + (ttl + this.#options.retirementMargin) * 1000 };
      }
      if (k.state === 'next') return { ...k, state: 'active', activated_at: now };
      return k;
    });
    if (!hasNext) promoted.push({ ...(await this.#createKey(now)), state: 'active', activated_at: now });
    return [...promoted, await this.#createKey(now)];
  }

  /** Records this process's ACCESS_TOKEN_TTL on the active key, so its retirement window covers our tokens. */
  async #coverTokenTtl(): Promise<void> {
    const ttl = this.#options.accessTokenTtl;
    const covered = (k: StoredKey) => k.state !== 'active' || (k.token_ttl ?? 0) >= ttl;
    if (this.#stored.every(covered)) return;
    await this.#change((keys) => (keys.every(covered) ? undefined : keys.map((k) => (covered(k) ? k : { ...k, token_ttl: ttl }))));
  }

  /**
   * Read-edit-compare-and-set, retried when another writer was first. The keyset read is decrypted
   * before the edit, so a wrong secret never writes. `edit` returns undefined for "nothing to change".
   */
  async #change(edit: (keys: StoredKey[], now: number) => StoredKey[] | undefined | Promise<StoredKey[] | undefined>): Promise<boolean> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const keyset = await this.#options.store.getKeyset();
      if (keyset.version !== this.#version) await this.#apply(keyset);
      const now = this.#options.clock();
      const edited = await edit(keyset.keys, now);
      if (!edited) return false;
      const changed = { version: keyset.version + 1, keys: edited.filter((k) => isLive(k, now)) };
      if (await this.#options.store.saveKeyset(changed, keyset.version)) {
        await this.#apply(changed);
        return true;
      }
    }
    throw new RotationRefusedError('the keyset kept changing under this request; retry');
  }

  async #createKey(now: number): Promise<StoredKey> {
    const { alg, encryption, accessTokenTtl } = this.#options;
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const { kty, crv, x, y, n, e } = await exportJWK(publicKey);
    const publicJwk = Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined));
    const kid = await calculateJwkThumbprint(publicJwk as JWK, 'sha256');
    const privateJwk = await exportJWK(privateKey);
    return {
      kid,
      alg,
      state: 'next',
      public_jwk: publicJwk,
      private_key: encryption.encrypt(JSON.stringify(privateJwk), kid),
      created_at: now,
      token_ttl: accessTokenTtl,
    };
  }

  async #apply(keyset: Keyset): Promise<void> {
    const verificationKeys = new Map<string, { alg: string; key: CryptoKey }>();
    let signer: Signer | undefined;
    for (const k of keyset.keys) {
      const privateJwk = JSON.parse(this.#options.encryption.decrypt(k.private_key, k.kid)) as JWK;
      verificationKeys.set(k.kid, { alg: k.alg, key: (await importJWK(k.public_jwk as JWK, k.alg)) as CryptoKey });
      if (k.state === 'active') {
        signer = { kid: k.kid, alg: k.alg, key: (await importJWK(privateJwk, k.alg)) as CryptoKey, signAccessToken: createJwsSigner(privateJwk, k.alg, k.kid, 'at+jwt') };
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
    return this.#stored.filter((k) => isLive(k, now));
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
