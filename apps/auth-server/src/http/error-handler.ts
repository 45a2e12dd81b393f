import { describeRequestError, errorHandler as serializeErrors, isRequestError, requestLogger, type ErrorResponse, type Logger } from '@tessera/service-kit';
import type { ErrorRequestHandler } from 'express';
import { OAuthError, StoreUnavailableError, invalidRequest, temporarilyUnavailable } from '../errors.js';
import type { Metrics } from '../metrics.js';

const respond = (oauth: OAuthError): ErrorResponse => ({
  status: oauth.status,
  headers: oauth.headers,
  body: { error: oauth.code, error_description: oauth.description },
});

/**
 * Turns whatever a route threw into an RFC 6749 §5.2 body; anything unexpected becomes the service
 * kit's logged server_error.
 */
export function errorHandler(logger: Logger, metrics: Metrics): ErrorRequestHandler {
  return serializeErrors({
    logger,
    known: (error, req, res) => {
      if (error instanceof OAuthError) return respond(error);
      if (error instanceof StoreUnavailableError) {
        metrics.storeErrors.inc();
        requestLogger(res, logger).warn({ err: { message: error.message }, path: req.path }, 'store unavailable');
        return respond(temporarilyUnavailable());
      }
      if (error instanceof URIError) return respond(invalidRequest('the request path is not valid percent-encoding'));
      if (isRequestError(error)) {
        const { status, description } = describeRequestError(error);
        return respond(new OAuthError('invalid_request', status, description));
      }
      return undefined;
    },
  });
}
