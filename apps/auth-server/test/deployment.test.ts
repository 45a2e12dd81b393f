import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig as loadCollectorConfig } from '../../collector/src/config.js';
import { loadConfig as loadForwardAuthConfig } from '../../forward-auth/src/config.js';
import { loadConfig } from '../src/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const composePath = `${root}docker-compose.yml`;

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

/** Resolves compose interpolation (${VAR:-default}, ${VAR:?error}) with the given values. */
function interpolate(env: Record<string, string>, values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [
      k,
      String(v).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, rest?: string) => values[name] ?? (op === '-' ? rest! : '')),
    ]),
  );
}

describe('docker-compose.yml and Dockerfile', () => {
  const compose = parse(readFileSync(composePath, 'utf8')) as { services: Record<string, Service> };
  const secrets = { KEY_ENCRYPTION_SECRET: 'k'.repeat(48), ADMIN_CLIENT_SECRET: 's'.repeat(48) };

  it('passes the compose-file validator (dclint: compose schema and best practices)', async () => {
    const bin = `${root}node_modules/dclint/bin/dclint.cjs`;
    const result = await promisify(execFile)(process.execPath, [bin, '--max-warnings', '0', '--color', 'false', composePath]).catch((e: { stdout: string; code: number }) => e);
    expect('code' in result ? `${result.code}: ${result.stdout}` : 'ok').toBe('ok');
  });

  it('runs Redis with AOF persistence and a healthcheck', () => {
    const redis = compose.services.redis!;
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.healthcheck?.test).toContain('redis-cli');
  });

  it('gives the auth server an environment its config accepts: production, Redis, secrets', () => {
    const auth = compose.services['auth-server']!;
    const config = loadConfig(interpolate(auth.environment!, secrets));
    expect(config).toMatchObject({ production: true, redisUrl: 'redis://redis:6379', port: 4000, host: '0.0.0.0' });
    expect(auth.environment!.KEY_ENCRYPTION_SECRET).toMatch(/\$\{KEY_ENCRYPTION_SECRET:\?/);
    expect(auth.depends_on?.redis?.condition).toBe('service_healthy');
    expect(auth.healthcheck?.test.join(' ')).toContain('/readyz');
  });

  it('gives the collector an environment its config accepts, pointing at the auth server', () => {
    const collector = compose.services.collector!;
    const config = loadCollectorConfig(interpolate(collector.environment!, secrets));
    expect(config).toMatchObject({ issuer: 'http://localhost:4000', jwksUri: 'http://auth-server:4000/.well-known/jwks.json', audience: 'collector' });
    expect(collector.environment).not.toHaveProperty('REDIS_URL');
    expect(collector.depends_on?.['auth-server']?.condition).toBe('service_healthy');
  });

  it('gives forward-auth an environment its config accepts, trusting only private addresses and publishing no port', () => {
    const forwardAuth = compose.services['forward-auth']!;
    const config = loadForwardAuthConfig(interpolate(forwardAuth.environment!, secrets));
    expect(config).toMatchObject({
      port: 4002,
      host: '0.0.0.0',
      issuer: 'http://localhost:4000',
      jwksUri: 'http://auth-server:4000/.well-known/jwks.json',
      audience: 'collector',
      requiredScopes: ['collect'],
      trustProxy: 'uniquelocal',
    });
    expect(forwardAuth.ports).toBeUndefined();
    expect(forwardAuth.depends_on?.['auth-server']?.condition).toBe('service_healthy');
    expect(forwardAuth.healthcheck?.test.join(' ')).toContain('4002/healthz');
  });

  it('runs nginx in front of the collector with deploy/nginx.conf asking forward-auth', () => {
    const nginx = compose.services.nginx!;
    expect(nginx.volumes).toContain('./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro');
    expect(nginx.depends_on?.['forward-auth']?.condition).toBe('service_healthy');
    const conf = readFileSync(`${root}deploy/nginx.conf`, 'utf8');
    expect(conf).toContain('server forward-auth:4002;');
    expect(conf).toContain('server collector:4001;');
    expect(conf).toMatch(/auth_request \/_tessera_verify;/);
    expect(nginx.ports).toEqual(['127.0.0.1:8080:8080']);
  });

  it('builds a multi-stage, non-root image with production dependencies only', () => {
    const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    for (const service of ['auth-server', 'collector', 'forward-auth']) {
      const entry = compose.services[service]!.command!.at(-1)!;
      expect(dockerfile).toContain(`COPY --from=build /app/${entry.replace(/\/main\.js$/, '')}`);
    }
    // every workspace the apps can depend on: its package.json in both stages (npm ci), its build in the image
    for (const dir of ['apps', 'packages']) {
      for (const name of readdirSync(`${root}${dir}`)) {
        expect(dockerfile.split(`COPY ${dir}/${name}/package.json ${dir}/${name}/`)).toHaveLength(3);
        expect(dockerfile).toContain(`COPY --from=build /app/${dir}/${name}/dist ${dir}/${name}/dist`);
      }
    }
  });

  it("sets NODE_OPTIONS that node accepts and that bound V8's young generation to two 8 MiB semi-spaces", async () => {
    const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
    const nodeOptions = /^ENV\b.*\sNODE_OPTIONS=(\S+)$/m.exec(dockerfile)?.[1];
    expect(nodeOptions).toBe('--max-semi-space-size=8');
    // garbage with survivors grows the young generation to its maximum (32 MiB on Node's defaults)
    const grow = `const v8 = require('node:v8'); let keep = [];
      for (let i = 0; i < 3e6; i++) { const o = { i, a: [i] }; if (i % 3 === 0) keep.push(o); if (keep.length > 20000) keep = []; }
      process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));`;
    const youngBytes = async (options: string | undefined) => {
      const { NODE_OPTIONS: _own, ...env } = process.env;
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', grow], { env: options ? { ...env, NODE_OPTIONS: options } : env });
      return Number(stdout);
    };
    expect(await youngBytes(undefined)).toBeGreaterThan(16 * 2 ** 20);
    expect(await youngBytes(nodeOptions)).toBeLessThanOrEqual(16 * 2 ** 20);
  });

  it('installs each runtime package version once (a dev tool hoisted above it made the apps load four copies of mime-db)', () => {
    const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean }> };
    const paths = new Map<string, string[]>();
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (!path.includes('node_modules/') || entry.dev) continue;
      const id = `${path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${entry.version}`;
      paths.set(id, [...(paths.get(id) ?? []), path]);
    }
    expect([...paths].filter(([, at]) => at.length > 1)).toEqual([]);
  });
});
