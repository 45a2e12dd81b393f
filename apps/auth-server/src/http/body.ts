import { BODY_LIMIT } from '@tessera/service-kit';
import express, { type RequestHandler } from 'express';
import { OAuthError } from '../errors.js';


const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The media types a route group can take. */
export type BodyType = typeof FORM | typeof JSON_TYPE;

const PARSERS: Record<BodyType, RequestHandler> = {
  [FORM]: express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 50, type: () => true }),
  [JSON_TYPE]: express.json({ limit: BODY_LIMIT, type: () => true }),
};
/** Reads (and drops) a body of a type nobody parses, so that its size is checked too. */
const drain = express.raw({ limit: BODY_LIMIT, type: () => true });

const hasBody = (req: express.Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * The one body-parsing step of a route group: a body over 16 KiB is 413 whatever its type; a body of
 * one of `types` is parsed by that type's parser alone; a body of any other type (or none named) is 415
 * invalid_request. With no `types` the group takes no body: one within the limit is read and ignored.
 */
export function body(...types: BodyType[]): RequestHandler {
  const accepted = `${types.join(' or ')}`;
  return (req, res, next) => {
    if (!hasBody(req)) return next();
    const type = types.length ? req.is(types) : false;
    const parser = type ? PARSERS[type as BodyType] : undefined;
    if (parser) return parser(req, res, next);
    drain(req, res, (error?: unknown) => {
      if (error) return next(error);
      req.body = undefined;
      if (!types.length) return next();
      const given = req.headers['content-type']?.split(';')[0]?.trim().slice(0, 100);
      next(new OAuthError('invalid_request', 415, `the body must be ${accepted}${given ? `, not ${given}` : ''}`));
    });
  };
}
