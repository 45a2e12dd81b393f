import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type { AppDeps } from '../deps.js';
import { parseBasicCredentials } from './client-authentication.js';
import { assertionIssuer } from '../clients/client-assertion.js';
import { OAuthError } from '../errors.js';

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

/** Whole seconds from the injected clock's now until `at` (ms), at least 1. */
const secondsUntil = (deps: AppDeps, at: number) => Math.max(1, Math.ceil((at - deps.clock()) / 1000));

/** One limiter check's outcome: headers to set on the answer, or the 429 to answer instead. */
type Verdict = { headers?: Record<string, string>; refuse?: OAuthError; onFinish?: (res: Response) => void } | undefined;

/** RATE_LIMIT requests a minute per client id and address; draft-8 RateLimit headers; 429 rate_limited. */
function requestLimit(deps: AppDeps, limit: number): (key: string) => Promise<Verdict> {
  const window = REQUEST_WINDOW_MS / 1000;
  const policy = `"requests"; q=${limit}; w=${window}`;
  return async (key) => {
    const { hits, resetAt } = await deps.store.hitRateLimit(`requests:${key}`, REQUEST_WINDOW_MS, 1);
    const reset = secondsUntil(deps, resetAt);
    const headers = { 'RateLimit-Policy': policy, RateLimit: `"requests"; r=${Math.max(0, limit - hits)}; t=${reset}` };
    if (hits <= limit) return { headers };
    deps.metrics.rateLimited.inc({ limit: 'requests' });
    return { headers, refuse: rateLimited(`too many requests: at most ${limit} a minute per client and address`, { 'Retry-After': String(reset) }) };
  };
}

/**
 * AUTH_FAILURE_LIMIT failed client authentications (401 answers) per 15 minutes per client id and
 * address; once reached, every request naming that client from that address gets 429, correct
 * secret or not, until the window ends. The lockout is logged once as `client_authentication_failures`.
 */
function authFailureLockout(deps: AppDeps, limit: number): (key: string, req: Request, clientId: string | undefined) => Promise<Verdict> {
  const count = (key: string, delta: number) => deps.store.hitRateLimit(`${FAILURE_POLICY}:${key}`, FAILURE_WINDOW_MS, delta);
  const record = async (key: string, clientId: string, ip: string, log = deps.logger) => {
    try {
      const { hits } = await count(key, 1);
      if (hits === limit) {
        log.warn(
          { event: 'client_authentication_failures', client_id: clientId, ip, failures: hits, window_seconds: FAILURE_WINDOW_MS / 1000 },
          'repeated failed client authentication; client and address locked out',
        );
      }
    } catch (error) {
      log.warn({ err: { message: (error as Error).message } }, 'could not count a failed client authentication');
    }
  };
  return async (key, req, clientId) => {
    if (clientId === undefined) return undefined;
    const seen = await count(key, 0);
    if (seen.hits >= limit) {
      const reset = secondsUntil(deps, seen.resetAt);
      deps.metrics.rateLimited.inc({ limit: 'auth_failures' });
      return {
        refuse: rateLimited('too many failed client authentications; retry after the time in Retry-After', {
          'Retry-After': String(reset),
          'RateLimit-Policy': `"${FAILURE_POLICY}"; q=${limit}; w=${FAILURE_WINDOW_MS / 1000}`,
          RateLimit: `"${FAILURE_POLICY}"; r=0; t=${reset}`,
        }),
      };
    }
    return {
      onFinish: (res) => {
        if (res.statusCode === 401) void record(key, clientId, req.ip ?? 'unknown', res.locals.log);
      },
    };
  };
}

/**
 * The rate limits of the client-facing endpoints (/token, /token/refresh, /revoke), built from the
 * configuration: RATE_LIMIT and AUTH_FAILURE_LIMIT, each off when 0. /introspect, which resource servers
 * call often, gets {@link authFailureLimits} only. Counters live in Redis under
 * REDIS_PREFIX (shared by every instance) or in memory with the embedded store: the store's own
 * counters (Store.hitRateLimit), timed by the injected clock. Mount after the body parsers, since the
 * client id may come from the body.
 *
 * Both checks are one middleware and their two store calls are made together, so with Redis they leave
 * in one write (ioredis auto-pipelining) and cost one round trip, not two. The request counter is
 * counted first in the answer: over RATE_LIMIT is 429 `requests` even when the lockout would refuse too.
 */
export function rateLimits(deps: AppDeps): RequestHandler[] {
  const requests = deps.config.rateLimit > 0 ? requestLimit(deps, deps.config.rateLimit) : undefined;
  const lockout = deps.config.authFailureLimit > 0 ? authFailureLockout(deps, deps.config.authFailureLimit) : undefined;
  return requests || lockout ? [limiter(requests, lockout)] : [];
}

/** AUTH_FAILURE_LIMIT alone (off when 0), for endpoints that authenticate clients without RATE_LIMIT. */
export function authFailureLimits(deps: AppDeps): RequestHandler[] {
  return deps.config.authFailureLimit > 0 ? [limiter(undefined, authFailureLockout(deps, deps.config.authFailureLimit))] : [];
}

function limiter(requests: ReturnType<typeof requestLimit> | undefined, lockout: ReturnType<typeof authFailureLockout> | undefined): RequestHandler {
  return async (req, res, next) => {
    const clientId = presentedClientId(req);
    const key = `${encodeURIComponent(clientId ?? '-')}|${ipKeyGenerator(req.ip ?? 'unknown')}`;
    const [counted, locked] = await Promise.all([requests?.(key), lockout?.(key, req, clientId)]);
    if (counted?.headers) res.set(counted.headers);
    if (counted?.refuse) throw counted.refuse;
    if (locked?.refuse) throw locked.refuse;
    const onFinish = locked?.onFinish;
    if (onFinish) res.once('finish', () => onFinish(res));
    next();
  };
}
