import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

function run(env: Record<string, string>) {
  return spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function output(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('collector process (dist/main.js)', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
  });
  afterAll(() => issuer.stop());

  it('stops with one line naming a bad variable', async () => {
    const child = run({ CLOCK_TOLERANCE: 'soon' });
    const [stdout, stderr, [code]] = await Promise.all([output(child.stdout), output(child.stderr), once(child, 'exit')]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^collector: CLOCK_TOLERANCE: invalid value; expected [^\n]+\n$/);
  });

  it('serves tokens of the configured issuer and shuts down on SIGTERM', async () => {
    const child = run({ PORT: '0', ISSUER: issuer.url, LOG_LEVEL: 'info', MAX_DELEGATION_DEPTH: '0' });
    const exited = once(child, 'exit');
    const lines = createInterface({ input: child.stdout });
    let port = 0;
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg: string; port?: number };
      if (entry.msg === 'collector listening' && entry.port) {
        port = entry.port;
        break;
      }
    }
    const token = await issuer.sign();
    const res = await fetch(`http://127.0.0.1:${port}/collect`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ message: 'collected', claims: { iss: issuer.url } });
    const delegated = await fetch(`http://127.0.0.1:${port}/collect`, { headers: { authorization: `Bearer ${await issuer.sign({ act: { sub: 'service-a' } })}` } });
    expect(delegated.status).toBe(401);
    expect(delegated.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="the access token has 1 delegation levels \(act\), more than the 0 accepted"/);

    child.kill('SIGTERM');
    const rest = output(child.stdout);
    const [code] = await exited;
    expect(code).toBe(0);
    expect(await rest).not.toContain(token);
  });
});
