import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess } from '../../../test/support/app-process.js';
import { redisUrl, uniquePrefix } from '../../../test/support/redis.js';

const ADMIN = { id: 'restart-admin', secret: 'restart-admin-secret-0123456789abcdef-0123' };

const started: AppProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
});

async function start(prefix: string): Promise<AppProcess> {
  const proc = await AppProcess.start('auth-server', {
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: prefix,
    ISSUER: 'http://auth.test',
    KEY_ENCRYPTION_SECRET: 'restart-key-encryption-secret-0123456789abcdef',
    ADMIN_CLIENT_ID: ADMIN.id,
    ADMIN_CLIENT_SECRET: ADMIN.secret,
  });
  started.push(proc);
  return proc;
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(base: string, id: string, secret: string, form: Record<string, string>) {
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { Authorization: basic(id, secret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe('auth server restart', () => {
  it('never revives a spent refresh token or a revoked family', async () => {
    const prefix = uniquePrefix();
    let server = await start(prefix);
    const admin = await token(server.url, ADMIN.id, ADMIN.secret, { grant_type: 'client_credentials' });
    const created = await fetch(`${server.url}/admin/clients`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin.body.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'restart', scopes: ['collect'], audiences: ['collector'] }),
    });
    const client = (await created.json()) as { client_id: string; client_secret: string };
    const as = (form: Record<string, string>) => token(server.url, client.client_id, client.client_secret, form);

    const first = await as({ grant_type: 'client_credentials' });
    const second = await as({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(second.status).toBe(200);
    const untouched = await as({ grant_type: 'client_credentials' });

    expect((await server.stop('SIGTERM')).code).toBe(0);
    server = await start(prefix);

    const replay = await as({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(replay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await as({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token! })).status).toBe(400);

    await server.stop('SIGKILL');
    server = await start(prefix);
    expect((await as({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token! })).body.error).toBe('invalid_grant');
    expect((await as({ grant_type: 'refresh_token', refresh_token: untouched.body.refresh_token! })).status).toBe(200);
  });
});
