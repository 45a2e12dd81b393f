import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { AppProcess, idleKeepAlive } from '../../../test/support/app-process.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

async function exitOf(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('forward-auth process (dist/main.js)', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(() => issuer.stop());

  it('stops with one line naming a bad variable, or a bad ROUTES_FILE', async () => {
    const bad = await exitOf({ AUDIENCE: 'a', REQUIRED_SCOPE: 'b', TRUST_PROXY: 'anyone' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^forward-auth: TRUST_PROXY: [^\n]+\n$/);
    const file = join(mkdtempSync(join(tmpdir(), 'tessera-routes-')), 'routes.json');
    writeFileSync(file, JSON.stringify({ routes: [{ prefix: '/a', methods: 'GET', audience: 'x' }] }));
    const routes = await exitOf({ ROUTES_FILE: file });
    expect(routes.code).toBe(1);
    expect(routes.stderr).toMatch(/^forward-auth: ROUTES_FILE: .*routes\.json: routes\[0\]: "methods" must be [^\n]+\n$/);
  });

  it('verifies, then stops gracefully on SIGTERM with an idle keep-alive connection open', async () => {
    const proc = await AppProcess.start('forward-auth', { ISSUER: issuer.url, AUDIENCE: 'collector', REQUIRED_SCOPE: 'collect' });
    const token = await issuer.sign();
    const res = await fetch(`${proc.url}/verify`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-auth-subject')).toBe('client-1');
    await idleKeepAlive(proc.url);
    const { code } = await proc.stop('SIGTERM', 5000);
    expect(code).toBe(0);
    const messages = proc.logLines().map((line) => line.msg);
    expect(messages).toContain('forward-auth listening');
    expect(messages).toContain('stopped');
    expect(proc.output).not.toContain(token);
  });
});
