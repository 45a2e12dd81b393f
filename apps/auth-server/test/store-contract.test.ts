import { Cluster } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientRecord, Family, RefreshPolicy } from '../src/store/store.js';
import { hashRefreshToken, mintRefreshToken, newFamilyId } from '../src/tokens/refresh-token-format.js';
import { RedisStore } from '../src/store/redis-store.js';
import { STORE_KINDS, TestClock, openStore, type TestStore } from './harness.js';

const policy: RefreshPolicy = { idleTtl: 60_000, maxAge: 600_000, grace: 0 };

const client = (id: string, created_at: number): ClientRecord => ({
  client_id: id,
  name: id,
  secret_hash: 'hash',
  scopes: ['a', 'b'],
  audiences: ['api'],
  grant_types: ['client_credentials', 'refresh_token'],
  refresh_token_auth: 'client_secret',
  created_at,
});

describe.each(STORE_KINDS)('store contract: %s', (kind) => {
  let clock: TestClock;
  let t: TestStore;

  beforeEach(async () => {
    clock = new TestClock();
    t = await openStore(kind, clock);
  });
  afterEach(async () => {
    await t.store.close();
  });

  async function family(overrides: Partial<Family> = {}, p: RefreshPolicy = policy) {
    const id = newFamilyId(overrides.client_id ?? 'c1');
    const first = mintRefreshToken(id);
    const fam: Family = { id, client_id: 'c1', scope: 'a b', aud: 'api', created_at: clock.ms, public: false, ...overrides };
    const { evicted } = await t.store.createFamily(fam, first.hash, p);
    return { id, first, fam, evicted };
  }

  const rotate = (familyId: string, presentedHash: string, extra: Partial<Parameters<typeof t.store.rotate>[0]> = {}) => {
    const next = mintRefreshToken(familyId);
    return t.store
      .rotate({ familyId, presentedHash, nextHash: next.hash, clientId: 'c1', scope: undefined, policy, ...extra })
      .then((result) => ({ result, next }));
  };

  it('stores, lists in creation order, pages and deletes clients', async () => {
    for (let i = 0; i < 5; i++) await t.store.putClient(client(`client-${i}`, clock.ms + i));
    expect((await t.store.getClient('client-2'))?.name).toBe('client-2');
    expect(await t.store.getClient('nope')).toBeUndefined();
    const first = await t.store.listClients(undefined, 2);
    const second = await t.store.listClients(first.next_cursor, 2);
    const third = await t.store.listClients(second.next_cursor, 2);
    expect([...first.clients, ...second.clients, ...third.clients].map((c) => c.client_id)).toEqual([0, 1, 2, 3, 4].map((i) => `client-${i}`));
    expect(third.next_cursor).toBeUndefined();
    expect(await t.store.deleteClient('client-2')).toBe(true);
    expect(await t.store.deleteClient('client-2')).toBe(false);
    expect(await t.store.getClient('client-2')).toBeUndefined();
  });

  it('rotates the current token once and makes the new one current', async () => {
    const { id, first } = await family();
    const a = await rotate(id, first.hash);
    expect(a.result).toEqual({ status: 'rotated', family: expect.objectContaining({ id, client_id: 'c1', scope: 'a b', aud: 'api' }) });
    const b = await rotate(id, a.next.hash);
    expect(b.result.status).toBe('rotated');
    expect(await t.store.findRefreshToken(id, b.next.hash, policy)).toMatchObject({ state: 'current' });
    expect(await t.store.findRefreshToken(id, first.hash, policy)).toMatchObject({ state: 'spent' });
  });

  it('detects reuse of a spent token and revokes the whole family, current token included', async () => {
    const { id, first } = await family();
    const { next } = await rotate(id, first.hash);
    expect((await rotate(id, first.hash)).result).toMatchObject({ status: 'reused', family: { id, client_id: 'c1' } });
    expect((await rotate(id, next.hash)).result.status).toBe('invalid');
    expect(await t.store.findRefreshToken(id, next.hash, policy)).toBeUndefined();
  });

  it('detects reuse of any token of a family, however many rotations ago it was spent', async () => {
    const { id, first } = await family();
    const spent = [first];
    for (let i = 0; i < 4; i++) spent.push((await rotate(id, spent.at(-1)!.hash)).next);
    for (const token of spent.slice(0, -1)) expect(await t.store.findRefreshToken(id, token.hash, policy)).toMatchObject({ state: 'spent' });
    expect((await rotate(id, spent[1]!.hash)).result.status).toBe('reused');
    expect(await t.store.findRefreshToken(id, spent.at(-1)!.hash, policy)).toBeUndefined();
  });

  it('lets exactly one of 50 concurrent rotations of one token win', async () => {
    const { id, first } = await family();
    const results = await Promise.all(Array.from({ length: 50 }, () => rotate(id, first.hash)));
    const winners = results.filter((r) => r.result.status === 'rotated');
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.result.status === 'reused')).toHaveLength(1);
    expect(results.filter((r) => r.result.status === 'invalid')).toHaveLength(48);
  });

  it('refuses another client and unknown tokens without changing anything', async () => {
    const { id, first } = await family();
    expect((await rotate(id, first.hash, { clientId: 'c2' })).result.status).toBe('invalid');
    expect((await rotate(id, hashRefreshToken('forged'))).result.status).toBe('invalid');
    expect((await rotate(newFamilyId('c1'), first.hash)).result.status).toBe('invalid');
    expect((await rotate(id, first.hash)).result.status).toBe('rotated');
  });

  it('needs client authentication unless the family is public', async () => {
    const closed = await family();
    expect((await rotate(closed.id, closed.first.hash, { clientId: undefined })).result.status).toBe('client_auth_required');
    expect((await rotate(closed.id, closed.first.hash)).result.status).toBe('rotated');
    const open = await family({ public: true });
    expect((await rotate(open.id, open.first.hash, { clientId: undefined })).result.status).toBe('rotated');
  });

  it('refuses a wider scope without spending the token, and accepts a narrower one', async () => {
    const { id, first } = await family();
    expect((await rotate(id, first.hash, { scope: 'a c' })).result.status).toBe('invalid_scope');
    const narrowed = await rotate(id, first.hash, { scope: 'b' });
    expect(narrowed.result).toMatchObject({ status: 'rotated', family: { scope: 'a b' } });
  });

  it('lets the token rotated last be retried within the grace window, without revocation', async () => {
    const graceful = { ...policy, grace: 10_000 };
    const { id, first } = await family({}, graceful);
    const a = await rotate(id, first.hash, { policy: graceful });
    clock.advance(5);
    const retry = await rotate(id, first.hash, { policy: graceful });
    expect(retry.result.status).toBe('rotated');
    expect((await rotate(id, retry.next.hash, { policy: graceful })).result.status).toBe('rotated');
    expect((await rotate(id, a.next.hash, { policy: graceful })).result.status).toBe('reused');
  });

  it('treats a retry after the grace window as reuse', async () => {
    const graceful = { ...policy, grace: 10_000 };
    const { id, first } = await family({}, graceful);
    const a = await rotate(id, first.hash, { policy: graceful });
    clock.advance(11);
    expect((await rotate(id, first.hash, { policy: graceful })).result.status).toBe('reused');
    expect((await rotate(id, a.next.hash, { policy: graceful })).result.status).toBe('invalid');
  });

  it('expires an idle token and an old family', async () => {
    const idle = await family();
    clock.advance(61);
    expect((await rotate(idle.id, idle.first.hash)).result.status).toBe('invalid');

    const old = await family();
    let current = old.first.hash;
    for (let i = 0; i < 10; i++) {
      clock.advance(55);
      const { result, next } = await rotate(old.id, current);
      expect(result.status).toBe('rotated');
      current = next.hash;
    }
    clock.advance(55);
    expect((await rotate(old.id, current)).result.status).toBe('invalid');
  });

  it('revokes a family and all of a deleted client’s families', async () => {
    const a = await family();
    expect(await t.store.revokeFamily(a.id)).toBe(true);
    expect((await rotate(a.id, a.first.hash)).result.status).toBe('invalid');
    expect(await t.store.revokeFamily(a.id)).toBe(false);

    await t.store.putClient(client('c1', clock.ms));
    const b = await family();
    const c = await family();
    await t.store.deleteClient('c1');
    expect((await rotate(b.id, b.first.hash)).result.status).toBe('invalid');
    expect((await rotate(c.id, c.first.hash)).result.status).toBe('invalid');
  });

  it('revokes every family of every client at once, and keeps the clients', async () => {
    await t.store.putClient(client('c1', clock.ms));
    const families = [await family(), await family(), await family({ client_id: 'c2' })];
    const { next } = await rotate(families[0]!.id, families[0]!.first.hash);
    expect(await t.store.revokeAllFamilies()).toBe(3);
    for (const f of families) expect((await rotate(f.id, f.first.hash, { clientId: f.fam.client_id })).result.status).toBe('invalid');
    expect((await rotate(families[0]!.id, next.hash)).result.status).toBe('invalid');
    expect(await t.store.getClient('c1')).toBeDefined();
    const fresh = await family();
    expect((await rotate(fresh.id, fresh.first.hash)).result.status).toBe('rotated');
  });

  it('keeps a client within its family cap by revoking its oldest families, not counted as reuse', async () => {
    const capped = { ...policy, maxFamiliesPerClient: 5 };
    const made = [];
    for (let i = 0; i < 8; i++) {
      made.push(await family({}, capped));
      clock.ms += 1;
    }
    expect(made.flatMap((f) => f.evicted)).toEqual(made.slice(0, 3).map((f) => f.id));
    for (const f of made.slice(0, 3)) {
      expect(await t.store.findRefreshToken(f.id, f.first.hash, policy)).toBeUndefined();
      expect((await rotate(f.id, f.first.hash)).result.status).toBe('invalid');
    }
    for (const f of made.slice(3)) expect((await rotate(f.id, f.first.hash)).result.status).toBe('rotated');
    const other = await family({ client_id: 'c2' }, capped);
    expect(other.evicted).toEqual([]);
  });

  it('holds exactly the cap after 20 concurrent starts', async () => {
    const capped = { ...policy, maxFamiliesPerClient: 5 };
    const made = await Promise.all(Array.from({ length: 20 }, () => family({}, capped)));
    const live: string[] = [];
    for (const f of made) if (await t.store.findRefreshToken(f.id, f.first.hash, policy)) live.push(f.id);
    expect(live).toHaveLength(5);
    expect(made.flatMap((f) => f.evicted).sort()).toEqual(made.map((f) => f.id).filter((id) => !live.includes(id)).sort());
  });

  it('does not count revoked, reused or expired families against the cap', async () => {
    const capped = { ...policy, maxFamiliesPerClient: 2 };
    const revoked = await family({}, capped);
    const reused = await family({}, capped);
    await t.store.revokeFamily(revoked.id);
    await rotate(reused.id, reused.first.hash);
    expect((await rotate(reused.id, reused.first.hash)).result.status).toBe('reused');
    const a = await family({}, capped);
    const b = await family({}, capped);
    expect([a.evicted, b.evicted]).toEqual([[], []]);
    clock.advance(601);
    const c = await family({}, capped);
    expect(c.evicted).toEqual([]);
    expect((await rotate(c.id, c.first.hash)).result.status).toBe('rotated');
  });

  it('evicts nothing when the cap is 0 (unbounded)', async () => {
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await family({}, { ...policy, maxFamiliesPerClient: 0 }));
    expect(made.flatMap((f) => f.evicted)).toEqual([]);
    for (const f of made) expect((await rotate(f.id, f.first.hash)).result.status).toBe('rotated');
  });

  it('denies an access token jti until it expires', async () => {
    await t.store.denyAccessToken('jti-1', clock.ms + 30_000);
    expect(await t.store.isAccessTokenDenied('jti-1')).toBe(true);
    expect(await t.store.isAccessTokenDenied('jti-2')).toBe(false);
    clock.advance(29);
    expect(await t.store.isAccessTokenDenied('jti-1')).toBe(true);
    clock.advance(1);
    expect(await t.store.isAccessTokenDenied('jti-1')).toBe(false);
    await t.store.denyAccessToken('jti-3', clock.ms);
    expect(await t.store.isAccessTokenDenied('jti-3')).toBe(false);
  });

  it('accepts a single-use id once until it expires, per kind, with one winner among concurrent uses', async () => {
    const until = clock.ms + 30_000;
    const results = await Promise.all(Array.from({ length: 20 }, () => t.store.useOnce('client-assertion', 'c1:jti-1', until)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await t.store.useOnce('client-assertion', 'c1:jti-1', until)).toBe(false);
    expect(await t.store.useOnce('dpop-proof', 'c1:jti-1', until)).toBe(true);
    expect(await t.store.useOnce('client-assertion', 'c1:jti-2', until)).toBe(true);
    expect(await t.store.useOnce('client-assertion', 'c1:jti-3', clock.ms)).toBe(false);
  });

  it('forgets a single-use id once it expires', async () => {
    expect(await t.store.useOnce('dpop-proof', 'short', clock.ms + 10_000)).toBe(true);
    clock.advance(9.999);
    expect(await t.store.useOnce('dpop-proof', 'short', clock.ms + 10_000)).toBe(false);
    clock.advance(0.001);
    expect(await t.store.useOnce('dpop-proof', 'short', clock.ms + 10_000)).toBe(true);
  });

  it('saves the keyset with compare-and-set', async () => {
    const empty = await t.store.getKeyset();
    expect(empty).toEqual({ version: 0, keys: [] });
    const next = { version: 1, keys: [] };
    expect(await t.store.saveKeyset(next, 0)).toBe(true);
    expect(await t.store.saveKeyset({ version: 1, keys: [] }, 0)).toBe(false);
    expect((await t.store.getKeyset()).version).toBe(1);
  });

  it('grants a lease to one holder at a time', async () => {
    const results = await Promise.all(['a', 'b', 'c'].map((h) => t.store.acquireLease('rotation:x', h, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  const hit = (key: string, delta: number, refuseAt = 0, clientId = 'c1') =>
    t.store.chargeRateLimits({ clientId, counters: [{ key, windowMs: 60_000, delta, refuseAt }] }).then((o) => o.counts[0]!);

  it('counts rate-limit hits per client and key in a window timed by the store clock, atomically', async () => {
    expect(await hit('k1', 0)).toEqual({ hits: 0, resetAt: clock.ms + 60_000 });
    const opened = clock.ms;
    const hits = await Promise.all(Array.from({ length: 20 }, () => hit('k1', 1)));
    expect(hits.map((h) => h.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(hits.map((h) => h.resetAt))).toEqual(new Set([opened + 60_000]));
    expect((await hit('k2', 1)).hits).toBe(1);
    expect((await hit('k1', 1, 0, 'c2')).hits).toBe(1);
    clock.advance(59);
    expect(await hit('k1', 0)).toEqual({ hits: 20, resetAt: opened + 60_000 });
    clock.advance(1);
    expect(await hit('k1', 0)).toEqual({ hits: 0, resetAt: clock.ms + 60_000 });
    expect(await hit('k1', 1)).toEqual({ hits: 1, resetAt: clock.ms + 60_000 });
  });

  it('charges several counters in one step and says when one reaches its refuse-at', async () => {
    const charge = (failures: number) => ({
      clientId: 'c1',
      counters: [
        { key: 'requests', windowMs: 60_000, delta: 1, refuseAt: 4 },
        { key: 'failures', windowMs: 900_000, delta: failures, refuseAt: 2 },
      ],
    });
    expect(await t.store.chargeRateLimits(charge(0))).toEqual({ refused: false, counts: [{ hits: 1, resetAt: clock.ms + 60_000 }, { hits: 0, resetAt: clock.ms + 900_000 }] });
    expect((await t.store.chargeRateLimits(charge(1))).refused).toBe(false);
    expect(await t.store.chargeRateLimits(charge(1))).toEqual({ refused: true, counts: [{ hits: 3, resetAt: clock.ms + 60_000 }, { hits: 2, resetAt: clock.ms + 900_000 }] });
    expect((await t.store.chargeRateLimits(charge(0))).counts.map((c) => c.hits)).toEqual([4, 2]);
    expect((await t.store.chargeRateLimits({ clientId: 'c1', counters: [] })).counts).toEqual([]);
  });

  it('charges and grants of many clients at once (spread over Cluster slots) each count on their own', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `client-${i}`);
    const charges = await Promise.all(ids.map((clientId) => t.store.chargeRateLimits({ clientId, counters: [{ key: 'k', windowMs: 60_000, delta: 1, refuseAt: 0 }] })));
    expect(charges.map((c) => c.counts[0]!.hits)).toEqual(ids.map(() => 1));
    const grants = await Promise.all(
      ids.map((clientId) =>
        t.store.createFamily({ id: newFamilyId(clientId), client_id: clientId, scope: 'a', aud: 'api', created_at: clock.ms, public: false }, 'h', policy, {
          clientId,
          counters: [{ key: 'k', windowMs: 60_000, delta: 1, refuseAt: 0 }],
        }),
      ),
    );
    expect(grants.map((g) => g.charged?.counts[0]?.hits)).toEqual(ids.map(() => 2));
  });

  const limited = (clientId: string, refuseAt: number) => ({ clientId, counters: [{ key: 'requests:198.51.100.1', windowMs: 60_000, delta: 1, refuseAt }] });

  it('starts a family with its charge in one step: of 20 concurrent starts with a limit of 8, exactly 8 write a family', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const id = newFamilyId('c1');
        const token = mintRefreshToken(id);
        const fam: Family = { id, client_id: 'c1', scope: 'a', aud: 'api', created_at: clock.ms, public: false };
        const result = await t.store.createFamily(fam, token.hash, policy, limited('c1', 9));
        return { result, id, token };
      }),
    );
    const written = results.filter((r) => !r.result.charged!.refused);
    expect(written).toHaveLength(8);
    expect(results.map((r) => r.result.charged!.counts[0]!.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const { id, token, result } of results) {
      const found = await t.store.findRefreshToken(id, token.hash, policy);
      expect(found === undefined).toBe(result.charged!.refused);
    }
  });

  it('charges a family of another client (another slot) and a public refresh as exactly as its own', async () => {
    const { id, first } = await family();
    const charge = limited('another-client', 2);
    expect((await t.store.createFamily({ id: newFamilyId('c1'), client_id: 'c1', scope: 'a', aud: 'api', created_at: clock.ms, public: false }, 'h', policy, charge)).charged).toEqual({
      refused: false,
      counts: [{ hits: 1, resetAt: clock.ms + 60_000 }],
    });
    const refused = await t.store.rotate({ familyId: id, presentedHash: first.hash, nextHash: 'n', clientId: 'c1', scope: undefined, policy, charge });
    expect(refused).toEqual({ status: 'rate_limited', charged: { refused: true, counts: [{ hits: 2, resetAt: clock.ms + 60_000 }] } });
    expect((await t.store.findRefreshToken(id, first.hash, policy))?.state).toBe('current');
  });

  it('rotates with its charge in one step: refused, nothing is spent; of 10 concurrent rotations of one token under the limit, one wins', async () => {
    const { id, first } = await family();
    const spent = await t.store.rotate({ familyId: id, presentedHash: first.hash, nextHash: 'n1', clientId: 'c1', scope: undefined, policy, charge: limited('c1', 3) });
    expect(spent).toMatchObject({ status: 'rotated', charged: { refused: false, counts: [{ hits: 1 }] } });
    const refusedCharge = limited('c1', 2);
    const refused = await t.store.rotate({ familyId: id, presentedHash: 'n1', nextHash: 'n2', clientId: 'c1', scope: undefined, policy, charge: refusedCharge });
    expect(refused).toEqual({ status: 'rate_limited', charged: { refused: true, counts: [{ hits: 2, resetAt: clock.ms + 60_000 }] } });
    expect((await t.store.findRefreshToken(id, 'n1', policy))?.state).toBe('current');
    const racers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.store.rotate({ familyId: id, presentedHash: 'n1', nextHash: `r${i}`, clientId: 'c1', scope: undefined, policy, charge: limited('c1', 100) })),
    );
    expect(racers.filter((r) => r.status === 'rotated')).toHaveLength(1);
    expect(racers.map((r) => r.charged!.counts[0]!.hits).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 3));
  });
});

