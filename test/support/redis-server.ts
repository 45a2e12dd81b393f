import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Answers true when a Redis at host:port replies +PONG within `timeoutMs`. */
export function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every redis-server this process started, killed at exit whatever happens to the test. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface RedisServerOptions {
  /** extra redis-server arguments, e.g. ['--appendonly', 'yes'] */
  args?: string[];
  port?: number;
  /** the working directory (AOF, RDB, nodes.conf); a fresh temporary one by default */
  dir?: string;
  /** a config file in `dir` to start from (written by the caller), e.g. a sentinel's */
  configFile?: string;
  /** run as a Redis Sentinel (`--sentinel`; needs `configFile`) */
  sentinel?: boolean;
}

/** A throwaway redis-server child process on loopback: stop, hang (SIGSTOP), resume and restart it. */
export class RedisServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly configFile?: string,
    private readonly sentinel = false,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts redis-server and waits (at most 5 s) until it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tessera-redis-'));
    const server = new RedisServer(port, dir, options.args ?? [], options.configFile, options.sentinel);
    await server.launch();
    return server;
  }

  /** (Re)starts the process on the same port and directory; `extraArgs` for this start only (e.g. ['--replicaof', …]). */
  async launch(extraArgs: string[] = []): Promise<void> {
    const args = this.sentinel
      ? [this.configFile!, '--sentinel', '--port', String(this.port), '--bind', '127.0.0.1', ...this.args]
      : [...(this.configFile ? [this.configFile] : []), '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, ...this.args, ...extraArgs];
    const child = spawn('redis-server', args, { stdio: 'ignore', cwd: this.dir });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let failed: Error | undefined;
    child.once('error', (error) => (failed = error));
    this.#child = child;
    for (let i = 0; i < 100; i++) {
      if (failed) throw new Error(`redis-server could not be started: ${failed.message}`);
      if (await pingRedis(this.port)) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not answer PING within 5 s`);
  }

  /** Freezes the process: connections stay open, nothing answers (a hung Redis). */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Kills the process (SIGKILL by default: no shutdown save) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill(signal);
    await Promise.race([exited, sleep(5000)]);
    child.kill('SIGKILL');
  }

  /** Kills the process and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
