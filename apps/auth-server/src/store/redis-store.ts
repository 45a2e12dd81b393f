import { hash } from 'node:crypto';
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from '@tessera/service-kit';
import { StoreUnavailableError } from '../errors.js';
import { clientSlotTag, familySlotTag } from '../tokens/refresh-token-format.js';
import { CHARGE_RATE_LIMITS, CREATE_FAMILY, MAX_COUNTERS, DELETE_CLIENT, DELETE_FAMILIES, FIND_REFRESH_TOKEN, PUT_CLIENT, REVOKE_FAMILY, ROTATE, SAVE_KEYSET, USE_ONCE } from './redis-scripts.js';
import { coalesceWrites } from './write-coalescing.js';
import type {
  ClientPage,
  ClientRecord,
  Clock,
  CreateFamilyResult,
  Family,
  Keyset,
  OnceKind,
  RateLimitCharge,
  RateLimitCount,
  RateLimitOutcome,
  RefreshPolicy,
  RefreshTokenState,
  RotateInput,
  RotateResult,
  Store,
} from './store.js';

type ScriptResult = (string | null)[] | null;
/** What a script behind a rate-limit charge returns: {refused (1|0), flat counts, the script's own result} */
type Charged<T> = [number, (number | string)[], T?];

interface Scripted {
  /** KEYS: the family, the index and MAX_COUNTERS counters */
  tesseraCreateFamily(...keysAndArgs: (string | number)[]): Promise<Charged<string[]>>;
  tesseraRevokeFamily(family: string, familyId: string, indexPrefix: string): Promise<number>;
  tesseraDeleteFamilies(index: string, familyPrefix: string): Promise<number>;
  /** KEYS: the family and MAX_COUNTERS counters */
  tesseraRotate(...keysAndArgs: (string | number)[]): Promise<Charged<ScriptResult>>;
  tesseraFindRefreshToken(family: string, hash: string): Promise<ScriptResult>;
  tesseraSaveKeyset(keyset: string, ...args: (string | number)[]): Promise<number>;
  tesseraPutClient(client: string, index: string, ...args: (string | number)[]): Promise<number>;
  tesseraDeleteClient(client: string, index: string, clientId: string): Promise<number>;
  tesseraUseOnce(record: string, expiresAt: number, now: number): Promise<number>;
  /** KEYS: MAX_COUNTERS counters */
  tesseraChargeRateLimits(...keysAndArgs: (string | number)[]): Promise<Charged<never>>;
}

export type RedisConnection = (Redis | Cluster) & Scripted & {
  /** set by RedisStore.close(): the connection is being closed on purpose */
  tesseraClosing?: boolean;
};

export interface RedisConnectionOptions {
  url?: string | undefined;
  clusterNodes?: { host: string; port: number }[] | undefined;
  /** Redis Sentinel addresses: the connection goes to the master they name `sentinelName` and follows failovers */
  sentinels?: { host: string; port: number }[] | undefined;
  /** the master name the sentinels monitor ('mymaster' by default) */
  sentinelName?: string | undefined;
  /** ms a command may take before it fails */
  commandTimeout?: number;
  /** told once when the connection fails and once when it is back (ioredis retries by itself) */
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
}

/** ms between two CLUSTER SLOTS of a Cluster connection */
export const CLUSTER_SLOTS_REFRESH_INTERVAL = 2000;