describe('redis store keys', () => {
  it('gives every refresh-token key a TTL and keeps only hashes of tokens', async () => {
    const clock = new TestClock();
    const t = await openStore('redis', clock);
    try {
      const id = newFamilyId('c1');
      const first = mintRefreshToken(id);
      await t.store.createFamily({ id, client_id: 'c1', scope: 'a', aud: 'api', created_at: clock.ms, public: false }, first.hash, policy);
      const next = mintRefreshToken(id);
      await t.store.rotate({ familyId: id, presentedHash: first.hash, nextHash: next.hash, clientId: 'c1', scope: undefined, policy });
      await t.store.denyAccessToken('jti', clock.ms + 10_000);
      const keys = await t.redis!.keys(`${t.prefix}*`);
      // family hash (spent hashes included), client family index, denied jti
      expect(keys.length).toBe(3);
      for (const key of keys) {
        const ttl = await t.redis!.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(policy.maxAge);
      }
      const stored = JSON.stringify(await t.redis!.hgetall(`${t.prefix}family:{${id.slice(0, 4)}}:${id}`));
      for (const token of [first.token, next.token]) {
        expect(stored).not.toContain(token.split('.')[1]);
      }
      expect(stored).toContain(first.hash);
    } finally {
      await t.store.close();
    }
  });
});

