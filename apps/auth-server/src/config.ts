import { ConfigError, configVar, loadEnv, type LogLevel } from '@tessera/service-kit';
import { z } from 'zod';

export { ConfigError };

export const SIGNING_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface Config {
  port: number;
  host: string;
  issuer: string;
  /** the collector's base URL: the OpenAPI `servers` of /collect and the only other origin /docs may call */
  collectorUrl: string;
  redisUrl: string | undefined;
  redisClusterNodes: { host: string; port: number }[] | undefined;
  /** Redis Sentinel addresses; the master is the one they name `redisSentinelName` */
  redisSentinels: { host: string; port: number }[] | undefined;
  redisSentinelName: string;
  /** replicas a rotation, a reuse revocation or a client deletion waits for (Redis WAIT) before answering; 0 = none */
  redisWaitReplicas: number;
  redisPrefix: string;
  signingAlg: SigningAlg;
  /** seconds */
  accessTokenTtl: number;
  /** seconds */
  refreshTokenTtl: number;
  /** seconds */
  refreshFamilyMaxAge: number;
  /** seconds */
  refreshReuseGrace: number;
  /** live refresh families per client; 0 = unbounded */
  maxFamiliesPerClient: number;
  keyEncryptionSecret: string | undefined;
  /** the secret keys may still be sealed under while KEY_ENCRYPTION_SECRET is being changed */
  keyEncryptionSecretPrevious: string | undefined;
  /** seconds; 0 = manual */
  keyRotationInterval: number;
  /** seconds */
  jwksMaxAge: number;
  /** seconds a retired key stays published beyond the longest access token it signed */
  keyRetirementMargin: number;
  adminClientId: string | undefined;
  adminClientSecret: string | undefined;
  adminPort: number | undefined;
  rateLimit: number;
  authFailureLimit: number;
  trustProxy: boolean | number | string;
  logLevel: LogLevel;
  production: boolean;
  /** ms */
  redisCommandTimeout: number;
  /** seconds a DPoP proof's iat may lie in the past */
  dpopProofMaxAge: number;
  /** `required`: token requests with a DPoP proof need a current server nonce */
  dpopNonce: 'off' | 'required';
}

const port = configVar.port();
const duration = (min = 0) => configVar.duration({ min });

const count = z
  .string()
  .refine((v) => /^\d{1,9}$/.test(v), 'a whole number (0 turns it off)')
  .transform(Number);

const httpUrl = configVar.httpUrl({ trimTrailingSlash: true });

const hostPorts = z
  .string()
  .refine((v) => v.split(',').every((n) => /^[^\s:,]+:\d{1,5}$/.test(n.trim())), 'host:port,host:port')
  .transform((v) =>
    v.split(',').map((n) => {
      const i = n.trim().lastIndexOf(':');
      return { host: n.trim().slice(0, i), port: Number(n.trim().slice(i + 1)) };
    }),
  );

