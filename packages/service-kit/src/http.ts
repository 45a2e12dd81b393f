import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';

/** An incoming X-Request-Id is kept when it is 1-128 of `A-Z a-z 0-9 _ . : -`; otherwise a UUID is made. */
export const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Paths that get no access log line by default (probes and scrapes). */
export const QUIET_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];

/** One finished request, as handed to {@link RequestContextOptions.observe}. */
export interface RequestOutcome {
  method: string;
  /** the matched route pattern (`/admin/clients/:id`), `unmatched` when none matched */
  route: string;
  status: number;
}

/** Options of {@link requestContext}. */
export interface RequestContextOptions {
  logger: Logger;
  /** called once per finished request with its duration in seconds (the apps' HTTP metrics) */
  observe?: ((outcome: RequestOutcome, seconds: number) => void) | undefined;
  /** paths without an access log line; default {@link QUIET_PATHS} */
  quietPaths?: readonly string[] | undefined;
}

/** The request's child logger (lines carry `req_id`); the app logger outside a request. */
export function requestLogger(res: Response, fallback: Logger): Logger {
  return (res.locals.log as Logger | undefined) ?? fallback;
}

function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}

/** `res.locals` of a request under {@link requestContext}: `log` is the request's child logger, made on first use. */
class RequestLocals {
  readonly #logger: Logger;
  readonly #requestId: string;
  #log: Logger | undefined;
  [name: string]: unknown;

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.#requestId = requestId;
  }

  get log(): Logger {
    return (this.#log ??= this.#logger.child({ req_id: this.#requestId }));
  }

  set log(value: Logger) {
    this.#log = value;
  }
}

/** What requestContext keeps on a response until its `finish` event. */
interface RequestTiming {
  requestId: string;
  started: number;
}

const TIMING = Symbol('tessera.requestTiming');

/**
 * First middleware of an app: gives every request an id (a sane incoming X-Request-Id, see
 * {@link REQUEST_ID}, else a new UUID), echoes it in `X-Request-Id`, puts a child logger with `req_id`
 * on `res.locals.log` and writes one access line per request:
 * `{"req_id", "method", "route", "status", "ms", "msg": "request"}`. Headers and bodies are never logged.
 *
 * The access line holds fixed fields only, none of which can carry a credential, so it is written
 * without the redaction pass; `res.locals.log` keeps redaction and is only made when something uses it.
 */
export function requestContext({ logger, observe, quietPaths = QUIET_PATHS }: RequestContextOptions): RequestHandler {
  const accessLog = logger.child({}, { redact: [] });
  const quiet = new Set(quietPaths);
  function finished(this: Response & { [TIMING]: RequestTiming }): void {
    const { requestId, started } = this[TIMING];
    const req = this.req;
    const ms = performance.now() - started;
    const route = routeOf(req);
    const status = this.statusCode;
    observe?.({ method: req.method, route, status }, ms / 1000);
    if (!quiet.has(req.path)) {
      accessLog.info({ req_id: requestId, method: req.method, route, status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  }
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals = Object.assign(new RequestLocals(logger, requestId), res.locals);
    (res as Response & { [TIMING]: RequestTiming })[TIMING] = { requestId, started: performance.now() };
    res.on('finish', finished);
    next();
  };
}

/**
 * Runs `handlers` one after the other as ONE middleware of the app's router (what `app.use(a, b, c)`
 * does with three router layers, each matched and dispatched per request). A handler's `next()` runs the
 * following one, and the app's next middleware after the last; `next(error)`, a thrown error or a
 * rejected promise goes to the app's error handling, as does `next('route')` / `next('router')`.
 */
export function chain(...handlers: RequestHandler[]): RequestHandler {
  return (req, res, next) => {
    let index = 0;
    const step = (error?: unknown): void => {
      if (error) return next(error);
      const handler = handlers[index++];
      if (handler === undefined) return next();
      try {
        const result = handler(req, res, step) as unknown;
        if (result instanceof Promise) result.catch((rejection: unknown) => next(rejection ?? new Error('Rejected promise')));
      } catch (thrown) {
        next(thrown);
      }
    };
    step();
  };
}

/**
 * Last route of an app: answers 404 `{"error": "not_found", "error_description": "no route for GET /x"}`
 * (the path cut at 200 characters).
 */
export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: 'not_found', error_description: `no route for ${req.method} ${req.path.slice(0, 200)}` });
};

/** An error response an app chose for an error it knows. */
export interface ErrorResponse {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string> | undefined;
}

/** Options of {@link errorHandler}. */
export interface ErrorHandlerOptions {
  /** used when the request has no logger of its own */
  logger: Logger;
  /** the app's own error shapes; undefined for an error it does not know, which becomes a server_error */
  known: (error: unknown, req: Request, res: Response) => ErrorResponse | undefined;
}

/**
 * The error serializer's shared part. Errors `known` maps are answered as it says; anything else is
 * logged at error level through the request's logger (`unexpected error`, with the path) and answered
 * 500 `{"error": "server_error", "error_description": "the server could not handle the request"}`:
 * no stack, no message in the body. When the headers are already sent the response is ended.
 */
export function errorHandler({ logger, known }: ErrorHandlerOptions): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    let response = known(error, req, res);
    if (response === undefined) {
      requestLogger(res, logger).error({ err: error, path: req.path }, 'unexpected error');
      response = { status: 500, body: { error: 'server_error', error_description: 'the server could not handle the request' } };
    }
    if (res.headersSent) return void res.end();
    res.status(response.status).set(response.headers ?? {}).json(response.body);
  };
}

/** The largest request body any Tessera app reads: 16 KiB (after Content-Encoding is undone). */
export const BODY_LIMIT = 16 * 1024;

const REQUEST_ERRORS: Record<string, string> = {
  'entity.parse.failed': 'the body could not be parsed',
  'entity.too.large': 'the body is too large (16 KiB at most)',
  'parameters.too.many': 'too many parameters',
  'encoding.unsupported': 'unsupported content encoding',
  'charset.unsupported': 'unsupported charset',
  'request.size.invalid': 'the body does not match its Content-Length',
  'entity.verify.failed': 'the body could not be verified',
};

/**
 * A request error (see {@link isRequestError}) as the status and description an app answers with:
 * 413 and 415 keep their status, every other reading error is 400.
 */
export function describeRequestError(error: { status: number; type?: string }): { status: 400 | 413 | 415; description: string } {
  const status = error.status === 413 || error.status === 415 ? error.status : 400;
  return { status, description: REQUEST_ERRORS[error.type ?? ''] ?? 'the request body is malformed' };
}

/**
 * Whether an error is a client error raised while reading the request (body-parser's typed errors:
 * too large, unparsable, bad charset, ...), with its 4xx status and `type`.
 */
export function isRequestError(error: unknown): error is { status: number; type?: string } {
  const e = error as { type?: unknown; status?: unknown; expose?: unknown } | null;
  return (typeof e?.type === 'string' || e?.expose === true) && typeof e.status === 'number' && e.status >= 400 && e.status < 500;
}

/**
 * helmet's default security headers (CSP, HSTS, X-Content-Type-Options, ...), worked out once when the
 * app is built and then set on every response by one middleware, instead of helmet's chain of a dozen
 * middlewares per request. The headers are exactly those `helmet()` sets (and it removes X-Powered-By too).
 */
export function securityHeaders(): RequestHandler {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => void set.push([name, String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  };
  let finished = false;
  helmet()({} as IncomingMessage, recorder as unknown as ServerResponse, () => {
    finished = true;
  });
  if (!finished) throw new Error('helmet did not set its headers synchronously');
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}
