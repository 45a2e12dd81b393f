import type {
  ClientPage,
  ClientRecord,
  Clock,
  CreateFamilyResult,
  Family,
  Keyset,
  OnceKind,
  RateLimitCharge,
  RateLimitCount,
  RateLimitOutcome,
  RefreshPolicy,
  RefreshTokenState,
  RotateInput,
  RotateResult,
  Store,
} from './store.js';

interface FamilyEntry {
  family: Family;
  current: string;
  currentIssuedAt: number;
  previous: string | undefined;
  rotatedAt: number;
  spent: Set<string>;
  expiresAt: number;
}

const isSubset = (requested: string, granted: string) => {
  const have = new Set(granted.split(' '));
  return requested.split(' ').every((s) => have.has(s));
};

/**
 * The embedded store: everything in this process, gone at exit. Each method runs to completion
 * without yielding, which gives it the same atomicity as the Redis store's scripts.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #clients = new Map<string, ClientRecord>();
  readonly #families = new Map<string, FamilyEntry>();
  readonly #clientFamilies = new Map<string, Set<string>>();
  readonly #denied = new Map<string, number>();
  readonly #once = new Map<string, number>();
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>();
  readonly #rateLimits = new Map<string, RateLimitCount>();
  #keyset: Keyset = { version: 0, keys: [] };
  readonly #sweeper: NodeJS.Timeout;

  constructor(private readonly clock: Clock = Date.now) {
    this.#sweeper = setInterval(() => this.#sweep(), 60_000);
    this.#sweeper.unref();
  }

  async putClient(client: ClientRecord): Promise<void> {
    this.#clients.set(client.client_id, structuredClone(client));
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const client = this.#clients.get(clientId);
    return client && structuredClone(client);
  }

  async listClients(cursor: string | undefined, limit: number): Promise<ClientPage> {
    const all = [...this.#clients.values()];
    const start = Number(cursor ?? 0);
    const clients = all.slice(start, start + limit).map((c) => structuredClone(c));
    return { clients, next_cursor: start + limit < all.length ? String(start + limit) : undefined };
  }

  async deleteClient(clientId: string): Promise<boolean> {
    for (const familyId of this.#clientFamilies.get(clientId) ?? []) this.#families.delete(familyId);
    this.#clientFamilies.delete(clientId);
    return this.#clients.delete(clientId);
  }

  async createFamily(family: Family, tokenHash: string, policy: RefreshPolicy, charge?: RateLimitCharge): Promise<CreateFamilyResult> {
    const charged = charge && this.#charge(charge);
    if (charged?.refused) return { evicted: [], charged };
    const now = this.clock();
    this.#families.set(family.id, {
      family: { ...family },
      current: tokenHash,
      currentIssuedAt: now,
      previous: undefined,
      rotatedAt: 0,
      spent: new Set(),
      expiresAt: Math.min(now + policy.idleTtl, family.created_at + policy.maxAge),
    });
    let owned = this.#clientFamilies.get(family.client_id);
    if (!owned) this.#clientFamilies.set(family.client_id, (owned = new Set()));
    owned.add(family.id);
    const evicted: string[] = [];
    const cap = policy.maxFamiliesPerClient ?? 0;
    // a Set iterates in insertion order, oldest first; like the Redis index, a family that died of
    // idleness leaves it when it reaches the head
    for (const id of owned) {
      if (cap === 0 || owned.size <= cap) break;
      owned.delete(id);
      const entry = this.#families.get(id);
      if (!entry) continue;
      this.#families.delete(id);
      if (now < entry.expiresAt) evicted.push(id);
    }
    return { evicted, charged };
  }

  async rotate(input: RotateInput): Promise<RotateResult> {
    const charged = input.charge && this.#charge(input.charge);
    if (charged?.refused) return { status: 'rate_limited', charged };
    return { ...this.#rotate(input), charged };
  }

  #rotate(input: RotateInput): RotateResult {
    const now = this.clock();
    const entry = this.#live(input.familyId, now);
    if (!entry) return { status: 'invalid' };
    const { family } = entry;
    const { policy } = input;
    if (now >= family.created_at + policy.maxAge) return this.#drop(entry, { status: 'invalid' });
    if (input.clientId === undefined ? !family.public : input.clientId !== family.client_id) {
      return input.clientId === undefined ? { status: 'client_auth_required' } : { status: 'invalid' };
    }
    const isCurrent = input.presentedHash === entry.current;
    const inGrace =
      !isCurrent && policy.grace > 0 && input.presentedHash === entry.previous && now < entry.rotatedAt + policy.grace;
    if (isCurrent || inGrace) {
      if (isCurrent && now >= entry.currentIssuedAt + policy.idleTtl) return this.#drop(entry, { status: 'invalid' });
      if (input.scope !== undefined && !isSubset(input.scope, family.scope)) return { status: 'invalid_scope' };
      if (family.jkt !== undefined && input.jkt !== family.jkt) return { status: 'dpop_key_mismatch' };
      if (isCurrent) {
        entry.previous = entry.current;
        entry.rotatedAt = now;
      }
      entry.spent.add(entry.current);
      entry.current = input.nextHash;
      entry.currentIssuedAt = now;
      entry.expiresAt = Math.min(now + policy.idleTtl, family.created_at + policy.maxAge);
      return { status: 'rotated', family: { ...family } };
    }
    if (entry.spent.has(input.presentedHash)) return this.#drop(entry, { status: 'reused', family: { ...family } });
    return { status: 'invalid' };
  }

  async findRefreshToken(familyId: string, tokenHash: string, policy: RefreshPolicy): Promise<RefreshTokenState> {
    const now = this.clock();
    const entry = this.#live(familyId, now);
    if (!entry || now >= entry.family.created_at + policy.maxAge) return undefined;
    const expiresAt = Math.min(entry.currentIssuedAt + policy.idleTtl, entry.family.created_at + policy.maxAge);
    if (tokenHash === entry.current) {
      return now < expiresAt ? { family: { ...entry.family }, state: 'current', expires_at: expiresAt } : undefined;
    }
    if (entry.spent.has(tokenHash)) return { family: { ...entry.family }, state: 'spent', expires_at: expiresAt };
    return undefined;
  }

  async revokeFamily(familyId: string): Promise<boolean> {
    const entry = this.#live(familyId, this.clock());
    if (!entry) return false;
    this.#drop(entry, undefined);
    return true;
  }

  async revokeAllFamilies(): Promise<number> {
    const count = this.#families.size;
    this.#families.clear();
    this.#clientFamilies.clear();
    return count;
  }

  async denyAccessToken(jti: string, expiresAt: number): Promise<void> {
    if (expiresAt > this.clock()) this.#denied.set(jti, expiresAt);
  }

  async isAccessTokenDenied(jti: string): Promise<boolean> {
    const until = this.#denied.get(jti);
    return until !== undefined && until > this.clock();
  }

  async useOnce(kind: OnceKind, id: string, expiresAt: number): Promise<boolean> {
    const now = this.clock();
    const key = `${kind}:${id}`;
    const until = this.#once.get(key);
    if (expiresAt <= now || (until !== undefined && until > now)) return false;
    this.#once.set(key, expiresAt);
    return true;
  }

  async getKeyset(): Promise<Keyset> {
    return structuredClone(this.#keyset);
  }

  async saveKeyset(keyset: Keyset, expectedVersion: number): Promise<boolean> {
    if (this.#keyset.version !== expectedVersion) return false;
    this.#keyset = structuredClone(keyset);
    return true;
  }

  async chargeRateLimits(charge: RateLimitCharge): Promise<RateLimitOutcome> {
    return this.#charge(charge);
  }

  #charge({ clientId, counters }: RateLimitCharge): RateLimitOutcome {
    const now = this.clock();
    let refused = false;
    const counts = counters.map(({ key, windowMs, delta, refuseAt }) => {
      const name = `${clientId}|${key}`;
      let counter = this.#rateLimits.get(name);
      if (!counter || counter.resetAt <= now) {
        counter = { hits: 0, resetAt: now + windowMs };
        if (delta > 0) this.#rateLimits.set(name, counter);
      }
      counter.hits += delta;
      if (refuseAt > 0 && counter.hits >= refuseAt) refused = true;
      return { ...counter };
    });
    return { counts, refused };
  }

  async acquireLease(name: string, holder: string, ttl: number): Promise<boolean> {
    const now = this.clock();
    const lease = this.#leases.get(name);
    if (lease && lease.expiresAt > now) return false;
    this.#leases.set(name, { holder, expiresAt: now + ttl });
    return true;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  #live(familyId: string, now: number): FamilyEntry | undefined {
    const entry = this.#families.get(familyId);
    if (entry && now >= entry.expiresAt) {
      this.#drop(entry, undefined);
      return undefined;
    }
    return entry;
  }

  #drop<T>(entry: FamilyEntry, result: T): T {
    this.#families.delete(entry.family.id);
    this.#clientFamilies.get(entry.family.client_id)?.delete(entry.family.id);
    return result;
  }

  #sweep(): void {
    const now = this.clock();
    for (const entry of this.#families.values()) if (now >= entry.expiresAt) this.#drop(entry, undefined);
    for (const [jti, until] of this.#denied) if (until <= now) this.#denied.delete(jti);
    for (const [key, until] of this.#once) if (until <= now) this.#once.delete(key);
    for (const [key, counter] of this.#rateLimits) if (counter.resetAt <= now) this.#rateLimits.delete(key);
  }
}