/** Opens a Redis (or Redis Cluster) connection with the store's scripts defined on it. */
export function connectRedis(options: RedisConnectionOptions): RedisConnection {
  const common: RedisOptions = {
    commandTimeout: options.commandTimeout ?? 2000,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  };
  let connected = false;
  const connection = options.clusterNodes
    ? new Cluster(options.clusterNodes, {
        redisOptions: common,
        lazyConnect: true,
        // A hung master (stopped VM, long pause) produces only timeouts, never MOVED or a closed connection:
        // asking for the slot map now and then (and at once after a timeout, see RedisStore) follows its
        // replica's promotion without waiting for the old node to die.
        slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_INTERVAL,
        slotsRefreshTimeout: 1000,
      })
    : options.sentinels
      ? new Redis({
          ...common,
          sentinels: options.sentinels,
          name: options.sentinelName ?? 'mymaster',
          // reconnect when a sentinel announces +switch-master, even to a master that hangs rather than
          // closing the connection; a connection that does not close is dropped after disconnectTimeout
          failoverDetector: true,
          disconnectTimeout: 500,
          // at start, give up after about 2 s when no sentinel answers (connect() fails); once connected, keep asking
          sentinelRetryStrategy: (attempt) => (connected || attempt <= 5 ? Math.min(attempt * 100, 1000) : null),
        })
      : new Redis(options.url ?? 'redis://127.0.0.1:6379', common);
  // concurrent requests' commands share one write (and one read in Redis); see coalesceWrites
  if (connection instanceof Cluster) connection.on('+node', (node: Redis) => coalesceWrites(node));
  else coalesceWrites(connection);
  let down = false;
  connection.on('ready', () => (connected = true));
  connection.on('error', (error: Error) => {
    if (down) return;
    down = true;
    options.logger?.warn({ event: 'store_unreachable', err: { message: error.message } }, 'redis connection failed; retrying');
  });
  connection.on('ready', () => {
    if (!down) return;
    down = false;
    options.logger?.info({ event: 'store_reconnected' }, 'redis connection restored');
  });
  if (options.sentinels) {
    // ioredis ends a Sentinel connection for good when the failover detector drops it while it is
    // resolving the master; unless we are closing, start connecting again
    connection.on('end', () => {
      if ((connection as RedisConnection).tesseraClosing || !connected) return;
      options.logger?.warn({ event: 'store_connection_ended' }, 'redis connection ended; connecting again');
      setTimeout(() => void connection.connect().catch(() => undefined), 100).unref();
    });
  }
  connection.defineCommand('tesseraCreateFamily', { numberOfKeys: 2 + MAX_COUNTERS, lua: CREATE_FAMILY });
  connection.defineCommand('tesseraRevokeFamily', { numberOfKeys: 1, lua: REVOKE_FAMILY });
  connection.defineCommand('tesseraDeleteFamilies', { numberOfKeys: 1, lua: DELETE_FAMILIES });
  connection.defineCommand('tesseraRotate', { numberOfKeys: 1 + MAX_COUNTERS, lua: ROTATE });
  connection.defineCommand('tesseraFindRefreshToken', { numberOfKeys: 1, lua: FIND_REFRESH_TOKEN });
  connection.defineCommand('tesseraSaveKeyset', { numberOfKeys: 1, lua: SAVE_KEYSET });
  connection.defineCommand('tesseraPutClient', { numberOfKeys: 2, lua: PUT_CLIENT });
  connection.defineCommand('tesseraDeleteClient', { numberOfKeys: 2, lua: DELETE_CLIENT });
  connection.defineCommand('tesseraUseOnce', { numberOfKeys: 1, lua: USE_ONCE });
  connection.defineCommand('tesseraChargeRateLimits', { numberOfKeys: MAX_COUNTERS, lua: CHARGE_RATE_LIMITS });
  return connection as RedisConnection;
}

function outcomeOf([refused, flat]: Charged<unknown>): RateLimitOutcome {
  const counts: RateLimitCount[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) counts.push({ hits: Number(flat[i]), resetAt: Number(flat[i + 1]) });
  return { counts, refused: refused === 1 };
}

const toFamily = (id: string, r: (string | null)[], offset = 1, jkt: string | null | undefined = r[offset + 5]): Family => ({
  id,
  client_id: r[offset]!,
  scope: r[offset + 1]!,
  aud: r[offset + 2]!,
  created_at: Number(r[offset + 3]),
  public: r[offset + 4] === '1',
  ...(jkt ? { jkt } : {}),
});

export interface RedisStoreOptions {
  /**
   * Replicas that must acknowledge a rotation, a revocation or a client deletion (Redis WAIT) before it
   * answers; 0 (the default) does not wait. A write that fewer replicas acknowledged in time still
   * answers success: it is logged (`redis_write_under_replicated`) and reported to `onUnderReplicated`.
   */
  waitReplicas?: number;
  /** ms WAIT may take at most; half of it is used, so the reply comes well within the command timeout (2000) */
  waitTimeout?: number;
  logger?: Pick<Logger, 'warn'> | undefined;
  onUnderReplicated?: (operation: string) => void;
}

