import type { IncomingHttpHeaders } from 'node:http';

/** The request the proxy asks about, as far as it is known. */
export interface OriginalRequest {
  /** `http` or `https`. */
  scheme: string;
  /** Host and port as the client addressed them; undefined when unknown. */
  host: string | undefined;
  method: string;
  /** The request target (path and query) as received, not decoded; undefined when unknown. */
  target: string | undefined;
}

/** A forwarded header from a trusted proxy is malformed (400). */
export class BadForwardedHeaderError extends Error {
  override name = 'BadForwardedHeaderError';
}

/** What /verify knows about the request it received itself. */
export interface VerifyRequest {
  method: string;
  headers: IncomingHttpHeaders;
  rawHeaders: readonly string[];
  /** The path under `/verify/` (Envoy ext_authz `path_prefix`), with its query; undefined for `/verify` itself. */
  rest: string | undefined;
  /** The connection's own scheme. */
  protocol: string;
  /** Whether the direct peer is a TRUST_PROXY address. */
  trusted: boolean;
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function single(req: VerifyRequest, name: string): string | undefined {
  const count = req.rawHeaders.filter((header, i) => i % 2 === 0 && header.toLowerCase() === name).length;
  if (count > 1) throw new BadForwardedHeaderError(`the request carries more than one ${name} header`);
  const value = req.headers[name];
  return typeof value === 'string' ? value.trim() : undefined;
}

/** The first entry of a list-valued header (`X-Forwarded-Proto: https, http` after several proxies). */
function first(req: VerifyRequest, name: string): string | undefined {
  const value = single(req, name);
  return value === undefined ? undefined : (value.split(',')[0] ?? '').trim();
}

/** Picks one of two alternative headers; both at once must agree. */
function either(req: VerifyRequest, a: string, b: string): string | undefined {
  const x = single(req, a);
  const y = single(req, b);
  if (x !== undefined && y !== undefined && x !== y) throw new BadForwardedHeaderError(`${a} and ${b} disagree`);
  return x ?? y;
}

/**
 * Reads the original request of a forward-auth check (README "Forward auth"). From a trusted proxy: scheme and
 * host from X-Forwarded-Proto / X-Forwarded-Host, method and target from X-Forwarded-Method /
 * X-Forwarded-Uri or X-Original-Method / X-Original-URI. From any other peer those headers are
 * ignored. Whatever they leave open comes from the check request itself: its method, its `Host`,
 * its own scheme, and (Envoy) the path under `/verify/`.
 * @throws {@link BadForwardedHeaderError} when a trusted forwarded header is repeated or malformed.
 */
export function originalRequest(req: VerifyRequest): OriginalRequest {
  let scheme: string | undefined;
  let host: string | undefined;
  let method: string | undefined;
  let target: string | undefined;
  if (req.trusted) {
    scheme = first(req, 'x-forwarded-proto')?.toLowerCase();
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') throw new BadForwardedHeaderError('X-Forwarded-Proto must be http or https');
    host = first(req, 'x-forwarded-host');
    method = either(req, 'x-forwarded-method', 'x-original-method');
    if (method !== undefined && !METHOD.test(method)) throw new BadForwardedHeaderError('the forwarded method is not an HTTP method');
    target = either(req, 'x-forwarded-uri', 'x-original-uri');
    if (target !== undefined && !/^\/[\x21-\x7e]*$/.test(target)) {
      throw new BadForwardedHeaderError('the forwarded URI must be an origin-form request target');
    }
  }
  host ??= typeof req.headers.host === 'string' ? req.headers.host : undefined;
  if (host !== undefined && !HOST.test(host)) throw new BadForwardedHeaderError('the forwarded host is malformed');
  return { scheme: scheme ?? req.protocol, host, method: method ?? req.method, target: target ?? req.rest };
}
