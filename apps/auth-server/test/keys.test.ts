import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { pino } from 'pino';
import supertest from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { buildDeps, startKeyMaintenance } from '../src/bootstrap.js';
import { loadConfig } from '../src/config.js';
import type { AppDeps } from '../src/deps.js';
import { KeyDecryptionError, KeyEncryption } from '../src/keys/key-encryption.js';
import { SigningKeys } from '../src/keys/signing-keys.js';
import { redisUrl, uniquePrefix } from '../../../test/support/redis.js';
import { ISSUER, STORE_KINDS, TestClock, openStore, startHarness, type Harness, type TestStore } from './harness.js';

const SECRET = 'test-key-encryption-secret-0123456789abcdef';
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface KeyView {
  kid: string;
  alg: string;
  state: string;
  created_at: string;
  activated_at?: string;
  retired_at?: string;
  removed_at?: string;
}

describe.each(STORE_KINDS)('signing key lifecycle on the %s store', (kind) => {
  let h: Harness;
  afterEach(() => h.close());

  const auth = async () => `Bearer ${await h.adminToken()}`;
  const jwks = async (): Promise<JSONWebKeySet> => JSON.parse((await h.http.get('/.well-known/jwks.json')).text) as JSONWebKeySet;
  const listKeys = async (): Promise<KeyView[]> => (await h.http.get('/admin/keys').set('Authorization', await auth())).body.keys;
  const byState = (keys: KeyView[], state: string) => keys.filter((k) => k.state === state);
  const tokenKid = async (client: { client_id: string; client_secret: string }) =>
    decodeProtectedHeader((await h.clientCredentials(client)).body.access_token as string).kid;

  it('starts with an active and a next key, both published, and lists their lifecycle', async () => {
    h = await startHarness(kind);
    const keys = await listKeys();
    expect(keys.map((k) => k.state).sort()).toEqual(['active', 'next']);
    const [active] = byState(keys, 'active');
    expect(active).toMatchObject({ alg: 'ES256', activated_at: expect.any(String) });
    expect(active!.removed_at).toBeUndefined();
    expect(Date.parse(active!.created_at)).toBe(h.clock.ms);
    expect((await jwks()).keys.map((k) => k.kid).sort()).toEqual(keys.map((k) => k.kid).sort());
    expect(await tokenKid(await h.createClient())).toBe(active!.kid);
    expect((await h.http.get('/admin/keys')).status).toBe(401);
  });

  it('refuses rotation (409) while the next key is younger than JWKS_MAX_AGE, rotates when forced or once it is old enough', async () => {
    h = await startHarness(kind, { JWKS_MAX_AGE: '300' });
    const client = await h.createClient();
    const before = await listKeys();

    const refused = await h.http.post('/admin/keys/rotate').set('Authorization', await auth()).send({});
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: 'conflict', error_description: expect.stringMatching(/JWKS max-age \(300s\).*force/) });
    expect(await listKeys()).toEqual(before);

    const forced = await h.http.post('/admin/keys/rotate').set('Authorization', await auth()).send({ force: true });
    expect(forced.status).toBe(200);
    const after: KeyView[] = forced.body.keys;
    expect(byState(after, 'active')[0]!.kid).toBe(byState(before, 'next')[0]!.kid);
    expect(byState(after, 'retired')[0]!.kid).toBe(byState(before, 'active')[0]!.kid);
    expect(byState(after, 'next')).toHaveLength(1);
    expect(await tokenKid(client)).toBe(byState(before, 'next')[0]!.kid);
    expect(h.logs.lines).toContainEqual(expect.objectContaining({ event: 'signing_key_rotated', reason: 'forced', active: byState(after, 'active')[0]!.kid }));

    expect((await h.http.post('/admin/keys/rotate').set('Authorization', await auth()).send({})).status).toBe(409);
    h.clock.advance(300);
    const routine = await h.http.post('/admin/keys/rotate').set('Authorization', await auth());
    expect(routine.status).toBe(200);
    expect(byState(routine.body.keys, 'active')[0]!.kid).toBe(byState(after, 'next')[0]!.kid);
  });

  it('answers bad rotate and revoke input with a 4xx in the OAuth error shape', async () => {
    h = await startHarness(kind);
    const a = await auth();
    const notBoolean = await h.http.post('/admin/keys/rotate').set('Authorization', a).send({ force: 'yes' });
    expect(notBoolean.status).toBe(400);
    expect(notBoolean.body).toEqual({ error: 'invalid_request', error_description: 'force: must be a boolean' });
    const array = await h.http.post('/admin/keys/rotate').set('Authorization', a).send([true]);
    expect(array.status).toBe(400);
    const malformed = await h.http.delete('/admin/keys/not%20a%20kid').set('Authorization', a);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('invalid_request');
    const unknown = await h.http.delete('/admin/keys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').set('Authorization', a);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'not_found', error_description: expect.stringContaining('no published key') });
  });

  it('keeps a retired key published until retire time + ACCESS_TOKEN_TTL + margin, then drops it', async () => {
    h = await startHarness(kind, { ACCESS_TOKEN_TTL: '600', KEY_RETIREMENT_MARGIN: '30' });
    const client = await h.createClient();
    const old = (await h.clientCredentials(client)).body.access_token as string;
    const oldKid = decodeProtectedHeader(old).kid!;
    await h.deps.keys.rotate(true);
    const retired = (await listKeys()).find((k) => k.kid === oldKid)!;
    expect(retired.state).toBe('retired');
    expect(Date.parse(retired.removed_at!) - Date.parse(retired.retired_at!)).toBe(630_000);

    h.clock.advance(629);
    await h.deps.keys.refresh();
    const set = await jwks();
    expect(set.keys.map((k) => k.kid)).toContain(oldKid);
    await expect(jwtVerify(old, createLocalJWKSet(set), { issuer: ISSUER, currentDate: new Date(h.clock.ms - 600_000) })).resolves.toBeTruthy();

    h.clock.advance(2);
    await h.deps.keys.refresh();
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    expect((await listKeys()).map((k) => k.kid)).not.toContain(oldKid);
  });

  it('emergency revoke removes the active key from the JWKS at once and signs with the next key', async () => {
    h = await startHarness(kind, { JWKS_MAX_AGE: '300' });
    const client = await h.createClient();
    const before = await listKeys();
    const activeKid = byState(before, 'active')[0]!.kid;
    const token = (await h.clientCredentials(client)).body.access_token as string;

    const res = await h.http.delete(`/admin/keys/${activeKid}`).set('Authorization', await auth());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revoked: activeKid, state: 'active', effect: expect.stringMatching(/JWKS_MAX_AGE = 300s.*fetch new ones/) });
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(activeKid);
    expect(res.body.keys.map((k: KeyView) => k.kid)).not.toContain(activeKid);
    expect(await tokenKid(client)).toBe(byState(before, 'next')[0]!.kid);
    expect(byState(res.body.keys, 'next')).toHaveLength(1);
    expect(h.logs.lines).toContainEqual(expect.objectContaining({ event: 'signing_key_revoked', kid: activeKid, state: 'active' }));
    expect(h.logs.raw.join('\n')).not.toContain(token);

    const nextKid = byState(res.body.keys, 'next')[0]!.kid;
    const next = await h.http.delete(`/admin/keys/${nextKid}`).set('Authorization', await auth());
    expect(next.body.effect).toMatch(/never signed/);
    expect(byState(next.body.keys, 'next')[0]!.kid).not.toBe(nextKid);
    expect((await jwks()).keys.map((k) => k.kid)).not.toContain(nextKid);
  });

  it('changes SIGNING_ALG through rotation: the new next key uses it, the old-alg next key is promoted first', async () => {
    h = await startHarness(kind, { JWKS_MAX_AGE: '0' });
    const edDeps = await buildDeps(
      loadConfig({ ISSUER, KEY_ENCRYPTION_SECRET: SECRET, SIGNING_ALG: 'EdDSA', JWKS_MAX_AGE: '0' }),
      { logger: pino({ level: 'silent' }), store: h.testStore.store, clock: h.clock.now },
    );
    const ed = supertest(createApp(edDeps).public);
    const rotate = async () => (await ed.post('/admin/keys/rotate').set('Authorization', await auth())).body.keys as KeyView[];

    const first = await rotate();
    expect(byState(first, 'active')[0]!.alg).toBe('ES256');
    expect(byState(first, 'next')[0]!.alg).toBe('EdDSA');
    await h.deps.keys.refresh();
    expect(new Set((await jwks()).keys.map((k) => k.alg))).toEqual(new Set(['ES256', 'EdDSA']));
    const metadata = await h.http.get('/.well-known/oauth-authorization-server');
    expect(metadata.body.access_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA']));

    const second = await rotate();
    expect(byState(second, 'active')[0]!.alg).toBe('EdDSA');
    await h.deps.keys.refresh();
    const client = await h.createClient();
    const token = (await h.clientCredentials(client)).body.access_token as string;
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: byState(second, 'active')[0]!.kid });
    await expect(jwtVerify(token, createLocalJWKSet(await jwks()), { issuer: ISSUER, currentDate: new Date(h.clock.ms) })).resolves.toBeTruthy();
  });
});

