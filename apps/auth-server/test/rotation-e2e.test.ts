import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from '../../../test/support/redis.js';

const dist = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const AUTH_MAIN = dist('auth-server/dist/main.js');
const CLI = dist('auth-server/dist/cli.js');
const COLLECTOR_MAIN = dist('collector/dist/main.js');

const ACCESS_TOKEN_TTL = 5;
const KEY_RETIREMENT_MARGIN = 5;
const JWKS_MAX_AGE = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 15_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('key rotation across two auth-server instances and a collector, under load', () => {
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const secret = 'e2e-key-encryption-secret-0123456789abcdef';
  let env: Record<string, string>;
  let auth: string[];
  let collector: string;
  let client: { client_id: string; client_secret: string };

  const start = (main: string, childEnv: Record<string, string>) => {
    const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH, ...childEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    children.push(child);
  };

  const token = async (base: string): Promise<string> => {
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    if (res.status !== 200) throw new Error(`/token ${res.status} ${await res.text()}`);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const collect = async (accessToken: string) => (await fetch(`${collector}/collect`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
  const jwksKids = async (base: string) =>
    ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  beforeAll(async () => {
    const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
    auth = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
    collector = `http://127.0.0.1:${portC}`;
    env = {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: uniquePrefix(),
      KEY_ENCRYPTION_SECRET: secret,
      ISSUER: auth[0]!,
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
      JWKS_MAX_AGE: String(JWKS_MAX_AGE),
      KEY_RETIREMENT_MARGIN: String(KEY_RETIREMENT_MARGIN),
      ADMIN_CLIENT_ID: 'e2e-admin',
      ADMIN_CLIENT_SECRET: 'e2e-admin-secret-0123456789abcdef-0123456789',
      RATE_LIMIT: '0',
      AUTH_FAILURE_LIMIT: '0',
      LOG_LEVEL: 'warn',
    };
    const ready = (base: string) => until(`${base} to answer`, async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), 10_000);
    for (const port of [portA, portB]) start(AUTH_MAIN, { ...env, HOST: '127.0.0.1', PORT: String(port) });
    const created = await cli(['clients', 'create', '--name', 'e2e', '--scope', 'collect', '--audience', 'collector', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    client = JSON.parse(created.stdout);
    for (const base of auth) await ready(base);
    start(COLLECTOR_MAIN, { HOST: '127.0.0.1', PORT: String(portC), ISSUER: auth[0]!, JWKS_URI: `${auth[0]}/.well-known/jwks.json`, LOG_LEVEL: 'warn' });
    await ready(collector);
  }, 20_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const force = setTimeout(() => child.kill('SIGKILL'), 3000);
            child.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
          }),
      ),
    );
  });

  it('rotates through the CLI with zero failed requests; both instances switch within 5 s; the old key serves its window, then leaves', async () => {
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop && i < 5000; i++) {
        try {
          const status = await collect(await token(auth[i % 2]!));
          requests++;
          if (status !== 200) failures.push(`/collect ${status}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    })();

    try {
      const oldKid = decodeProtectedHeader(await token(auth[0]!)).kid!;
      const oldTokens = [await token(auth[0]!), await token(auth[1]!)];
      for (const t of oldTokens) expect(decodeProtectedHeader(t).kid).toBe(oldKid);

      // refused (exit 1, nothing changes) until the next key has been published for JWKS_MAX_AGE
      const rotated = await until(
        'keys rotate to be allowed',
        async () => {
          const attempt = await cli(['keys', 'rotate', '--json'], env);
          if (attempt.code === 1 && /published for less than the JWKS max-age/.test(attempt.stderr + attempt.stdout)) return undefined;
          return attempt;
        },
        JWKS_MAX_AGE * 1000 + 10_000,
      );
      expect(rotated.code, rotated.stderr).toBe(0);
      const rotatedAt = Date.now();
      const keys = JSON.parse(rotated.stdout).keys as { kid: string; state: string; retired_at?: string; removed_at?: string }[];
      const newKid = keys.find((k) => k.state === 'active')!.kid;
      const retired = keys.find((k) => k.kid === oldKid)!;
      expect(retired.state).toBe('retired');
      expect(Date.parse(retired.removed_at!) - Date.parse(retired.retired_at!)).toBe((ACCESS_TOKEN_TTL + KEY_RETIREMENT_MARGIN) * 1000);

      await until(
        'both instances to sign with the new key',
        async () => {
          const kids = await Promise.all(auth.map(async (base) => decodeProtectedHeader(await token(base)).kid));
          return kids.every((kid) => kid === newKid) ? true : undefined;
        },
        6000,
      );
      expect(Date.now() - rotatedAt).toBeLessThan(5000);

      for (const t of oldTokens) expect(await collect(t)).toBe(200);
      for (const base of auth) expect(await jwksKids(base)).toContain(oldKid);

      await until(
        'the retired key to leave both JWKS',
        async () => ((await Promise.all(auth.map(jwksKids))).every((kids) => !kids.includes(oldKid)) ? true : undefined),
        (ACCESS_TOKEN_TTL + KEY_RETIREMENT_MARGIN) * 1000 + 5000,
      );
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(retired.removed_at!));
      for (const base of auth) expect(await jwksKids(base)).toContain(newKid);
    } finally {
      stop = true;
      await traffic;
    }
    expect(failures, output.join('')).toEqual([]);
    expect(requests).toBeGreaterThan(20);
  }, 30_000);
});
