import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

function ping(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname.replace(/^\[|\]$/g, ''), () => {
      socket.write('PING\r\n');
    });
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

let child: ChildProcess | undefined;
let dir: string | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const configured = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let url = configured;
  if (!(await ping(configured))) {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    const spawnFailed = new Promise<boolean>((resolve) => child!.once('error', () => resolve(true)));
    url = `redis://127.0.0.1:${port}`;
    let ready = false;
    for (let i = 0; i < 50 && !ready; i++) {
      if (await Promise.race([spawnFailed, new Promise<boolean>((r) => setTimeout(() => r(false), 100))])) break;
      ready = await ping(url);
    }
    if (!ready) {
      throw new Error(
        `No Redis answers at ${configured} and no redis-server could be started: install Redis (apt-get install redis-server) and run "redis-server --daemonize yes", or set REDIS_URL.`,
      );
    }
  }
  project.provide('redisUrl', url);
  return async () => {
    child?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
