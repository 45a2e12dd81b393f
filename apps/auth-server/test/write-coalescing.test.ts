import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisClusterNodes } from '../../../test/support/redis.js';
import { RedisServer } from '../../../test/support/redis-server.js';
import { connectRedis, type RedisConnection } from '../src/store/redis-store.js';
import { MAX_CORKED_BYTES } from '../src/store/write-coalescing.js';

/** Redis's own count of socket reads: how many reads it needed for what the connection sent. */
async function readsProcessed(redis: RedisConnection): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_reads_processed:(\d+)/.exec(info)![1]);
}

describe('Redis write coalescing (connectRedis)', () => {
  let server: RedisServer;
  let redis: RedisConnection;
  let observer: RedisConnection;

  beforeAll(async () => {
    // a private redis-server: its read count is this test's alone
    server = await RedisServer.start();
    redis = connectRedis({ url: server.url });
    observer = connectRedis({ url: server.url });
    await Promise.all([redis.connect(), observer.connect()]);
  });

  afterAll(async () => {
    redis.disconnect();
    observer.disconnect();
    await server.stop();
  });

  it('sends the commands of one event-loop turn in one write, in order, each answered', async () => {
    await redis.ping();
    const before = await readsProcessed(observer);
    const replies = await Promise.all(Array.from({ length: 200 }, () => redis.incr('coalescing:counter')));
    const reads = (await readsProcessed(observer)) - before - 1; // the INFO command's own read
    expect(replies).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // without coalescing every command is its own socket write, and Redis reads most of them one by one
    expect(reads).toBeLessThanOrEqual(2);
  });

  it('a turn larger than one write goes out in pieces, in order, each answered', async () => {
    const value = 'v'.repeat(1024);
    const keys = Array.from({ length: 300 }, (_, i) => `coalescing:big:${i}`);
    // about 320 KiB in one turn: many times MAX_CORKED_BYTES
    const pending = keys.flatMap((key, i) => [redis.set(key, `${i}:${value}`), redis.get(key)]);
    // still in the turn: all but the last piece has been handed to the socket already
    expect((redis as Redis).stream.writableLength).toBeLessThan(MAX_CORKED_BYTES + 2 * value.length);
    const replies = await Promise.all(pending);
    expect(replies).toEqual(keys.flatMap((_, i) => ['OK', `${i}:${value}`]));
    await redis.del(...keys);
  });

  it('commands sent before the connection is ready wait for it and are answered', async () => {
    const late = connectRedis({ url: server.url });
    try {
      const replies = await Promise.all([late.set('coalescing:late', 'v'), late.get('coalescing:late'), late.del('coalescing:late')]);
      expect(replies).toEqual(['OK', 'v', 1]);
    } finally {
      late.disconnect();
    }
  });

  it('later turns are not held back by an earlier one', async () => {
    for (let turn = 0; turn < 5; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      expect(await redis.get('coalescing:counter')).toBe('200');
    }
  });
});

describe.runIf(redisClusterNodes().length > 0)('Redis write coalescing on a Cluster (connectRedis)', () => {
  it('holds the commands of one turn on the node connection until the turn ends, then answers each', async () => {
    const cluster = connectRedis({ clusterNodes: redisClusterNodes() }) as Cluster;
    try {
      await cluster.connect();
      const tag = `{coalescing-${Date.now()}}`;
      await cluster.set(`${tag}:k`, 'v'); // the slot's node connection is ready
      const pending = Array.from({ length: 50 }, () => cluster.get(`${tag}:k`));
      // every node connection came through '+node': the turn's commands wait corked on one of them
      const held = cluster.nodes('master').reduce((bytes, node) => bytes + (node.stream?.writableLength ?? 0), 0);
      expect(held).toBeGreaterThan(0);
      expect(await Promise.all(pending)).toEqual(Array.from({ length: 50 }, () => 'v'));
      await cluster.del(`${tag}:k`);
    } finally {
      cluster.disconnect();
    }
  });
});