describe.each(STORE_KINDS.filter((k) => k !== 'memory'))('family cap bounds Redis: %s', (kind) => {
  it('keeps a client to 100 families, one index and bounded index memory over 10,000 grants with cap 100', async () => {
    const clock = new TestClock();
    const t = await openStore(kind, clock);
    const capped = { ...policy, maxFamiliesPerClient: 100 };
    try {
      let evicted = 0;
      const start = async () => {
        const id = newFamilyId('busy');
        const fam = { id, client_id: 'busy', scope: 'a', aud: 'api', created_at: clock.ms, public: false };
        const result = await t.store.createFamily(fam, mintRefreshToken(id).hash, capped);
        evicted += result.evicted.length;
      };
      for (let batch = 0; batch < 50; batch++) {
        await Promise.all(Array.from({ length: 200 }, start));
        clock.ms += 1;
      }
      expect(evicted).toBe(9900);
      const masters = t.redis instanceof Cluster ? t.redis.nodes('master') : [t.redis!];
      const keys = (await Promise.all(masters.map((m) => m.keys(`${t.prefix}*`)))).flat();
      const index = keys.filter((k) => k.includes('client-families:'));
      expect(index).toHaveLength(1);
      expect(keys.filter((k) => k.includes('family:{'))).toHaveLength(100);
      expect(keys).toHaveLength(101);
      expect(await t.redis!.zcard(index[0]!)).toBe(100);
      // a listpack of 100 entries; unbounded it would be a 10,000-entry skiplist of ~900 KB
      expect(Number(await t.redis!.memory('USAGE', index[0]!, 'SAMPLES', '0'))).toBeLessThan(8 * 1024);
    } finally {
      await t.store.close();
    }
  }, 60_000);
});

