import type { ErrorRequestHandler, RequestHandler } from 'express';
import { OAuthError, StoreUnavailableError, invalidRequest, notFound, temporarilyUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

const BODY_ERRORS: Record<string, string> = {
  'entity.parse.failed': 'the body could not be parsed',
  'entity.too.large': 'the body is too large (16 KiB at most)',
  'parameters.too.many': 'too many parameters',
  'encoding.unsupported': 'unsupported content encoding',
  'charset.unsupported': 'unsupported charset',
  'request.size.invalid': 'the body does not match its Content-Length',
  'entity.verify.failed': 'the body could not be verified',
};

/** Turns whatever a route threw into an RFC 6749 §5.2 body; anything unexpected becomes a logged server_error. */
export function errorHandler(logger: Logger, metrics: Metrics): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const log = (res.locals.log as Logger | undefined) ?? logger;
    let oauth: OAuthError;
    if (error instanceof OAuthError) {
      oauth = error;
    } else if (error instanceof StoreUnavailableError) {
      metrics.storeErrors.inc();
      log.warn({ err: { message: error.message }, path: req.path }, 'store unavailable');
      oauth = temporarilyUnavailable();
    } else if (error instanceof URIError) {
      oauth = invalidRequest('the request path is not valid percent-encoding');
    } else if (isBodyError(error)) {
      oauth = invalidRequest(BODY_ERRORS[error.type ?? ''] ?? 'the request body is malformed');
      if (error.status === 413 || error.status === 415) oauth = new OAuthError('invalid_request', error.status, oauth.description);
    } else {
      log.error({ err: error, path: req.path }, 'unexpected error');
      oauth = new OAuthError('server_error', 500, 'the server could not handle the request');
    }
    if (res.headersSent) return void res.end();
    res.status(oauth.status).set(oauth.headers).json({ error: oauth.code, error_description: oauth.description });
  };
}

/** A body-parser error (typed), or any other client error it raises, e.g. a body that does not inflate. */
function isBodyError(error: unknown): error is { type?: string; status: number } {
  const e = error as { type?: unknown; status?: unknown; expose?: unknown } | null;
  return (typeof e?.type === 'string' || e?.expose === true) && typeof e.status === 'number' && e.status >= 400 && e.status < 500;
}

export const notFoundHandler: RequestHandler = (req) => {
  throw notFound(`no route for ${req.method} ${req.path.slice(0, 200)}`);
};