type Pipelined = Scripted & { wait(replicas: number, timeout: number): unknown; exec(): Promise<[Error | null, unknown][] | null> };

/** The Redis store: keys under `prefix`, each multi-key step one script within one hash tag. */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisConnection,
    /** every key of the store (rate-limit counters included) starts with it */
    readonly prefix = 'tessera:',
    private readonly clock: Clock = Date.now,
    private readonly options: RedisStoreOptions = {},
  ) {}

  /**
   * Runs one script and, with `waitReplicas`, a WAIT right behind it on the same connection (a pipeline:
   * on a Cluster it goes to the node of the script's keys), so the answer waits for the replicas.
   */
  async #replicated<T>(operation: string, script: (target: Scripted) => Promise<T>): Promise<T> {
    const replicas = this.options.waitReplicas ?? 0;
    if (replicas === 0) return script(this.redis);
    const pipeline = this.redis.pipeline() as unknown as Pipelined;
    void script(pipeline);
    pipeline.wait(replicas, Math.max(1, Math.floor((this.options.waitTimeout ?? 2000) / 2)));
    const [[error, result], [waitError, acked]] = (await pipeline.exec()) as [[Error | null, T], [Error | null, number]];
    if (error) throw error;
    if (waitError || acked < replicas) {
      this.options.logger?.warn(
        { event: 'redis_write_under_replicated', operation, replicas_wanted: replicas, replicas_acked: waitError ? 0 : acked },
        'a write was acknowledged by fewer replicas than REDIS_WAIT_REPLICAS in time; a failover now could lose it',
      );
      this.options.onUnderReplicated?.(operation);
    }
    return result;
  }

  #client = (id: string) => `${this.prefix}{clients}:${id}`;
  #clientIndex = () => `${this.prefix}{clients}:index`;
  /** a client's families share its slot tag (see clientSlotTag) with its family index, a sorted set by start time */
  #clientFamiliesPrefix = (tag: string) => `${this.prefix}client-families:{${tag}}:`;
  #clientFamilies = (clientId: string) => this.#clientFamiliesPrefix(clientSlotTag(clientId)) + clientId;
  #familyPrefix = (tag: string) => `${this.prefix}family:{${tag}}:`;
  #family = (id: string) => this.#familyPrefix(familySlotTag(id)) + id;
  #denied = (jti: string) => `${this.prefix}denied-jti:{${jti}}`;
  #keyset = () => `${this.prefix}keyset`;
  #lease = (name: string) => `${this.prefix}lease:${name}`;
  #once = (kind: OnceKind, id: string) => `${this.prefix}once:${kind}:${hash('sha256', id, 'base64url')}`;
  /** a client's counters share its slot tag with its families, so a grant's script can charge them */
  #rateLimit = (tag: string, clientId: string, key: string) => `${this.prefix}rate-limit:{${tag}}:${key}|${clientId}`;

  /**
   * The KEYS and ARGV tail of a charge for a script whose keys carry slot tag `tag`, or, for a client
   * of another tag (another Cluster slot), none: `separate` then says the charge must be made on its own first.
   */
  #charge(charge: RateLimitCharge | undefined, tag: string, tagClientId?: string): { keys: string[]; args: number[]; separate: RateLimitCharge | undefined } {
    const unused = `${this.prefix}rate-limit:{${tag}}:unused`;
    const none = { keys: Array<string>(MAX_COUNTERS).fill(unused), args: [this.clock(), 0], separate: undefined };
    if (!charge || charge.counters.length === 0) return none;
    if (charge.counters.length > MAX_COUNTERS) throw new TypeError(`a rate-limit charge has at most ${MAX_COUNTERS} counters`);
    if (charge.clientId !== tagClientId && clientSlotTag(charge.clientId) !== tag) return { ...none, separate: charge };
    const keys = charge.counters.map((c) => this.#rateLimit(tag, charge.clientId, c.key));
    while (keys.length < MAX_COUNTERS) keys.push(unused);
    return { keys, args: [this.clock(), charge.counters.length, ...charge.counters.flatMap((c) => [c.delta, c.windowMs, c.refuseAt])], separate: undefined };
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (this.redis instanceof Cluster && /timed out/i.test((error as Error).message)) this.redis.refreshSlotsCache();
      throw new StoreUnavailableError(`redis: ${(error as Error).message}`, { cause: error });
    }
  }

  putClient(client: ClientRecord): Promise<void> {
    return this.#run(async () => {
      await this.redis.tesseraPutClient(this.#client(client.client_id), this.#clientIndex(), client.client_id, client.created_at, JSON.stringify(client));
    });
  }

  getClient(clientId: string): Promise<ClientRecord | undefined> {
    return this.#run(async () => {
      const json = await this.redis.get(this.#client(clientId));
      return json ? (JSON.parse(json) as ClientRecord) : undefined;
    });
  }

  listClients(cursor: string | undefined, limit: number): Promise<ClientPage> {
    return this.#run(async () => {
      const start = Number(cursor ?? 0);
      const ids = await this.redis.zrange(this.#clientIndex(), start, start + limit);
      const page = ids.slice(0, limit);
      const json = page.length ? await this.redis.mget(page.map((id) => this.#client(id))) : [];
      const clients = json.filter((j): j is string => j !== null).map((j) => JSON.parse(j) as ClientRecord);
      return { clients, next_cursor: ids.length > limit ? String(start + limit) : undefined };
    });
  }

  deleteClient(clientId: string): Promise<boolean> {
    return this.#run(async () => {
      const deleted = await this.#replicated('delete_client', (r) => r.tesseraDeleteClient(this.#client(clientId), this.#clientIndex(), clientId));
      await this.#replicated('delete_client', (r) => r.tesseraDeleteFamilies(this.#clientFamilies(clientId), this.#familyPrefix(clientSlotTag(clientId))));
      return deleted === 1;
    });
  }

  createFamily(family: Family, tokenHash: string, policy: RefreshPolicy, charge?: RateLimitCharge): Promise<CreateFamilyResult> {
    return this.#run(async () => {
      const tag = clientSlotTag(family.client_id);
      if (familySlotTag(family.id) !== tag) throw new TypeError('family.id must come from newFamilyId(family.client_id)');
      const counters = this.#charge(charge, tag, family.client_id);
      const early = counters.separate && (await this.chargeRateLimits(counters.separate));
      if (early?.refused) return { evicted: [], charged: early };
      const now = this.clock();
      const expiresAt = Math.min(now + policy.idleTtl, family.created_at + policy.maxAge);
      const reply = await this.redis.tesseraCreateFamily(
        this.#family(family.id),
        this.#clientFamiliesPrefix(tag) + family.client_id,
        ...counters.keys,
        family.client_id,
        family.scope,
        family.aud,
        family.created_at,
        family.public ? '1' : '0',
        tokenHash,
        now,
        Math.max(1, expiresAt - now),
        family.jkt ?? '',
        family.id,
        policy.maxFamiliesPerClient ?? 0,
        now - policy.maxAge,
        policy.maxAge,
        this.#familyPrefix(tag),
        ...counters.args,
      );
      const charged = charge ? (early ?? outcomeOf(reply)) : undefined;
      return { evicted: reply[2] ?? [], charged };
    });
  }

  rotate(input: RotateInput): Promise<RotateResult> {
    return this.#run(async () => {
      const { policy } = input;
      const tag = familySlotTag(input.familyId);
      const counters = this.#charge(input.charge, tag);
      const early = counters.separate && (await this.chargeRateLimits(counters.separate));
      if (early?.refused) return { status: 'rate_limited', charged: early };
      const reply = await this.#replicated('rotate', (redis) => redis.tesseraRotate(
        this.#family(input.familyId),
        ...counters.keys,
        input.presentedHash,
        input.nextHash,
        input.clientId ?? '',
        input.scope ?? '',
        this.clock(),
        policy.idleTtl,
        policy.maxAge,
        policy.grace,
        input.jkt ?? '',
        this.#clientFamiliesPrefix(tag),
        input.familyId,
        ...counters.args,
      ));
      const charged = input.charge ? (early ?? outcomeOf(reply)) : undefined;
      const r = reply[2];
      const status = charged?.refused ? 'rate_limited' : r?.[0];
      if (status === 'rotated' || status === 'reused') return { status, family: toFamily(input.familyId, r!), charged };
      if (status === 'invalid_scope' || status === 'client_auth_required' || status === 'dpop_key_mismatch' || status === 'rate_limited') return { status, charged };
      return { status: 'invalid', charged };
    });
  }

  findRefreshToken(familyId: string, tokenHash: string, policy: RefreshPolicy): Promise<RefreshTokenState> {
    return this.#run(async () => {
      const r = await this.redis.tesseraFindRefreshToken(this.#family(familyId), tokenHash);
      if (!r) return undefined;
      const family = toFamily(familyId, r, 1, r[7]);
      const expiresAt = Math.min(Number(r[6]) + policy.idleTtl, family.created_at + policy.maxAge);
      const now = this.clock();
      if (now >= family.created_at + policy.maxAge || (r[0] === 'current' && now >= expiresAt)) return undefined;
      return { family, state: r[0] === 'current' ? 'current' : 'spent', expires_at: expiresAt };
    });
  }

  revokeFamily(familyId: string): Promise<boolean> {
    return this.#run(
      async () =>
        (await this.#replicated('revoke_family', (r) =>
          r.tesseraRevokeFamily(this.#family(familyId), familyId, this.#clientFamiliesPrefix(familySlotTag(familyId))),
        )) === 1,
    );
  }

  revokeAllFamilies(): Promise<number> {
    return this.#run(async () => {
      const nodes: Redis[] = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis as Redis];
      let revoked = 0;
      for (const node of nodes) {
        for (const pattern of [`${this.prefix}family:*`, `${this.prefix}client-families:*`]) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
            cursor = next;
            await Promise.all(keys.map((key) => node.unlink(key)));
            if (pattern.endsWith('family:*')) revoked += keys.length;
          } while (cursor !== '0');
        }
      }
      return revoked;
    });
  }

  denyAccessToken(jti: string, expiresAt: number): Promise<void> {
    return this.#run(async () => {
      if (expiresAt > this.clock()) await this.redis.set(this.#denied(jti), String(expiresAt), 'PXAT', expiresAt);
    });
  }

  isAccessTokenDenied(jti: string): Promise<boolean> {
    // the value is the expiry, checked against the injected clock (Redis's own expiry only cleans up)
    return this.#run(async () => Number((await this.redis.get(this.#denied(jti))) ?? 0) > this.clock());
  }

  useOnce(kind: OnceKind, id: string, expiresAt: number): Promise<boolean> {
    return this.#run(async () => {
      if (expiresAt <= this.clock()) return false;
      return (await this.redis.tesseraUseOnce(this.#once(kind, id), expiresAt, this.clock())) === 1;
    });
  }

  getKeyset(): Promise<Keyset> {
    return this.#run(async () => {
      const [version, data] = await this.redis.hmget(this.#keyset(), 'version', 'data');
      return { version: Number(version ?? 0), keys: data ? (JSON.parse(data) as Keyset['keys']) : [] };
    });
  }

  saveKeyset(keyset: Keyset, expectedVersion: number): Promise<boolean> {
    return this.#run(
      async () => (await this.redis.tesseraSaveKeyset(this.#keyset(), expectedVersion, keyset.version, JSON.stringify(keyset.keys))) === 1,
    );
  }

  chargeRateLimits(charge: RateLimitCharge): Promise<RateLimitOutcome> {
    return this.#run(async () => {
      const { keys, args } = this.#charge(charge, clientSlotTag(charge.clientId), charge.clientId);
      return outcomeOf(await this.redis.tesseraChargeRateLimits(...keys, ...args));
    });
  }

  acquireLease(name: string, holder: string, ttl: number): Promise<boolean> {
    return this.#run(async () => (await this.redis.set(this.#lease(name), holder, 'PX', ttl, 'NX')) === 'OK');
  }

  ping(): Promise<void> {
    return this.#run(async () => {
      await this.redis.ping();
    });
  }

  async close(): Promise<void> {
    this.redis.tesseraClosing = true;
    await this.redis.quit().catch(() => undefined);
    // also ends what quit leaves open: the Sentinel failover detector's subscriptions
    this.redis.disconnect();
  }
}
