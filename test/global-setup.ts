import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { RedisCluster } from './support/redis-cluster.js';
import { RedisServer, pingRedis } from './support/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** `host:port,…` of a Redis Cluster, or '' when none is available (see harness STORE_KINDS) */
    redisClusterNodes: string;
  }
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds Redis at REDIS_URL (default redis://127.0.0.1:6379) or starts a throwaway redis-server, and
 * starts a three-master Redis Cluster on loopback unless REDIS_CLUSTER_NODES names one
 * (TESSERA_TEST_CLUSTER=0 skips it). Tears down what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const configured = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const { hostname, port } = new URL(configured);
  const canStart = hasRedisServer();
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  let url = configured;
  if (!(await pingRedis(Number(port || 6379), hostname.replace(/^\[|\]$/g, ''), 1000))) {
    if (!canStart) {
      throw new Error(
        `No Redis answers at ${configured} and no redis-server could be started: install Redis (apt-get install redis-server) and run "redis-server --daemonize yes", or set REDIS_URL.`,
      );
    }
    server = await RedisServer.start({ args: ['--appendonly', 'no'] });
    url = server.url;
  }
  let clusterNodes = process.env.REDIS_CLUSTER_NODES ?? '';
  if (!clusterNodes && canStart && process.env.TESSERA_TEST_CLUSTER !== '0') {
    cluster = await RedisCluster.start();
    clusterNodes = cluster.spec;
  }
  project.provide('redisUrl', url);
  project.provide('redisClusterNodes', clusterNodes);
  return async () => {
    await cluster?.stop();
    await server?.stop();
  };
}
