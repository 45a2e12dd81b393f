/** RFC 8693 §2.1 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export type GrantType = 'client_credentials' | 'refresh_token' | typeof TOKEN_EXCHANGE_GRANT;
export type RefreshTokenAuth = 'client_secret' | 'none';
/** RFC 7591 `token_endpoint_auth_method` values the server supports (README "Client authentication"). */
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** A registered public JWK (RFC 7517): public members only, always with a kid. */
export type PublicJwk = { kty: string; kid: string } & Record<string, unknown>;

export interface ClientRecord {
  client_id: string;
  name: string;
  /** base64url HMAC-SHA256 of the secret, keyed by the client id; '' for a private_key_jwt client (it has none) */
  secret_hash: string;
  scopes: string[];
  audiences: string[];
  grant_types: GrantType[];
  refresh_token_auth: RefreshTokenAuth;
  /** seconds; absent = the server default */
  access_token_ttl?: number;
  /** RFC 9449 §5.2: every access token must be DPoP-bound (token requests without a proof are refused) */
  dpop_bound_access_tokens?: boolean;
  /** audiences it may exchange subject tokens for (README "Token exchange") */
  exchange_audiences?: string[];
  /** audiences, besides its client id, that name it as the audience of a subject token it may exchange (README "Token exchange") */
  exchange_accepts?: string[];
  /** ms since epoch */
  created_at: number;
  /** ms since epoch */
  secret_rotated_at?: number;
  /** absent = client_secret_basic (either secret method is accepted for a secret client) */
  token_endpoint_auth_method?: TokenEndpointAuthMethod;
  /** private_key_jwt: the keys by value (exactly one of jwks and jwks_uri) */
  jwks?: { keys: PublicJwk[] };
  /** private_key_jwt: where the client publishes its keys */
  jwks_uri?: string;
  /** private_key_jwt: the one JWS alg its assertions may use */
  token_endpoint_auth_signing_alg?: string;
  /** hash of the secret that stays valid until previous_secret_expires_at (secret overlap, README "Client authentication") */
  previous_secret_hash?: string;
  /** ms since epoch */
  previous_secret_expires_at?: number;
}

/** What a rotation family remembers about the grant that started it. */
export interface Family {
  id: string;
  client_id: string;
  scope: string;
  aud: string;
  /** ms since epoch */
  created_at: number;
  /** true when the client's refresh tokens may be used without client authentication */
  public: boolean;
  /** DPoP key thumbprint a public client's family is bound to: each refresh needs a proof with that key */
  jkt?: string | undefined;
}

export interface RefreshPolicy {
  /** ms a refresh token lives unused */
  idleTtl: number;
  /** ms a family lives at most */
  maxAge: number;
  /** ms in which the token rotated last may be presented again */
  grace: number;
  /** live families a client may hold; starting one more revokes its oldest. 0 or absent = unbounded */
  maxFamiliesPerClient?: number;
}

/** What starting a family did besides. */
export interface CreateFamilyResult {
  /** ids of the client's oldest families revoked to stay within `maxFamiliesPerClient` */
  evicted: string[];
  /** the outcome of the rate-limit charge the call carried; when refused, nothing was written */
  charged?: RateLimitOutcome | undefined;
}

export interface RotateInput {
  familyId: string;
  presentedHash: string;
  nextHash: string;
  /** the authenticated client; undefined when the caller did not authenticate */
  clientId: string | undefined;
  /** the narrower scope asked for, or undefined to keep the family's */
  scope: string | undefined;
  policy: RefreshPolicy;
  /** thumbprint of the refresh request's DPoP proof key; a bound family rotates only when it matches */
  jkt?: string | undefined;
  /** the request's rate-limit charge, counted in the same atomic step; when refused nothing else happens */
  charge?: RateLimitCharge | undefined;
}

export type RotateResult = (
  | { status: 'rotated'; family: Family }
  | { status: 'reused'; family: Family }
  | { status: 'invalid' }
  | { status: 'invalid_scope' }
  | { status: 'client_auth_required' }
  | { status: 'dpop_key_mismatch' }
  | { status: 'rate_limited' }
) & {
  /** the outcome of `input.charge`, when one was given */
  charged?: RateLimitOutcome | undefined;
};

export type RefreshTokenState = { family: Family; state: 'current' | 'spent'; expires_at: number } | undefined;

/** What a single-use identifier belongs to: each kind is its own namespace. */
export type OnceKind = 'client-assertion' | 'dpop-proof';

export type KeyState = 'next' | 'active' | 'retired';

export interface EncryptedPrivateKey {
  iv: string;
  tag: string;
  ciphertext: string;
}

export interface StoredKey {
  kid: string;
  alg: string;
  state: KeyState;
  public_jwk: Record<string, unknown>;
  private_key: EncryptedPrivateKey;
  /** ms since epoch */
  created_at: number;
  /** ms since epoch */
  activated_at?: number;
  /** ms since epoch */
  retired_at?: number;
  /** ms since epoch at which a retired key leaves the JWKS */
  removed_at?: number;
  /** seconds: the longest access-token lifetime of any server that signed with this key */
  token_ttl?: number;
}

