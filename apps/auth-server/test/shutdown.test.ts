import { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppProcess, idleKeepAlive } from '../../../test/support/app-process.js';
import { redisUrl, uniquePrefix } from '../../../test/support/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const started: AppProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
});

/**
 * Opens a raw connection and sends the request head with `Expect: 100-continue`; once the server answers
 * 100 Continue (it has parsed the head: the request is in flight) sends 5 bytes of the body. `finish()`
 * sends the rest and resolves with the response.
 */
async function slowRequest(url: string, path: string, body: string) {
  const { hostname, port } = new URL(url);
  const socket = new Socket();
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(Number(port), hostname, resolve);
  });
  let response = '';
  socket.on('data', (d: Buffer) => (response += d.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
  );
  await vi.waitFor(() => expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n/), { timeout: 5000, interval: 10 });
  socket.write(body.slice(0, 5));
  return {
    async finish(): Promise<string> {
      socket.write(body.slice(5));
      await Promise.race([closed, sleep(5000)]);
      socket.destroy();
      return response;
    },
  };
}

describe('graceful shutdown on SIGTERM', () => {
  it('auth server: finishes the request in flight, refuses new connections, closes Redis and exits 0', async () => {
    const server = await AppProcess.start('auth-server', {
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: uniquePrefix(),
      KEY_ENCRYPTION_SECRET: 'shutdown-key-encryption-secret-0123456789abcdef',
      ADMIN_CLIENT_ID: 'shutdown-admin',
      ADMIN_CLIENT_SECRET: 'shutdown-admin-secret-0123456789abcdef-0123',
    });
    started.push(server);
    await idleKeepAlive(server.url);
    const inFlight = await slowRequest(
      server.url,
      '/token',
      'grant_type=client_credentials&client_id=shutdown-admin&client_secret=shutdown-admin-secret-0123456789abcdef-0123',
    );
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    // the line is written in the same turn that stops the listener
    await vi.waitFor(() => expect(server.logLines().some((l) => l.msg === 'shutting down')).toBe(true), { timeout: 5000, interval: 10 });
    await expect(fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();

    const response = await inFlight.finish();
    expect(response).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(response).toContain('"access_token"');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(server.logLines().some((l) => l.msg === 'shutting down')).toBe(true);
  });
});