describe('signing keys at rest (Redis)', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('stores private keys encrypted: no private member in clear, unreadable under another secret', async () => {
    h = await startHarness('redis');
    const raw = (await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data'))!;
    const stored = JSON.parse(raw) as { kid: string; private_key: { ciphertext: string } }[];
    expect(stored).toHaveLength(2);
    expect(raw).not.toMatch(/"(d|p|q|dp|dq|qi|k)"\s*:/);
    for (const key of stored) expect(key.private_key.ciphertext.length).toBeGreaterThan(40);

    const other = new SigningKeys({
      store: h.testStore.store,
      encryption: new KeyEncryption('another-secret-0123456789abcdef-0123456789'),
      alg: 'ES256',
      accessTokenTtl: 900,
      jwksMaxAge: 0,
    });
    await expect(other.load()).rejects.toBeInstanceOf(KeyDecryptionError);
    await expect(other.rotate(true)).rejects.toBeInstanceOf(KeyDecryptionError);
    expect(await h.testStore.redis!.hget(`${h.testStore.prefix}keyset`, 'data')).toBe(raw);
  });

  it('refuses to start with a wrong KEY_ENCRYPTION_SECRET: one line naming it, exit 1, keyset unchanged', async () => {
    h = await startHarness('redis');
    const before = await h.testStore.redis!.hgetall(`${h.testStore.prefix}keyset`);
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        PORT: '0',
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: h.testStore.prefix,
        KEY_ENCRYPTION_SECRET: 'a-different-secret-0123456789abcdef-0123',
        ADMIN_CLIENT_ID: 'test-admin',
        ADMIN_CLIENT_SECRET: 'test-admin-secret-0123456789abcdef-0123456789',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^auth-server: KEY_ENCRYPTION_SECRET does not decrypt signing key [\w-]+: [^\n]+\n$/);
    expect(await h.testStore.redis!.hgetall(`${h.testStore.prefix}keyset`)).toEqual(before);
  });
});

