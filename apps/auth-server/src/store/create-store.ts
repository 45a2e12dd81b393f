import { usesRedis, type Config } from '../config.js';
import type { Logger } from '@tessera/service-kit';
import { MemoryStore } from './memory-store.js';
import { RedisStore, connectRedis } from './redis-store.js';
import type { Clock, Store } from './store.js';

/** The store the configuration names: Redis (single node, Cluster or Sentinel) when set, else the embedded memory store. */
export async function createStore(
  config: Config,
  clock: Clock = Date.now,
  logger?: Logger,
  /** told of every write fewer than REDIS_WAIT_REPLICAS replicas acknowledged in time */
  onUnderReplicated?: (operation: string) => void,
): Promise<Store> {
  if (!usesRedis(config)) return new MemoryStore(clock);
  const redis = connectRedis({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    sentinels: config.redisSentinels,
    sentinelName: config.redisSentinelName,
    commandTimeout: config.redisCommandTimeout,
    logger,
  });
  await redis.connect().catch((error: unknown) => {
    redis.disconnect();
    throw error;
  });
  return new RedisStore(redis, config.redisPrefix, clock, { waitReplicas: config.redisWaitReplicas, waitTimeout: config.redisCommandTimeout, logger, onUnderReplicated });
}
