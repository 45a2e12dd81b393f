import { requestLogger, type Logger } from '@tessera/service-kit';
import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';
import type { AppDeps } from '../deps.js';
import type { RateLimitCharge, RateLimitCount, RateLimitCounter, RateLimitOutcome, Store } from '../store/store.js';
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

/** One limit of a request: the counter it charges and what its count means for the answer. */
interface Limit {
  counter: RateLimitCounter;
  /** headers to set from the count, or the 429 to answer instead */
  judge(count: RateLimitCount): { headers?: Record<string, string>; refuse?: OAuthError };
}

/** RATE_LIMIT requests a minute per client id and address; draft-8 RateLimit headers; 429 rate_limited. */
function requestLimit(deps: AppDeps, limit: number, address: string): Limit {
  const window = REQUEST_WINDOW_MS / 1000;
  return {
    counter: { key: `requests:${address}`, windowMs: REQUEST_WINDOW_MS, delta: 1, refuseAt: limit + 1 },
    judge: ({ hits, resetAt }) => {
      const reset = secondsUntil(deps, resetAt);
      const headers = { 'RateLimit-Policy': `"requests"; q=${limit}; w=${window}`, RateLimit: `"requests"; r=${Math.max(0, limit - hits)}; t=${reset}` };
      if (hits <= limit) return { headers };
      deps.metrics.rateLimited.inc({ limit: 'requests' });
      return { headers, refuse: rateLimited(`too many requests: at most ${limit} a minute per client and address`, { 'Retry-After': String(reset) }) };
    },
  };
}

/**
 * AUTH_FAILURE_LIMIT failed client authentications (401 answers) per 15 minutes per client id and
 * address; once reached, every request naming that client from that address gets 429, correct
 * secret or not, until the window ends. The check only reads the counter; a 401 answer counts one.
 */
function failureLockout(deps: AppDeps, limit: number, address: string): Limit {
  return {
    counter: { key: `${FAILURE_POLICY}:${address}`, windowMs: FAILURE_WINDOW_MS, delta: 0, refuseAt: limit },
    judge: ({ hits, resetAt }) => {
      if (hits < limit) return {};
      const reset = secondsUntil(deps, resetAt);
      deps.metrics.rateLimited.inc({ limit: 'auth_failures' });
      return {
        refuse: rateLimited('too many failed client authentications; retry after the time in Retry-After', {
          'Retry-After': String(reset),
          'RateLimit-Policy': `"${FAILURE_POLICY}"; q=${limit}; w=${FAILURE_WINDOW_MS / 1000}`,
          RateLimit: `"${FAILURE_POLICY}"; r=0; t=${reset}`,
        }),
      };
    },
  };
}

/** Counts one failed client authentication toward the lockout; logs the lockout once, when it starts. */
async function recordFailure(deps: AppDeps, limit: number, clientId: string, address: string, ip: string, log: Logger): Promise<void> {
  try {
    const { counts } = await deps.store.chargeRateLimits({
      clientId,
      counters: [{ key: `${FAILURE_POLICY}:${address}`, windowMs: FAILURE_WINDOW_MS, delta: 1, refuseAt: 0 }],
    });
    if (counts[0]?.hits === limit) {
      log.warn(
        { event: 'client_authentication_failures', client_id: clientId, ip, failures: limit, window_seconds: FAILURE_WINDOW_MS / 1000 },
        'repeated failed client authentication; client and address locked out',
      );
    }
  } catch (error) {
    log.warn({ err: { message: (error as Error).message } }, 'could not count a failed client authentication');
  }
}

/**
 * A request's rate-limit charge (RATE_LIMIT's request counter and AUTH_FAILURE_LIMIT's lockout check),
 * made exactly once: carried by the request's grant write ({@link take}, then {@link settle}), so with
 * Redis the counters and the grant cost one script call, or made on its own ({@link charge}).
 */
export class Admission {
  #pending: RateLimitCharge | undefined;

  constructor(
    charge: RateLimitCharge,
    private readonly limits: Limit[],
    private readonly store: Store,
    private readonly res: Response,
  ) {
    this.#pending = charge;
  }