describe('scheduled rotation (KEY_ROTATION_INTERVAL) across instances', () => {
  const instances: { testStore: TestStore; deps: AppDeps; stop: () => void }[] = [];
  afterEach(async () => {
    for (const i of instances.splice(0)) {
      i.stop();
      await i.testStore.store.close();
    }
  });

  const until = async (condition: () => boolean | Promise<boolean>, ms = 5000) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await condition()) return;
    throw new Error('condition not met in time');
  };
  const scheduled = async () => {
    let total = 0;
    for (const i of instances) total += (await i.deps.metrics.keyRotations.get()).values.find((v) => v.labels.reason === 'scheduled')?.value ?? 0;
    return total;
  };

  it('rotates once per period, not once per instance, and every instance signs with the new key', async () => {
    const clock = new TestClock();
    const prefix = uniquePrefix();
    const config = loadConfig({ ISSUER, KEY_ENCRYPTION_SECRET: SECRET, KEY_ROTATION_INTERVAL: '1h', JWKS_MAX_AGE: '5m', ACCESS_TOKEN_TTL: '2h' });
    for (let n = 0; n < 3; n++) {
      const testStore = await openStore('redis', clock, prefix);
      const deps = await buildDeps(config, { logger: pino({ level: 'silent' }), store: testStore.store, clock: clock.now });
      instances.push({ testStore, deps, stop: startKeyMaintenance(deps, 25) });
    }
    const store = instances[0]!.testStore.store;
    const first = instances[0]!.deps.keys.signer().kid;
    const version = (await store.getKeyset()).version;

    clock.advance(3599);
    await new Promise((r) => setTimeout(r, 200));
    expect((await store.getKeyset()).version).toBe(version);

    for (const period of [1, 2]) {
      clock.advance(period === 1 ? 1 : 3600);
      await until(async () => (await scheduled()) >= period);
      await new Promise((r) => setTimeout(r, 300));
      expect(await scheduled()).toBe(period);
      const keys = (await store.getKeyset()).keys;
      expect(keys.filter((k) => k.state === 'retired')).toHaveLength(period);
      const active = keys.find((k) => k.state === 'active')!.kid;
      await until(() => instances.every((i) => i.deps.keys.signer().kid === active));
    }
    expect(instances[0]!.deps.keys.signer().kid).not.toBe(first);
  });
});
