import { createServer, type Server } from 'node:http';
import { createHttpServer, type RequestListener } from '@tessera/service-kit';
import type { Response } from 'supertest';

/**
 * The servers a direct listener is tested on: the one the apps' main.ts make (express's methods on the
 * request and response prototypes) and a plain node:http one (the methods copied per request).
 */
export const DIRECT_SERVERS: [string, (listener: RequestListener) => Server][] = [
  ['the service kit server', createHttpServer],
  ['a plain node:http server', createServer],
];

/** Headers that differ between two answers to the same request whatever serves it. */
const VARYING = new Set(['date', 'x-request-id', 'content-length', 'connection', 'keep-alive']);

/**
 * What must be equal when the same request is served directly (the service kit's directRoutes) and by
 * express: status, body and headers, but for those that differ per request (VARYING and `more`).
 */
export function comparable(res: Response, more: readonly string[] = []) {
  const skip = new Set([...VARYING, ...more]);
  return { status: res.status, headers: Object.fromEntries(Object.entries(res.headers).filter(([name]) => !skip.has(name))), body: res.body as unknown };
}

/**
 * Records the URL of every request that enters the express app behind a direct listener (express's
 * `app(req, res)` runs `app.handle`), until `stop()`.
 */
export function expressEntries(app: unknown): { urls: string[]; stop(): void } {
  const express = app as { handle: (req: { url: string }, ...rest: unknown[]) => unknown };
  const handle = express.handle.bind(express);
  const urls: string[] = [];
  express.handle = (req, ...rest) => {
    urls.push(req.url);
    return handle(req, ...rest);
  };
  return { urls, stop: () => (express.handle = handle) };
}
