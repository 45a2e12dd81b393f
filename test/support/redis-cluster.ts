import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { RedisServer } from './redis-server.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if (taken.has(port) || taken.has(port + 10000)) continue;
    if ((await canListen(port)) && (await canListen(port + 10000))) {
      taken.add(port).add(port + 10000);
      return port;
    }
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

export interface RedisClusterOptions {
  /** replicas per master (0 by default) */
  replicas?: number;
  /** `cluster-node-timeout` in ms (5000 by default); failover starts about this long after a master stops answering */
  nodeTimeout?: number;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** the master's id, for a replica */
  masterId: string | undefined;
  failed: boolean;
  /** slot ranges, for a master */
  slots: [number, number][];
}

/**
 * A throwaway Redis Cluster on loopback: three masters, optionally with replicas
 * (`cluster-require-full-coverage no`: the other masters keep serving while one is down). No persistence.
 */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** The cluster's view of its nodes, asked of the first node that answers and is not in `skip` (ports). */
  async topology(skip: number[] = []): Promise<ClusterNodeInfo[]> {
    for (const node of this.nodes.filter((n) => !skip.includes(n.port))) {
      try {
        const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'nodes'], { timeout: 500 });
        return stdout
          .trim()
          .split('\n')
          .map((line) => {
            const [id, address, flags, master, , , , , ...slots] = line.split(' ');
            return {
              id: id!,
              port: Number(address!.split('@')[0]!.split(':')[1]),
              role: flags!.includes('master') ? ('master' as const) : ('replica' as const),
              masterId: master === '-' ? undefined : master,
              failed: /fail(?!\?)/.test(flags!),
              slots: slots.filter((s) => /^\d/.test(s)).map((s) => s.split('-').map(Number) as [number, number]).map(([a, b]) => [a, b ?? a]),
            };
          });
      } catch {
        // hung or down: ask the next one
      }
    }
    throw new Error('no cluster node answers CLUSTER NODES');
  }

  /** The hash slot of `key`. */
  async keySlot(key: string): Promise<number> {
    const { stdout } = await run('redis-cli', ['-p', String(this.nodes[0]!.port), 'cluster', 'keyslot', key], { timeout: 2000 });
    return Number(stdout.trim());
  }

  /** The server process of a node port. */
  server(port: number): RedisServer {
    const server = this.nodes.find((n) => n.port === port);
    if (!server) throw new Error(`no cluster node on port ${port}`);
    return server;
  }

  /** `host:port,host:port,…`, the format of REDIS_CLUSTER_NODES */
  get spec(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Starts the cluster-enabled redis-server processes, joins them and waits until the cluster is ok (30 s at most). */
  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const replicas = options.replicas ?? 0;
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < 3 * (1 + replicas); i++) ports.push(await clusterPort(taken));
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    try {
      for (const port of ports) {
        nodes.push(
          await RedisServer.start({
            port,
            args: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              String(options.nodeTimeout ?? 5000),
              '--cluster-require-full-coverage',
              'no',
              '--appendonly',
              'no',
              '--repl-diskless-sync-delay',
              '0',
            ],
          }),
        );
      }
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
        timeout: 20_000,
      });
      for (let i = 0; i < 300; i++) {
        const states = await Promise.all(ports.map((p) => run('redis-cli', ['-p', String(p), 'cluster', 'info']).then((r) => r.stdout)));
        if (states.every((s) => s.includes('cluster_state:ok'))) {
          if (replicas === 0) return cluster;
          const roles = await Promise.all(ports.map((p) => run('redis-cli', ['-p', String(p), 'role']).then((r) => r.stdout)));
          const synced = roles.filter((r) => r.startsWith('slave') && r.includes('\nconnected\n')).length;
          if (synced === 3 * replicas) return cluster;
        }
        await sleep(100);
      }
      throw new Error('the Redis Cluster did not reach cluster_state:ok within 30 s');
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
