import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { MemoryStore, ipKeyGenerator, rateLimit, type Options, type Store as LimitStore } from 'express-rate-limit';
import { RedisStore as RedisLimitStore, type RedisReply } from 'rate-limit-redis';
import type { AppDeps } from '../deps.js';
import { parseBasicCredentials } from './client-authentication.js';
import { assertionIssuer } from '../clients/client-assertion.js';
import { OAuthError, StoreUnavailableError } from '../errors.js';
import { RedisStore, type RedisConnection } from '../store/redis-store.js';

const REQUEST_WINDOW_MS = 60_000;
const FAILURE_WINDOW_MS = 15 * 60_000;
const FAILURE_POLICY = 'auth-failures';

/** The 429 body: RFC 6749 §5.2 shape with the server's own code `rate_limited`. */
const rateLimited = (description: string, headers: Record<string, string> = {}) => new OAuthError('rate_limited', 429, description, headers);

/**
 * The client id a request claims (Basic, the body's client_id, or a client assertion's iss), unverified;
 * undefined when it names none.
 */
export function presentedClientId(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header && /^\s*basic /i.test(header)) return parseBasicCredentials(header)?.clientId.slice(0, 256);
  const body: unknown = req.body;
  const params = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const id = params.client_id;
  if (typeof id === 'string' && id !== '') return id.slice(0, 256);
  return typeof params.client_assertion === 'string' ? assertionIssuer(params.client_assertion)?.slice(0, 256) : undefined;
}

const limitKey = (req: Request) => `${encodeURIComponent(presentedClientId(req) ?? '-')}|${ipKeyGenerator(req.ip ?? 'unknown')}`;

/**
 * Redis commands for rate-limit-redis over the store's connection. Scripts are hashed here and run by
 * EVALSHA with an EVAL fallback, so a Redis restart, a failed SCRIPT LOAD or a cluster node that never saw
 * the script cannot break the limiter; every failure is a StoreUnavailableError (503).
 */
function limiterCommands(redis: RedisConnection): (...command: string[]) => Promise<RedisReply> {
  const scripts = new Map<string, string>();
  const call = (name: string, args: string[]) => redis.call(name, ...args) as Promise<RedisReply>;
  return async (...command) => {
    const [name = '', ...args] = command;
    try {
      if (name.toUpperCase() === 'SCRIPT' && args[0]?.toUpperCase() === 'LOAD' && args[1] !== undefined) {
        const sha = createHash('sha1').update(args[1]).digest('hex');
        scripts.set(sha, args[1]);
        return sha;
      }
      const script = name.toUpperCase() === 'EVALSHA' ? scripts.get(args[0] ?? '') : undefined;
      if (script === undefined) return await call(name, args);
      return await call(name, args).catch((error: Error) => {
        if (!/^NOSCRIPT/.test(error.message)) throw error;
        return call('EVAL', [script, ...args.slice(1)]);
      });
    } catch (error) {
      throw new StoreUnavailableError(`redis (rate limit): ${(error as Error).message}`, { cause: error });
    }
  };
}

function limitStore(deps: AppDeps, name: string): LimitStore {
  if (deps.store instanceof RedisStore) {
    return new RedisLimitStore({ sendCommand: limiterCommands(deps.store.redis), prefix: `${deps.store.prefix}rate-limit:${name}:` });
  }
  return new MemoryStore();
}

/** RATE_LIMIT requests a minute per client id and address; draft-8 RateLimit headers; 429 rate_limited. */
function requestLimit(deps: AppDeps, limit: number): RequestHandler {
  return rateLimit({
    windowMs: REQUEST_WINDOW_MS,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    identifier: 'requests',
    keyGenerator: limitKey,
    store: limitStore(deps, 'requests'),
    handler: (_req, _res, next) => {
      deps.metrics.rateLimited.inc({ limit: 'requests' });
      next(rateLimited(`too many requests: at most ${limit} a minute per client and address`));
    },
    logger: {
      warn: (error, message) => deps.logger.warn({ err: { message: (error as Error).message } }, message ?? 'rate limiter'),
      error: (error, message) => deps.logger.error({ err: { message: (error as Error).message } }, message ?? 'rate limiter'),
    },
    validate: { xForwardedForHeader: false },
  });
}

/**
 * AUTH_FAILURE_LIMIT failed client authentications (401 answers) per 15 minutes per client id and
 * address; once reached, every request naming that client from that address gets 429, correct
 * secret or not, until the window ends. The lockout is logged once as `client_authentication_failures`.
 */
function authFailureLockout(deps: AppDeps, limit: number): RequestHandler {
  const store = limitStore(deps, 'auth-failures');
  void store.init?.({ windowMs: FAILURE_WINDOW_MS } as Options);
  const record = async (key: string, clientId: string, ip: string, log = deps.logger) => {
    try {
      const { totalHits } = await store.increment(key);
      if (totalHits === limit) {
        log.warn(
          { event: 'client_authentication_failures', client_id: clientId, ip, failures: totalHits, window_seconds: FAILURE_WINDOW_MS / 1000 },
          'repeated failed client authentication; client and address locked out',
        );
      }
    } catch (error) {
      log.warn({ err: { message: (error as Error).message } }, 'could not count a failed client authentication');
    }
  };
  return async (req, res, next) => {
    const clientId = presentedClientId(req);
    if (clientId === undefined) return next();
    const key = limitKey(req);
    const seen = await store.get!(key);
    if (seen && seen.totalHits >= limit) {
      const reset = Math.max(1, Math.ceil(((seen.resetTime?.getTime() ?? Date.now() + FAILURE_WINDOW_MS) - Date.now()) / 1000));
      deps.metrics.rateLimited.inc({ limit: 'auth_failures' });
      throw rateLimited('too many failed client authentications; retry after the time in Retry-After', {
        'Retry-After': String(reset),
        'RateLimit-Policy': `"${FAILURE_POLICY}"; q=${limit}; w=${FAILURE_WINDOW_MS / 1000}`,
        RateLimit: `"${FAILURE_POLICY}"; r=0; t=${reset}`,
      });
    }
    res.once('finish', () => {
      if (res.statusCode === 401) void record(key, clientId, req.ip ?? 'unknown', res.locals.log);
    });
    next();
  };
}

/**
 * The rate limits of the client-facing endpoints (/token, /token/refresh, /revoke), built from the
 * configuration: RATE_LIMIT and AUTH_FAILURE_LIMIT, each off when 0. Counters live in Redis under
 * REDIS_PREFIX (shared by every instance) or in memory with the embedded store. Mount after the body
 * parsers, since the client id may come from the body.
 */
export function rateLimits(deps: AppDeps): RequestHandler[] {
  const handlers: RequestHandler[] = [];
  if (deps.config.rateLimit > 0) handlers.push(requestLimit(deps, deps.config.rateLimit));
  if (deps.config.authFailureLimit > 0) handlers.push(authFailureLockout(deps, deps.config.authFailureLimit));
  return handlers;
}