  /** The charge, for a store write that makes it in the same atomic step; undefined once it was made. */
  take(): RateLimitCharge | undefined {
    const charge = this.#pending;
    this.#pending = undefined;
    return charge;
  }

  /**
   * Applies what the store counted: sets the RateLimit headers, or throws the 429 (the request limit
   * before the lockout). Nothing to do for `undefined` (the write carried no charge).
   */
  settle(outcome: RateLimitOutcome | undefined): void {
    if (!outcome) return;
    const verdicts = this.limits.map((limit, i) => limit.judge(outcome.counts[i] ?? { hits: 0, resetAt: 0 }));
    for (const { headers } of verdicts) if (headers) this.res.set(headers);
    for (const { refuse } of verdicts) if (refuse) throw refuse;
  }

  /** Makes the charge on its own, unless it was made; throws the 429 when refused. */
  async charge(): Promise<void> {
    const charge = this.take();
    if (charge) this.settle(await this.store.chargeRateLimits(charge));
  }
}

/** The request's {@link Admission}, when a limiter is mounted on its route. */
export const admissionOf = (res: Response): Admission | undefined => res.locals.admission as Admission | undefined;

/**
 * Answers with what `run` returns (JSON) once the request's charge is made: by the grant's write, or on
 * its own before the answer, an error answer included, so a request over a limit gets 429 whatever else
 * was wrong with it.
 */
export function afterAdmission(run: (req: Request, res: Response) => Promise<unknown>): RequestHandler {
  return async (req, res) => {
    let body: unknown;
    try {
      body = await run(req, res);
    } catch (error) {
      await admissionOf(res)?.charge();
      throw error;
    }
    await admissionOf(res)?.charge();
    res.json(body);
  };
}

/** When the charge is made: before the route's handler, or by the handler ({@link afterAdmission}). */
export type ChargeTiming = 'before-handler' | 'with-grant';

/**
 * The rate limits of the client-facing endpoints (/token, /token/refresh, /revoke), built from the
 * configuration: RATE_LIMIT and AUTH_FAILURE_LIMIT, each off when 0. /introspect, which resource servers
 * call often, gets {@link authFailureLimits} only. Counters live in Redis under REDIS_PREFIX (shared by
 * every instance) or in memory with the embedded store (Store.chargeRateLimits), timed by the injected
 * clock. Mount after the body parsers, since the client id may come from the body.
 *
 * Both counters are one charge, one script call with Redis. With `with-grant` the charge waits on
 * `res.locals.admission` for the handler, which must answer through {@link afterAdmission}.
 */
export function rateLimits(deps: AppDeps, timing: ChargeTiming = 'before-handler'): RequestHandler[] {
  return limiter(deps, deps.config.rateLimit, deps.config.authFailureLimit, timing);
}

/** AUTH_FAILURE_LIMIT alone (off when 0), for endpoints that authenticate clients without RATE_LIMIT. */
export function authFailureLimits(deps: AppDeps): RequestHandler[] {
  return limiter(deps, 0, deps.config.authFailureLimit, 'before-handler');
}

function limiter(deps: AppDeps, requestLimitPerMinute: number, failureLimit: number, timing: ChargeTiming): RequestHandler[] {
  if (requestLimitPerMinute <= 0 && failureLimit <= 0) return [];
  return [
    async (req, res, next) => {
      const clientId = presentedClientId(req);
      const address = ipKeyGenerator(req.ip ?? 'unknown');
      const limits: Limit[] = [];
      if (requestLimitPerMinute > 0) limits.push(requestLimit(deps, requestLimitPerMinute, address));
      if (failureLimit > 0 && clientId !== undefined) {
        limits.push(failureLockout(deps, failureLimit, address));
        res.once('finish', () => {
          if (res.statusCode === 401) void recordFailure(deps, failureLimit, clientId, address, req.ip ?? 'unknown', requestLogger(res, deps.logger));
        });
      }
      const admission = new Admission({ clientId: clientId ?? '', counters: limits.map((l) => l.counter) }, limits, deps.store, res);
      res.locals.admission = admission;
      if (timing === 'before-handler') await admission.charge();
      next();
    },
  ];
}
