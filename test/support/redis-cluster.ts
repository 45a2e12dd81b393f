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

/** A throwaway Redis Cluster of three masters on loopback (no replicas, no persistence). */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** `host:port,host:port,…`, the format of REDIS_CLUSTER_NODES */
  get spec(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Starts three cluster-enabled redis-server processes, joins them and waits until the cluster is ok (30 s at most). */
  static async start(): Promise<RedisCluster> {
    const taken = new Set<number>();
    const ports = [await clusterPort(taken), await clusterPort(taken), await clusterPort(taken)];
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    try {
      for (const port of ports) {
        nodes.push(
          await RedisServer.start({
            port,
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000', '--appendonly', 'no'],
          }),
        );
      }
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 20_000,
      });
      for (let i = 0; i < 300; i++) {
        const states = await Promise.all(ports.map((p) => run('redis-cli', ['-p', String(p), 'cluster', 'info']).then((r) => r.stdout)));
        if (states.every((s) => s.includes('cluster_state:ok'))) return cluster;
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
