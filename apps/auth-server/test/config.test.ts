import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 4000,
      host: '127.0.0.1',
      issuer: 'http://localhost:4000',
      collectorUrl: 'http://localhost:4001',
      redisUrl: undefined,
      redisPrefix: 'tessera:',
      signingAlg: 'ES256',
      accessTokenTtl: 900,
      refreshTokenTtl: 14 * 86400,
      refreshFamilyMaxAge: 30 * 86400,
      refreshReuseGrace: 0,
      maxFamiliesPerClient: 1000,
      redisSentinels: undefined,
      redisSentinelName: 'mymaster',
      redisWaitReplicas: 0,
      keyRotationInterval: 0,
      adminPort: undefined,
      rateLimit: 300,
      authFailureLimit: 10,
      trustProxy: false,
      logLevel: 'info',
    });
  });

  it('takes durations in seconds or with a unit', () => {
    expect(loadConfig({ ACCESS_TOKEN_TTL: '600' }).accessTokenTtl).toBe(600);
    expect(loadConfig({ ACCESS_TOKEN_TTL: '15m' }).accessTokenTtl).toBe(900);
    expect(loadConfig({ REFRESH_TOKEN_TTL: '2d' }).refreshTokenTtl).toBe(172800);
  });

  it.each([
    ['PORT', 'abc'],
    ['ISSUER', 'not a url'],
    ['COLLECTOR_URL', 'localhost:4001'],
    ['REDIS_URL', 'http://x'],
    ['SIGNING_ALG', 'HS256'],
    ['ACCESS_TOKEN_TTL', '15 minutes'],
    ['ACCESS_TOKEN_TTL', '15 m'],
    ['TRUST_PROXY', 'yes'],
    ['RATE_LIMIT', '-1'],
    ['MAX_FAMILIES_PER_CLIENT', 'lots'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_CLUSTER_NODES', 'a,b'],
    ['REDIS_SENTINELS', 'sentinel-1'],
    ['REDIS_SENTINEL_NAME', 'my master'],
    ['REDIS_WAIT_REPLICAS', 'all'],
  ])('stops on a bad %s with one line naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: `));
  });

  it('takes Sentinel addresses, alone: not with REDIS_CLUSTER_NODES nor with REDIS_URL', () => {
    expect(loadConfig({ REDIS_SENTINELS: 's1:26379, s2:26380', REDIS_SENTINEL_NAME: 'tessera' })).toMatchObject({
      redisSentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      redisSentinelName: 'tessera',
    });
    expect(() => loadConfig({ REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: 'n1:7000' })).toThrow(/^REDIS_SENTINELS: /);
    expect(() => loadConfig({ REDIS_SENTINELS: 's1:26379', REDIS_URL: 'redis://r' })).toThrow(/^REDIS_URL: /);
    expect(
      loadConfig({ NODE_ENV: 'production', REDIS_SENTINELS: 's1:26379', KEY_ENCRYPTION_SECRET: 'k'.repeat(32), ADMIN_CLIENT_ID: 'a', ADMIN_CLIENT_SECRET: 'x'.repeat(32) })
        .redisSentinels,
    ).toHaveLength(1);
    expect(loadConfig({ REDIS_WAIT_REPLICAS: '1' }).redisWaitReplicas).toBe(1);
  });

  it('refuses production without a key encryption secret or with the embedded store', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', REDIS_URL: 'redis://r', ADMIN_CLIENT_ID: 'a', ADMIN_CLIENT_SECRET: 'x'.repeat(32) })).toThrow(
      /^KEY_ENCRYPTION_SECRET/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', KEY_ENCRYPTION_SECRET: 'k'.repeat(32) })).toThrow(/^REDIS_URL/);
  });
});
