import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const QUIET = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Gives every request an id (X-Request-Id when the caller sent a sane one), a child logger on
 * res.locals.log, an access log line and the HTTP metrics. Never logs headers or bodies.
 *
 * Hot path: the access line has fixed fields only (a validated request id, the method, the route
 * pattern, the status, a duration), none of which can hold a credential, so it is written by a child
 * without the redaction pass (which clones the object: half the line's cost and most of its garbage);
 * the line is byte for byte what the redacting logger writes. res.locals.log, which other code logs
 * arbitrary objects through, keeps redaction and is only made when something uses it.
 */
export function observability(logger: Logger, metrics: Metrics): RequestHandler {
  const accessLog = logger.child({}, { redact: [] });
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    let log: Logger | undefined;
    Object.defineProperty(res.locals, 'log', {
      configurable: true,
      enumerable: true,
      get: () => (log ??= logger.child({ req_id: requestId })),
      set: (value: Logger) => {
        log = value;
      },
    });
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const labels = { route, method: req.method, status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      if (!QUIET.has(req.path)) {
        accessLog.info({ req_id: requestId, method: req.method, route, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
      }
    });
    next();
  };
}
