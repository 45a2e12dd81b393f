import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { redisClusterNodes, redisUrl } from '../../../test/support/redis.js';
import { startHarness, type Harness } from './harness.js';
import { ASSERTION_TYPE, signAssertion, testKey } from './support/assertions.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const SECRET = 'test-key-encryption-secret-0123456789abcdef';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('ops CLI against Redis', () => {
  let h: Harness;
  let env: Record<string, string>;
  afterEach(() => h.close());

  const start = async (extra: Record<string, string> = {}) => {
    h = await startHarness('redis', extra);
    env = { REDIS_URL: redisUrl(), REDIS_PREFIX: h.testStore.prefix, KEY_ENCRYPTION_SECRET: SECRET, ...extra };
  };

  it('keys list shows the server\'s keys as a table and as JSON', async () => {
    await start();
    const kids = h.deps.keys.list();
    const table = await cli(['keys', 'list'], env);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+ACTIVATED\s+RETIRED\s+LEAVES JWKS$/);
    expect(rows).toHaveLength(2);
    for (const k of kids) expect(rows.find((r) => r.startsWith(k.kid))).toMatch(new RegExp(`^${k.kid}\\s+ES256\\s+${k.state}\\s`));
    const json = await cli(['keys', 'list', '--json'], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ keys: kids.map((k) => JSON.parse(JSON.stringify(k))) });
  });

  it('keys rotate is refused (exit 1) while the next key is too fresh, succeeds with --force, and the server signs with the new key', async () => {
    await start({ JWKS_MAX_AGE: '300' });
    const next = h.deps.keys.list().find((k) => k.state === 'next')!.kid;
    const refused = await cli(['keys', 'rotate'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tessera: the next key \S+ has been published for less than the JWKS max-age \(300s\).*force\.\n$/);
    const refusedJson = await cli(['keys', 'rotate', '--json'], env);
    expect(refusedJson.code).toBe(1);
    expect(JSON.parse(refusedJson.stderr)).toMatchObject({ error: 'conflict' });

    const forced = await cli(['keys', 'rotate', '--force', '--json'], env);
    expect(forced.code).toBe(0);
    const keys = JSON.parse(forced.stdout).keys as { kid: string; state: string }[];
    expect(keys.find((k) => k.state === 'active')!.kid).toBe(next);
    await h.deps.keys.refresh();
    expect(h.deps.keys.signer().kid).toBe(next);

    const human = await cli(['keys', 'rotate', '--force'], env);
    expect(human.stdout).toMatch(/^rotated: \S+ \(ES256\) signs now;.*\n\S+ is retired and leaves the JWKS at \d{4}-/);
  });

  it('refresh revoke-all revokes every family after confirmation, and leaves clients alone', async () => {
    await start();
    const client = await h.createClient();
    const tokens = [(await h.clientCredentials(client)).body.refresh_token, (await h.clientCredentials(client)).body.refresh_token];
    const unconfirmed = await cli(['refresh', 'revoke-all'], env);
    expect(unconfirmed.code).toBe(2);
    expect((await h.refresh(client, tokens[0])).status).toBe(200);
    const run = await cli(['refresh', 'revoke-all', '--yes', '--json'], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ revoked_families: 2 });
    expect((await h.refresh(client, tokens[1])).body.error).toBe('invalid_grant');
    expect((await h.clientCredentials(client)).status).toBe(200);
  });

  it.runIf(redisClusterNodes().length > 0)('works on a Redis Cluster: refresh revoke-all and clients delete find every family', async () => {
    h = await startHarness('cluster');
    env = {
      REDIS_CLUSTER_NODES: redisClusterNodes().map((n) => `${n.host}:${n.port}`).join(','),
      REDIS_PREFIX: h.testStore.prefix,
      KEY_ENCRYPTION_SECRET: SECRET,
    };
    const [a, b] = [await h.createClient(), await h.createClient()];
    const tokens = [(await h.clientCredentials(a)).body.refresh_token, (await h.clientCredentials(b)).body.refresh_token];
    const run = await cli(['refresh', 'revoke-all', '--yes', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ revoked_families: 2 });
    expect((await h.refresh(a, tokens[0])).body.error).toBe('invalid_grant');
    const fresh = (await h.clientCredentials(b)).body.refresh_token;
    expect((await cli(['clients', 'delete', b.client_id, '--json'], env)).code).toBe(0);
    expect((await h.refresh(b, fresh)).status).not.toBe(200);
  });

  it('takes kids and client ids that start with a dash as arguments, not options', async () => {
    await start();
    const dashed = await cli(['clients', 'delete', '-Abc_123', '--json'], env);
    expect(dashed.code).toBe(1);
    expect(JSON.parse(dashed.stderr)).toEqual({ error: 'not_found', error_description: 'no such client: -Abc_123' });
    const kid = await cli(['keys', 'revoke', '--json', '-Zz9_unknown'], env);
    expect(kid.code).toBe(1);
    expect(JSON.parse(kid.stderr).error).toBe('not_found');
    expect((await cli(['keys', 'rotate', '-x'], env)).code).toBe(2);
  });

  it('keys revoke removes a kid from the JWKS and says what it means; unknown kid exits 1, no kid exits 2', async () => {
    await start();
    const active = h.deps.keys.signer().kid;
    const res = await cli(['keys', 'revoke', active, '--json'], env);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ revoked: active, state: 'active', effect: expect.stringContaining('fetch new ones') });
    await h.deps.keys.refresh();
    expect(JSON.parse(h.deps.keys.jwks()).keys.map((k: { kid: string }) => k.kid)).not.toContain(active);
    expect((await cli(['keys', 'revoke', active], env)).code).toBe(1);
    expect((await cli(['keys', 'revoke'], env)).code).toBe(2);
  });

  it('clients create prints the secret once and the client gets tokens; list and delete work; bad input exits 2', async () => {
    await start();
    const created = await cli(['clients', 'create', '--name', 'svc', '--scope', 'collect,read', '--scope', 'write', '--audience', 'collector', '--json'], env);
    expect(created.code).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string; scopes: string[]; audiences: string[] };
    expect(client).toMatchObject({ scopes: ['collect', 'read', 'write'], audiences: ['collector'], client_secret: expect.stringMatching(/^[\w-]{43}$/) });
    const token = await h.clientCredentials(client, { scope: 'write' });
    expect(token.status).toBe(200);

    const human = await cli(['clients', 'create', '--name', 'other', '--scope', 'read', '--audience', 'reports'], env);
    expect(human.stdout).toMatch(/^client_id:\s+\S+\nclient_secret:\s+[\w-]{43}\s+\(shown once/);

    const list = await cli(['clients', 'list'], env);
    expect(list.stdout).toMatch(/^CLIENT_ID\s+NAME\s+SCOPES/);
    expect(list.stdout).toContain(client.client_id);
    expect(list.stdout).not.toContain(client.client_secret);
    const listed = JSON.parse((await cli(['clients', 'list', '--json'], env)).stdout).clients as { client_id: string }[];
    expect(listed.map((c) => c.client_id)).toContain(client.client_id);
    expect(JSON.stringify(listed)).not.toContain('secret_hash');

    expect((await cli(['clients', 'delete', client.client_id], env)).code).toBe(0);
    expect(await h.deps.clients.get(client.client_id)).toBeUndefined();
    const again = await cli(['clients', 'delete', client.client_id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`tessera: no such client: ${client.client_id}\n`);

    const missing = await cli(['clients', 'create', '--name', 'x', '--audience', 'a'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^tessera: --scope: /);
    const badTtl = await cli(['clients', 'create', '--name', 'x', '--scope', 'a', '--audience', 'a', '--access-token-ttl', '1d'], env);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toMatch(/--access-token-ttl: at most ACCESS_TOKEN_TTL/);
  });
});

