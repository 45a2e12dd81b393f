import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RedisServer, freePort } from './redis-server.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const SENTINEL_MASTER_NAME = 'tessera';

/**
 * A throwaway Redis Sentinel setup on loopback: one master, one replica and three sentinels
 * (quorum 2, down-after 1 s), config files in a temporary directory. No persistence.
 */
export class RedisSentinelSet {
  private constructor(
    readonly data: RedisServer[],
    readonly sentinels: RedisServer[],
    private readonly dir: string,
  ) {}

  /** `host:port,…` of the sentinels, the format of REDIS_SENTINELS */
  get spec(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  static async start(): Promise<RedisSentinelSet> {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sentinel-'));
    const set = new RedisSentinelSet([], [], dir);
    try {
      const master = await RedisServer.start({ args: ['--appendonly', 'no', '--repl-diskless-sync-delay', '0'] });
      set.data.push(master);
      set.data.push(await RedisServer.start({ args: ['--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(master.port)] }));
      await set.#waitFor(async () => (await set.role(set.data[1]!.port)).startsWith('slave\n127.0.0.1') && (await set.role(set.data[1]!.port)).includes('\nconnected\n'));
      for (let i = 0; i < 3; i++) {
        const port = await freePort();
        const sentinelDir = mkdtempSync(join(dir, `sentinel-${i}-`));
        const configFile = join(sentinelDir, 'sentinel.conf');
        writeFileSync(
          configFile,
          [
            `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${master.port} 2`,
            `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} 1000`,
            `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 1500`,
            `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        set.sentinels.push(await RedisServer.start({ port, dir: sentinelDir, configFile, sentinel: true }));
      }
      // every sentinel knows the replica and the other sentinels
      await set.#waitFor(async () => {
        const views = await Promise.all(set.sentinels.map((s) => set.#cli(s.port, 'sentinel', 'master', SENTINEL_MASTER_NAME)));
        return views.every((v) => /\nnum-slaves\n1\n/.test(v) && /\nnum-other-sentinels\n2\n/.test(v));
      });
      return set;
    } catch (error) {
      await set.stop();
      throw error;
    }
  }

  /** The port of the data node the sentinels now call master. */
  async masterPort(): Promise<number> {
    for (const s of this.sentinels) {
      try {
        const out = await this.#cli(s.port, 'sentinel', 'get-master-addr-by-name', SENTINEL_MASTER_NAME);
        return Number(out.trim().split('\n')[1]);
      } catch {
        // try the next sentinel
      }
    }
    throw new Error('no sentinel answers');
  }

  server(port: number): RedisServer {
    const server = this.data.find((n) => n.port === port);
    if (!server) throw new Error(`no data node on port ${port}`);
    return server;
  }

  /** ROLE of a data node, as redis-cli prints it. */
  role(port: number): Promise<string> {
    return this.#cli(port, 'role');
  }

  /** Resolves with the time a sentinel first names a master other than `port` (20 s at most). */
  async promotion(port: number): Promise<number> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if ((await this.masterPort()) !== port) return Date.now();
      await sleep(100);
    }
    throw new Error(`the sentinels did not fail over from ${port} within 20 s`);
  }

  /** Waits until every data node but the master is a connected replica of it (20 s at most). */
  async synced(): Promise<void> {
    const master = await this.masterPort();
    await this.#waitFor(async () => {
      for (const node of this.data.filter((n) => n.port !== master)) {
        const role = await this.role(node.port).catch(() => '');
        if (!role.startsWith(`slave\n127.0.0.1\n${master}\nconnected\n`)) return false;
      }
      return true;
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.data].map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  #cli(port: number, ...args: string[]): Promise<string> {
    return run('redis-cli', ['-p', String(port), ...args], { timeout: 1000 }).then((r) => r.stdout);
  }

  async #waitFor(ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ok().catch(() => false)) return;
      await sleep(100);
    }
    throw new Error('the Redis Sentinel setup did not settle within 20 s');
  }
}