export interface Keyset {
  /** incremented by every change; used for compare-and-set and for change detection */
  version: number;
  keys: StoredKey[];
}

/** A rate-limit counter after a hit. */
export interface RateLimitCount {
  /** hits in the current window, this one included */
  hits: number;
  /** ms since epoch (the store's clock) at which the window ends and the count starts again */
  resetAt: number;
}

/** One counter of a {@link RateLimitCharge}. */
export interface RateLimitCounter {
  /** the counter's name, unique within the client */
  key: string;
  /** ms a window lasts; it opens at the first hit, by the store's clock */
  windowMs: number;
  /** 1 counts a hit, 0 only reads */
  delta: number;
  /** the request is refused when the count after this hit is at least this; 0 = never */
  refuseAt: number;
}

/**
 * The rate-limit counters one request charges, all of one client. The Redis store keeps a client's
 * counters beside its refresh families (one hash tag), so a grant's write can carry the charge and both
 * happen in one atomic script: one round trip per request.
 */
export interface RateLimitCharge {
  /** the client id the request names, unverified ('' when it names none) */
  clientId: string;
  counters: RateLimitCounter[];
}

/** What a {@link RateLimitCharge} found: the counts in its order, and whether one reached its `refuseAt`. */
export interface RateLimitOutcome {
  counts: RateLimitCount[];
  refused: boolean;
}

export interface ClientPage {
  clients: ClientRecord[];
  next_cursor: string | undefined;
}

/**
 * Everything the auth server keeps. Both implementations (Redis and embedded memory) pass one contract suite.
 * Every method may throw StoreUnavailableError.
 */
export interface Store {
  readonly kind: 'redis' | 'memory';

  putClient(client: ClientRecord): Promise<void>;
  getClient(clientId: string): Promise<ClientRecord | undefined>;
  listClients(cursor: string | undefined, limit: number): Promise<ClientPage>;
  /** Deletes the client and revokes every family it holds; false when it did not exist. */
  deleteClient(clientId: string): Promise<boolean>;

  /**
   * Starts a rotation family whose current refresh token has hash `tokenHash` (its id from
   * `newFamilyId(family.client_id)`) and, in the same atomic step, revokes the client's oldest live
   * families beyond `policy.maxFamiliesPerClient`. With `charge`, the request's rate-limit counters are
   * charged first; when the charge is refused nothing is written.
   */
  createFamily(family: Family, tokenHash: string, policy: RefreshPolicy, charge?: RateLimitCharge): Promise<CreateFamilyResult>;
  /**
   * Atomically spends the presented refresh token and makes `nextHash` current, or detects reuse. With
   * `input.charge`, the rate-limit counters are charged first; refused → `rate_limited`, nothing spent.
   */
  rotate(input: RotateInput): Promise<RotateResult>;
  /** Looks a refresh token up without changing anything (introspection, revocation). */
  findRefreshToken(familyId: string, tokenHash: string, policy: RefreshPolicy): Promise<RefreshTokenState>;
  /** Revokes a whole family; false when it did not exist. */
  revokeFamily(familyId: string): Promise<boolean>;
  /**
   * Revokes every refresh-token family of every client (after a restore from a snapshot); the number revoked.
   * Walks the whole keyspace: an ops command, never on a request path.
   */
  revokeAllFamilies(): Promise<number>;

  /** Denies an access token's jti until `expiresAt` (ms since epoch). */
  denyAccessToken(jti: string, expiresAt: number): Promise<void>;
  isAccessTokenDenied(jti: string): Promise<boolean>;

  /**
   * Records a single-use identifier (a client assertion's or a DPoP proof's `jti`) until `expiresAt`
   * (ms since epoch) in one atomic operation shared by every instance: true the first time, false while it is
   * still recorded. Nothing outlives `expiresAt`.
   */
  useOnce(kind: OnceKind, id: string, expiresAt: number): Promise<boolean>;

  getKeyset(): Promise<Keyset>;
  /** Saves the keyset when the stored version is still `expectedVersion`; false when another writer was first. */
  saveKeyset(keyset: Keyset, expectedVersion: number): Promise<boolean>;

  /**
   * Rate-limit counters, shared by every instance on the store: adds each counter's `delta` (1 counts a
   * hit, 0 only reads) in one atomic step and returns the counts. A window opens at the first hit and lasts
   * `windowMs` by the store's clock; then the count starts again. Every store implements it, so limits
   * never fall back to one process.
   */
  chargeRateLimits(charge: RateLimitCharge): Promise<RateLimitOutcome>;

  /** Takes a named lease for `ttl` ms when nobody holds it; true when this caller got it. */
  acquireLease(name: string, holder: string, ttl: number): Promise<boolean>;

  ping(): Promise<void>;
  close(): Promise<void>;
}

export type Clock = () => number;