describe.each(STORE_KINDS.filter((k) => k !== 'memory'))('REDIS_WAIT_REPLICAS without the replicas: %s', (kind) => {
  it('still answers a rotation, a revocation and a client deletion, and reports each as under-replicated', async () => {
    const clock = new TestClock();
    const plain = await openStore(kind, clock);
    const reported: string[] = [];
    const store = new RedisStore(plain.redis!, plain.prefix, clock.now, { waitReplicas: 1, waitTimeout: 100, onUnderReplicated: (op) => reported.push(op) });
    try {
      const id = newFamilyId('c1');
      const first = mintRefreshToken(id);
      await store.createFamily({ id, client_id: 'c1', scope: 'a', aud: 'api', created_at: clock.ms, public: false }, first.hash, policy);
      const next = mintRefreshToken(id);
      expect((await store.rotate({ familyId: id, presentedHash: first.hash, nextHash: next.hash, clientId: 'c1', scope: undefined, policy })).status).toBe('rotated');
      expect((await store.rotate({ familyId: id, presentedHash: first.hash, nextHash: next.hash, clientId: 'c1', scope: undefined, policy })).status).toBe('reused');
      expect(await store.revokeFamily(id)).toBe(false);
      await store.putClient(client('c1', clock.ms));
      expect(await store.deleteClient('c1')).toBe(true);
      expect(reported).toEqual(['rotate', 'rotate', 'revoke_family', 'delete_client', 'delete_client']);
    } finally {
      await store.close();
    }
  });
});
