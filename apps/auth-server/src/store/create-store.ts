import type { Config } from '../config.js';
import type { Logger } from '@tessera/service-kit';
import { MemoryStore } from './memory-store.js';
import { RedisStore, connectRedis } from './redis-store.js';
import type { Clock, Store } from './store.js';

/** The store the configuration names: Redis (or Redis Cluster) when set, else the embedded memory store. */
export async function createStore(config: Config, clock: Clock = Date.now, logger?: Logger): Promise<Store> {
  if (!config.redisUrl && !config.redisClusterNodes) return new MemoryStore(clock);
  const redis = connectRedis({ url: config.redisUrl, clusterNodes: config.redisClusterNodes, commandTimeout: config.redisCommandTimeout, logger });
  await redis.connect().catch((error: unknown) => {
    redis.disconnect();
    throw error;
  });
  return new RedisStore(redis, config.redisPrefix, clock);
}
