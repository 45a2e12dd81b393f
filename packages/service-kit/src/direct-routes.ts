import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { chain } from './http.js';

/** A node:http request listener (what `http.createServer` takes). */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** What {@link directRoutes} returns: the listener, and the express app behind it. */
export type DirectListener = RequestListener & { readonly app: Express };

/** A route served by {@link directRoutes}. */
export interface DirectRoute {
  method: 'GET' | 'POST';
  /** the exact path (a query string is allowed after it) */
  path: string;
  /** the route's handlers, in order, as express would run them */
  handlers: RequestHandler[];
}

/** Options of {@link directRoutes}. */
export interface DirectRoutesOptions {
  /** serves every other request; its settings (`trust proxy`, JSON settings) apply to the direct routes too */
  app: Express;
  /** the app-level middleware every route runs first (request context, security headers), in order */
  before: RequestHandler[];
  routes: DirectRoute[];
  /** answers a request that the last handler passed on (the app's 404) */
  notFound: RequestHandler;
  /** the app's error serializer */
  onError: ErrorRequestHandler;
}

const REQUEST = express.request as unknown as Record<string, unknown>;
const RESPONSE = express.response as unknown as Record<string, unknown>;
const getter = (name: string) => Object.getOwnPropertyDescriptor(express.request, name)!.get!;
const ipOf = getter('ip');
const queryOf = getter('query');
/** express's request getters the handlers may read, defined on the request as they are on express's prototype */
const LAZY_GETTERS: [string, PropertyDescriptor][] = ['protocol', 'secure', 'host', 'hostname'].map((name) => [name, { get: getter(name), configurable: true, enumerable: true }]);
/** express's own methods the handlers (and those methods themselves) call on the request and the response */
const REQUEST_METHODS = ['get', 'header', 'is'] as const;
const RESPONSE_METHODS = ['send', 'set', 'header', 'get', 'status', 'type', 'contentType', 'vary', 'append', 'sendStatus'] as const;

type JsonResponse = ServerResponse & { app: Express; req: IncomingMessage };

/**
 * express's `res.json` for the answers of these routes, without `res.send`'s detours (content-type lookup,
 * ETag, freshness): the body as the app's JSON settings write it, `application/json; charset=utf-8` unless
 * a Content-Type is set, Content-Length, no body for HEAD.
 */
function json(this: JsonResponse, body: unknown): JsonResponse {
  const text = JSON.stringify(body, this.app.get('json replacer') as undefined, this.app.get('json spaces') as undefined) ?? '';
  if (!this.hasHeader('Content-Type')) this.setHeader('Content-Type', 'application/json; charset=utf-8');
  this.setHeader('Content-Length', Buffer.byteLength(text));
  if (this.req.method === 'HEAD') this.end();
  else this.end(text);
  return this;
}

/** A request of a {@link createHttpServer} server: express's request methods and getters are on its prototype. */
class DirectRequest extends IncomingMessage {}
/** A response of a {@link createHttpServer} server: express's response methods and the lean `json` are on its prototype. */
class DirectResponse extends ServerResponse {}
const define = (target: object, name: string, value: unknown) => Object.defineProperty(target, name, { value, writable: true, configurable: true });
for (const name of REQUEST_METHODS) define(DirectRequest.prototype, name, REQUEST[name]);
for (const [name, descriptor] of LAZY_GETTERS) Object.defineProperty(DirectRequest.prototype, name, descriptor);
for (const name of RESPONSE_METHODS) define(DirectResponse.prototype, name, RESPONSE[name]);
define(DirectResponse.prototype, 'json', json);

/**
 * `http.createServer(listener)` whose requests and responses carry express's methods on their prototypes,
 * so {@link directRoutes} has nothing to copy onto them per request (about 3% of a small route's CPU).
 * Any listener works on it; a direct listener on a plain node:http server copies the methods instead.
 */
export function createHttpServer(listener: RequestListener): Server {
  return createServer({ IncomingMessage: DirectRequest, ServerResponse: DirectResponse }, listener);
}

type Handler = (req: unknown, res: unknown, next: (error?: unknown) => void) => void;
type ErrorHandler = (error: unknown, req: unknown, res: unknown, next: () => void) => unknown;

/**
 * A request listener that serves `routes` on node:http without express's per-request dispatch, and
 * hands every other request to `app`. Express swaps the prototype of every request and response to its
 * own and walks its router; on a 2-core machine that costs about half of a small route's throughput
 * (README "Performance"). Here the request and the response keep their node:http classes and get
 * express's own methods (`req.get`, `req.is`; `res.set`, `res.status`, `res.vary`, `res.send`, ...) and a
 * `res.json` that writes what express's writes: on their prototypes with {@link createHttpServer}, as
 * properties on a plain node:http server; plus `req.ip` (by the app's `trust proxy`), `req.query` (by its
 * query parser), `req.protocol`, `req.secure`, `req.host`, `req.hostname` (express's own getters),
 * `req.path`, `req.baseUrl`, `req.route`, `req.body`, `req.app`/`res.app`, `res.locals`: what the
 * handlers use, with express's semantics. Not there: `req.fresh` (a conditional GET is never answered 304 here; these routes set no ETag anyway).
 * Handlers run through the kit's {@link chain} (a rejected promise goes to `next`; `next('route')` is not
 * supported), errors go to `onError`, and a request the last handler passes on goes to `notFound`.
 *
 * Only `method` and `path` exactly as given are served here; register the same handlers on `app` for
 * every other form express accepts (a trailing slash, another letter case, HEAD for GET).
 */
export function directRoutes({ app, before, routes, notFound, onError }: DirectRoutesOptions): DirectListener {
  const table = new Map(
    routes.map((route) => [
      `${route.method} ${route.path}`,
      { handle: chain(...before, ...route.handlers, notFound) as unknown as Handler, route: { path: route.path, method: route.method.toLowerCase() } },
    ]),
  );
  const fail = onError as unknown as ErrorHandler;
  const listener: RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const entry = table.get(`${req.method} ${path}`);
    if (!entry) return void app(req, res);
    const r = req as unknown as Record<string, unknown>;
    const s = res as unknown as Record<string, unknown>;
    r.app = app;
    r.res = res;
    r.path = path;
    r.baseUrl = '';
    r.originalUrl = url;
    r.route = entry.route;
    r.body = undefined;
    r.ip = ipOf.call(req);
    r.query = queryOf.call(req);
    s.app = app;
    s.req = req;
    s.locals = Object.create(null);
    if (!(req instanceof DirectRequest)) {
      for (const name of REQUEST_METHODS) r[name] = REQUEST[name];
      for (const [name, descriptor] of LAZY_GETTERS) Object.defineProperty(req, name, descriptor);
    }
    if (!(res instanceof DirectResponse)) {
      for (const name of RESPONSE_METHODS) s[name] = RESPONSE[name];
      s.json = json;
    }
    entry.handle(req, res, (error) => {
      if (error !== undefined && error !== null) failWith(error, req, res, fail);
    });
  };
  return Object.assign(listener, { app });
}

function failWith(error: unknown, req: unknown, res: ServerResponse, fail: ErrorHandler): void {
  try {
    const result = fail(error, req, res, () => undefined);
    if (result instanceof Promise) result.then(undefined, () => endWith500(res));
  } catch {
    endWith500(res);
  }
}

function endWith500(res: ServerResponse): void {
  if (!res.headersSent) res.statusCode = 500;
  res.end();
}