describe('ops CLI: private_key_jwt clients', () => {
  it('clients create --auth-method private_key_jwt with --jwks-file or --jwks-uri: no secret; bad keys exit 2 naming the flag', async () => {
    const h = await startHarness('redis');
    const env = { REDIS_URL: redisUrl(), REDIS_PREFIX: h.testStore.prefix };
    const dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
    try {
      const key = await testKey('EdDSA');
      const file = join(dir, 'jwks.json');
      await writeFile(file, JSON.stringify({ keys: [key.publicJwk] }));
      const base = ['clients', 'create', '--name', 'keyed', '--scope', 'collect', '--audience', 'collector', '--auth-method', 'private_key_jwt'];
      const created = await cli([...base, '--jwks-file', file, '--json'], env);
      expect(created.code, created.stderr).toBe(0);
      const client = JSON.parse(created.stdout) as Record<string, unknown> & { client_id: string };
      expect(client).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } });
      expect(client).not.toHaveProperty('client_secret');
      const token = await h.http
        .post('/token')
        .type('form')
        .send({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await signAssertion(key, client.client_id, `${h.deps.config.issuer}/token`, { now: Math.floor(h.clock.ms / 1000) }),
        });
      expect(token.status).toBe(200);

      const byUri = await cli([...base, '--jwks-uri', 'https://keys.example/jwks.json'], env);
      expect(byUri.code).toBe(0);
      expect(byUri.stdout).toMatch(/^client_id:\s+\S+\ntoken_endpoint_auth_method:\s+private_key_jwt\njwks_uri:\s+https:\/\/keys\.example\/jwks\.json\n/);
      expect(byUri.stdout).not.toMatch(/^client_secret:/m);

      await writeFile(file, JSON.stringify({ keys: [key.privateJwk] }));
      const leaked = await cli([...base, '--jwks-file', file], env);
      expect(leaked.code).toBe(2);
      expect(leaked.stderr).toMatch(/^tessera: --jwks-file: keys\.0\.d: a private key member/);
      const missing = await cli([...base, '--jwks-file', join(dir, 'nope.json')], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^tessera: --jwks-file: cannot read/);
      const plainHttp = await cli([...base, '--jwks-uri', 'http://keys.example/jwks'], env);
      expect(plainHttp.code).toBe(2);
      expect(plainHttp.stderr).toMatch(/^tessera: --jwks-uri: /);
      const neither = await cli(base, env);
      expect(neither.code).toBe(2);
      expect(neither.stderr).toMatch(/^tessera: --jwks-file: .*exactly one of jwks and jwks_uri/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await h.close();
    }
  });
});