const schema = {
  NODE_ENV: z.string().default('development'),
  PORT: port.default(4000),
  HOST: configVar.host().default('127.0.0.1'),
  ISSUER: httpUrl.default('http://localhost:4000'),
  COLLECTOR_URL: httpUrl.default('http://localhost:4001'),
  REDIS_URL: z
    .string()
    .refine((v) => /^rediss?:\/\//.test(v), 'a redis:// or rediss:// URL')
    .optional(),
  REDIS_CLUSTER_NODES: hostPorts.optional(),
  REDIS_SENTINELS: hostPorts.optional(),
  REDIS_SENTINEL_NAME: z.string().regex(/^[\w.-]{1,64}$/, 'a master name: letters, digits and _ . - (at most 64)').default('mymaster'),
  REDIS_WAIT_REPLICAS: count.default(0),
  REDIS_PREFIX: z.string().regex(/^[\w:.-]{1,64}$/, 'letters, digits and _ : . - (at most 64)').default('tessera:'),
  REDIS_COMMAND_TIMEOUT: duration(1).default(2),
  SIGNING_ALG: z.enum(SIGNING_ALGS, { message: SIGNING_ALGS.join(', ') }).default('ES256'),
  ACCESS_TOKEN_TTL: duration(1).default(900),
  REFRESH_TOKEN_TTL: duration(1).default(1209600),
  REFRESH_FAMILY_MAX_AGE: duration(1).default(2592000),
  REFRESH_REUSE_GRACE: duration().default(0),
  MAX_FAMILIES_PER_CLIENT: count.default(1000),
  KEY_ENCRYPTION_SECRET: z.string().min(32, 'a secret of at least 32 characters').optional(),
  KEY_ENCRYPTION_SECRET_PREVIOUS: z.string().min(32, 'a secret of at least 32 characters').optional(),
  KEY_ROTATION_INTERVAL: duration().default(0),
  JWKS_MAX_AGE: duration(0).default(300),
  KEY_RETIREMENT_MARGIN: duration(5).default(60),
  ADMIN_CLIENT_ID: z.string().regex(/^[\w.-]{1,128}$/, 'letters, digits and _ . - (at most 128)').optional(),
  ADMIN_CLIENT_SECRET: z.string().min(32, 'a secret of at least 32 characters').max(512).optional(),
  ADMIN_PORT: port.optional(),
  RATE_LIMIT: count.default(300),
  AUTH_FAILURE_LIMIT: count.default(10),
  TRUST_PROXY: configVar.trustProxy().default(false),
  DPOP_PROOF_MAX_AGE: configVar.duration({ min: 1, max: 600 }).default(60),
  DPOP_NONCE: z.enum(['off', 'required'], { message: 'off or required' }).default('off'),
  LOG_LEVEL: configVar.logLevel().default('info'),
};

/** True when the configuration names a Redis (single node, Cluster or Sentinel), false for the embedded store. */
export const usesRedis = (config: Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisSentinels'>): boolean =>
  Boolean(config.redisUrl || config.redisClusterNodes || config.redisSentinels);

/** Reads and validates the auth server's environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = loadEnv(schema, env);
  const production = e.NODE_ENV === 'production';
  if (e.KEY_ENCRYPTION_SECRET_PREVIOUS && (!e.KEY_ENCRYPTION_SECRET || e.KEY_ENCRYPTION_SECRET === e.KEY_ENCRYPTION_SECRET_PREVIOUS)) {
    throw new ConfigError('KEY_ENCRYPTION_SECRET_PREVIOUS', 'needs a different KEY_ENCRYPTION_SECRET (the new secret)');
  }
  if (e.ADMIN_CLIENT_ID && !e.ADMIN_CLIENT_SECRET) throw new ConfigError('ADMIN_CLIENT_SECRET', 'required when ADMIN_CLIENT_ID is set');
  if (e.REDIS_SENTINELS && e.REDIS_CLUSTER_NODES) throw new ConfigError('REDIS_SENTINELS', 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both');
  if (e.REDIS_URL && e.REDIS_SENTINELS) throw new ConfigError('REDIS_URL', 'must not be set with REDIS_SENTINELS (the sentinels name the master)');
  if (production) {
    if (!e.KEY_ENCRYPTION_SECRET) throw new ConfigError('KEY_ENCRYPTION_SECRET', 'required when NODE_ENV=production');
    if (!e.REDIS_URL && !e.REDIS_CLUSTER_NODES && !e.REDIS_SENTINELS) {
      throw new ConfigError('REDIS_URL', 'required when NODE_ENV=production (the embedded store keeps nothing across restarts)');
    }
    if (!e.ADMIN_CLIENT_ID) throw new ConfigError('ADMIN_CLIENT_ID', 'required when NODE_ENV=production, with ADMIN_CLIENT_SECRET');
  }
  if (e.REFRESH_TOKEN_TTL > e.REFRESH_FAMILY_MAX_AGE) {
    throw new ConfigError('REFRESH_TOKEN_TTL', 'must not exceed REFRESH_FAMILY_MAX_AGE');
  }
  if (e.KEY_ROTATION_INTERVAL > 0 && e.KEY_ROTATION_INTERVAL < e.JWKS_MAX_AGE) {
    throw new ConfigError('KEY_ROTATION_INTERVAL', 'must be 0 (manual) or at least JWKS_MAX_AGE, so a next key is published long enough before it signs');
  }
  if (e.ADMIN_PORT !== undefined && e.ADMIN_PORT === e.PORT && e.PORT !== 0) {
    throw new ConfigError('ADMIN_PORT', 'must differ from PORT');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    issuer: e.ISSUER,
    collectorUrl: e.COLLECTOR_URL,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redisSentinels: e.REDIS_SENTINELS,
    redisSentinelName: e.REDIS_SENTINEL_NAME,
    redisWaitReplicas: e.REDIS_WAIT_REPLICAS,
    redisPrefix: e.REDIS_PREFIX,
    redisCommandTimeout: e.REDIS_COMMAND_TIMEOUT * 1000,
    signingAlg: e.SIGNING_ALG,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    refreshFamilyMaxAge: e.REFRESH_FAMILY_MAX_AGE,
    refreshReuseGrace: e.REFRESH_REUSE_GRACE,
    maxFamiliesPerClient: e.MAX_FAMILIES_PER_CLIENT,
    keyEncryptionSecret: e.KEY_ENCRYPTION_SECRET,
    keyEncryptionSecretPrevious: e.KEY_ENCRYPTION_SECRET_PREVIOUS,
    keyRotationInterval: e.KEY_ROTATION_INTERVAL,
    jwksMaxAge: e.JWKS_MAX_AGE,
    keyRetirementMargin: e.KEY_RETIREMENT_MARGIN,
    adminClientId: e.ADMIN_CLIENT_ID,
    adminClientSecret: e.ADMIN_CLIENT_SECRET,
    adminPort: e.ADMIN_PORT,
    rateLimit: e.RATE_LIMIT,
    authFailureLimit: e.AUTH_FAILURE_LIMIT,
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    production,
    dpopProofMaxAge: e.DPOP_PROOF_MAX_AGE,
    dpopNonce: e.DPOP_NONCE,
  };
}
