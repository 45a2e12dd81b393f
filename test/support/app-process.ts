import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis-server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A built app (`apps/<name>/dist/main.js`) running as its own process on a free loopback port. */
export class AppProcess {
  /** everything the process wrote, stdout and stderr */
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts `node apps/<app>/dist/main.js` with `env` (PORT chosen here unless `env.PORT` names one) and waits until /healthz answers (10 s at most). */
  static async start(app: 'auth-server' | 'collector' | 'forward-auth', env: Record<string, string>): Promise<AppProcess> {
    const port = env.PORT ? Number(env.PORT) : await freePort();
    const child = spawn(process.execPath, [`apps/${app}/dist/main.js`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    const proc = new AppProcess(child, `http://127.0.0.1:${port}`);
    void proc.exited.then(() => running.delete(child));
    let gone = false;
    void proc.exited.then(() => (gone = true));
    for (let i = 0; i < 100 && !gone; i++) {
      try {
        if ((await fetch(`${proc.url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) return proc;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    child.kill('SIGKILL');
    throw new Error(`${app} did not become healthy: ${proc.output.slice(-2000)}`);
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The JSON log lines written so far. */
  logLines(): Record<string, unknown>[] {
    return this.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Opens a keep-alive connection that stays idle: it must not hold the shutdown up. */
export async function idleKeepAlive(url: string): Promise<void> {
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    request(`${url}/healthz`, { agent }, (res) => {
      res.resume();
      res.once('end', resolve);
    })
      .once('error', reject)
      .end();
  });
}

