import { BODY_LIMIT } from '@tessera/service-kit';
import express, { type NextFunction, type Request, type RequestHandler } from 'express';
import qs from 'qs';
import { OAuthError } from '../errors.js';

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/** The media types a route group can take. */
export type BodyType = typeof FORM | typeof JSON_TYPE;

/** At most this many `&`-separated parameters in a form body (more is 413). */
const PARAMETER_LIMIT = 50;

/** A body that could not be read or parsed, typed as body-parser types its errors (the error handler maps both). */
class BodyError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const countParameters = (text: string): number => {
  let count = 1;
  for (let i = text.indexOf('&'); i !== -1 && count <= PARAMETER_LIMIT; i = text.indexOf('&', i + 1)) count++;
  return count;
};

const decode = (text: string): string => {
  if (text.indexOf('%') === -1) return text.indexOf('+') === -1 ? text : text.replace(/\+/g, ' ');
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
};

/** Brackets (or their escapes): the only bodies where qs's key syntax differs from plain `name=value` pairs. */
const BRACKETS = /[[\]]|%5[bd]/i;

/**
 * Parses an `application/x-www-form-urlencoded` body (UTF-8) exactly as body-parser's
 * `urlencoded({ extended: false, parameterLimit: 50 })` does: `+` is a space, a value whose
 * percent-encoding is broken is kept as sent, a repeated name gives an array, empty and `__proto__`
 * names are dropped, more than 50 parameters is 413. Plain `name=value` bodies skip qs.
 */
export function parseForm(text: string): Record<string, string | string[]> {
  if (text.length === 0) return {};
  if (countParameters(text) > PARAMETER_LIMIT) throw new BodyError(413, 'parameters.too.many', 'too many parameters');
  if (BRACKETS.test(text)) {
    return qs.parse(text, { allowPrototypes: true, arrayLimit: countParameters(text), depth: 0, charset: 'utf-8', parameterLimit: PARAMETER_LIMIT, strictDepth: true }) as Record<
      string,
      string | string[]
    >;
  }
  const params: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    const eq = text.indexOf('=', start);
    const split = eq !== -1 && eq < end;
    const name = decode(text.slice(start, split ? eq : end));
    if (name !== '' && name !== '__proto__') {
      const value = split ? decode(text.slice(eq + 1, end)) : '';
      const previous = params[name];
      params[name] = previous === undefined ? value : ([] as string[]).concat(previous, value);
    }
    start = end + 1;
  }
  return params;
}

/** Parses a JSON body as body-parser's `json()` does (strict: an object or an array). */
export function parseJson(text: string): unknown {
  const first = /^[ \t\n\r]*(.?)/.exec(text)![1];
  if (first !== '{' && first !== '[') throw new BodyError(400, 'entity.parse.failed', 'the body must be a JSON object or array');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new BodyError(400, 'entity.parse.failed', (error as Error).message);
  }
}

const PARSE: Record<BodyType, (text: string) => unknown> = { [FORM]: parseForm, [JSON_TYPE]: parseJson };

/** What a body being read so far holds; on the request under a symbol, so the listeners are shared, not per-request closures. */
interface Reading {
  parse: (text: string) => unknown;
  next: NextFunction;
  expected: number;
  chunks: Buffer[];
  done: boolean;
}
const READING = Symbol('body reading');
type ReadingRequest = Request & { [READING]?: Reading };

function onData(this: ReadingRequest, chunk: Buffer): void {
  this[READING]!.chunks.push(chunk);
}

function onEnd(this: ReadingRequest): void {
  const reading = this[READING]!;
  if (reading.done) return;
  reading.done = true;
  const raw = reading.chunks.length === 1 ? reading.chunks[0]! : Buffer.concat(reading.chunks);
  if (raw.length !== reading.expected) return reading.next(new BodyError(400, 'request.size.invalid', 'request size did not match content length'));
  let text = raw.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    this.body = reading.parse(text);
  } catch (error) {
    return reading.next(error);
  }
  reading.next();
}

function onError(this: ReadingRequest): void {
  const reading = this[READING]!;
  if (reading.done) return;
  reading.done = true;
  reading.next(new BodyError(400, 'request.aborted', 'request aborted'));
}

/** Reads (and drops) a body of a type nobody parses, so that its size is checked too. */
const drain = express.raw({ limit: BODY_LIMIT, type: () => true });
/** body-parser, for the bodies the direct path below does not take (chunked, Content-Encoding, a Content-Type with parameters). */
const PARSERS: Record<BodyType, RequestHandler> = {
  [FORM]: express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: PARAMETER_LIMIT, type: () => true }),
  [JSON_TYPE]: express.json({ limit: BODY_LIMIT, type: () => true }),
};

const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * The direct path: a body framed by Content-Length (at most 16 KiB), with no Content-Encoding, whose
 * Content-Type is exactly one of `types` (no parameters: UTF-8) is read here and parsed by
 * {@link parseForm} or {@link parseJson}, with no per-request closures. Returns false for anything else.
 */
function readDirect(req: ReadingRequest, types: readonly BodyType[], next: NextFunction): boolean {
  const { headers } = req;
  const type = headers['content-type'];
  if (type === undefined || headers['transfer-encoding'] !== undefined || headers['content-encoding'] !== undefined) return false;
  const parse = type === FORM || type === JSON_TYPE ? (types.includes(type) ? PARSE[type] : undefined) : undefined;
  const expected = Number(headers['content-length']);
  if (!parse || !(expected <= BODY_LIMIT)) return false;
  req[READING] = { parse, next, expected, chunks: [], done: false };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  return true;
}

/**
 * The one body-parsing step of a route group: a body over 16 KiB is 413 whatever its type; a body of
 * one of `types` is parsed by that type's parser alone; a body of any other type (or none named) is 415
 * invalid_request. With no `types` the group takes no body: one within the limit is read and ignored.
 */
export function body(...types: BodyType[]): RequestHandler {
  const accepted = `${types.join(' or ')}`;
  return (req, res, next) => {
    if (!hasBody(req)) return next();
    if (types.length && readDirect(req, types, next)) return;
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