describe('ops CLI: clients create for token exchange (SPEC §14)', () => {
  let h: Harness;
  afterEach(() => h.close());

  it('takes --exchange-audience and --exchange-accept, and refuses them without the grant type', async () => {
    h = await startHarness('redis');
    const env = { REDIS_URL: redisUrl(), REDIS_PREFIX: h.testStore.prefix };
    const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const base = ['clients', 'create', '--name', 'svc-a', '--scope', 'read', '--audience', 'service-a'];
    const created = await cli([...base, '--grant-type', `client_credentials,${grant}`, '--exchange-audience', 'service-b,service-c', '--exchange-accept', 'service-a', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const client = JSON.parse(created.stdout) as { client_id: string };
    expect(await h.deps.clients.get(client.client_id)).toMatchObject({
      grant_types: ['client_credentials', grant],
      exchange_audiences: ['service-b', 'service-c'],
      exchange_accepts: ['service-a'],
    });
    const human = await cli([...base, '--grant-type', grant, '--exchange-audience', 'service-b'], env);
    expect(human.stdout).toMatch(/^exchange_audiences:\s+service-b$/m);
    const without = await cli([...base, '--exchange-audience', 'service-b'], env);
    expect(without.code).toBe(2);
    expect(without.stderr).toMatch(/^tessera: --exchange-audience: needs grant type urn:/);
    const missing = await cli([...base, '--grant-type', grant], env);
    expect(missing.stderr).toMatch(/^tessera: --exchange-audience: required with grant type/);
  });
});

describe('ops CLI usage', () => {
  it('prints --help for every command and exits 0', async () => {
    for (const args of [['--help'], ['keys', '--help'], ['keys', 'list', '--help'], ['keys', 'rotate', '-h'], ['keys', 'revoke', '--help'], ['clients', '--help'], ['clients', 'create', '--help'], ['clients', 'list', '--help'], ['clients', 'delete', '--help']]) {
      const res = await cli(args, {});
      expect(res.code, args.join(' ')).toBe(0);
      expect(res.stdout, args.join(' ')).toMatch(/^Usage: npm run cli -- /);
    }
  });

  it('exits 2 with a reason for usage errors, the embedded store and a missing KEY_ENCRYPTION_SECRET', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], {}, /^Usage:/],
      [['nope'], {}, /unknown command "nope"/],
      [['keys', 'spin'], {}, /unknown command "keys spin"/],
      [['keys', 'rotate', '--frobnicate'], {}, /Unknown option '--frobnicate'/],
      [['keys', 'list'], { KEY_ENCRYPTION_SECRET: SECRET }, /REDIS_URL is not set: the server is using its embedded in-memory store/],
      [['clients', 'list'], {}, /embedded in-memory store/],
      [['keys', 'list'], { REDIS_URL: 'redis://127.0.0.1:6379' }, /^tessera: KEY_ENCRYPTION_SECRET: required/],
      [['keys', 'list'], { REDIS_URL: 'http://x', KEY_ENCRYPTION_SECRET: SECRET }, /^tessera: REDIS_URL: invalid value/],
    ];
    for (const [args, env, stderr] of cases) {
      const res = await cli(args, env);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr, args.join(' ')).toMatch(stderr);
      expect(res.stdout).toBe('');
    }
  });

  it('exits 1 when Redis cannot be reached', async () => {
    const res = await cli(['clients', 'list'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^tessera: cannot connect to Redis/);
  });
});
