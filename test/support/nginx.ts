import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/**
 * A throwaway nginx (`binary`: Debian's, see `systemTool`; foreground, its own prefix in a temp dir) on a free loopback port,
 * with `http` as the body of its http block. `{{port}}` in it is replaced by the listen port.
 */
export class NginxServer {
  #child: ChildProcess;
  output = '';

  private constructor(
    child: ChildProcess,
    readonly port: number,
    readonly dir: string,
  ) {
    this.#child = child;
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(binary: string, http: string): Promise<NginxServer> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'tessera-nginx-'));
    const conf = [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      `  client_body_temp_path ${join(dir, 'body')};`,
      `  proxy_temp_path ${join(dir, 'proxy')};`,
      `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
      `  scgi_temp_path ${join(dir, 'scgi')};`,
      http.replaceAll('{{port}}', String(port)),
      '}',
    ].join('\n');
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const child = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    const server = new NginxServer(child, port, dir);
    for (let i = 0; i < 100; i++) {
      if (child.exitCode !== null) break;
      if (await listening(port)) return server;
      await sleep(50);
    }
    await server.stop();
    throw new Error(`nginx did not start: ${server.output}${server.errorLog()}`);
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops nginx (SIGQUIT: graceful; SIGKILL after 5 s) and removes its directory. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGQUIT');
      await Promise.race([exited, sleep(5000)]);
      child.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
