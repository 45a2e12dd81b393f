import { normalizeScopes } from '@tessera/guard';

/** One rule of ROUTES_FILE, validated and normalized. */
export interface RouteRule {
  /** A normalized path prefix matched at a segment boundary (`/api` matches `/api` and `/api/x`, not `/apix`). */
  prefix: string;
  /** Methods it applies to; undefined = any method. Case-sensitive, as in HTTP. */
  methods: readonly string[] | undefined;
  /** The `aud` the token must contain. */
  audience: string;
  /** Scopes the token must all carry; may be empty. */
  scopes: readonly string[];
}

/** A ROUTES_FILE cannot be used; the message is one line saying where and why. */
export class RoutesFileError extends Error {
  override name = 'RoutesFileError';
}

/** A request path that must be refused with 400 (encoded slash, backslash, bad percent-encoding…). */
export class BadPathError extends Error {
  override name = 'BadPathError';
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const RULE_KEYS = new Set(['prefix', 'methods', 'audience', 'scopes']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Normalizes the path of a request target for matching: drops the query and fragment, percent-decodes
 * once, collapses repeated slashes and removes dot segments (RFC 3986 §5.2.4).
 * @throws {@link BadPathError} for a path that is not origin-form, an encoded slash (`%2F`), a backslash
 *   (raw or `%5C`), malformed percent-encoding, or control characters.
 */
export function normalizePath(target: string): string {
  const end = target.search(/[?#]/);
  const raw = end < 0 ? target : target.slice(0, end);
  if (!raw.startsWith('/')) throw new BadPathError('the original path must start with "/"');
  if (/%2f/i.test(raw)) throw new BadPathError('the original path contains an encoded slash');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadPathError('the original path has malformed percent-encoding');
  }
  if (decoded.includes('\\')) throw new BadPathError('the original path contains a backslash');
  if (/[\x00-\x1f\x7f]/.test(decoded)) throw new BadPathError('the original path contains control characters');
  const out: string[] = [];
  const segments = decoded.split('/').slice(1);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '..') {
      out.pop();
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment !== '' || last) {
      out.push(segment);
    }
  });
  return `/${out.join('/')}`;
}

function segmentMatch(prefix: string, path: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

function fail(where: string, problem: string): never {
  throw new RoutesFileError(`${where}: ${problem}`);
}

function checkPrefix(where: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) fail(where, '"prefix" must be a path starting with "/"');
  if (/[?#%\\\x00-\x1f\x7f]/.test(value)) fail(where, '"prefix" must be a decoded path without ?, #, %, backslashes or control characters');
  const trimmed = value.length > 1 ? value.replace(/\/$/, '') : value;
  if (normalizePath(trimmed) !== trimmed) fail(where, '"prefix" must not contain empty, "." or ".." segments');
  return trimmed;
}

/**
 * Validates the parsed JSON of a ROUTES_FILE: `{"routes": [{"prefix": "/api/", "methods": ["GET"],
 * "audience": "svc-a", "scopes": ["read"]}]}`. `methods` optional (any), `scopes` optional (none),
 * `audience` optional when `defaultAudience` (AUDIENCE) is given. A trailing slash of a prefix is
 * ignored (`/api/` = `/api`). Two rules for the same prefix may not both cover a method.
 * @throws {@link RoutesFileError} naming the rule and what is wrong with it.
 */
export function parseRoutes(document: unknown, defaultAudience: string | undefined): RouteRule[] {
  if (!isRecord(document) || !Array.isArray(document.routes)) fail('the file', 'must be a JSON object with a "routes" array');
  if (Object.keys(document).some((key) => key !== 'routes')) fail('the file', 'may only have a "routes" member');
  if (document.routes.length === 0) fail('the file', '"routes" must not be empty');
  const seen = new Set<string>();
  return document.routes.map((entry: unknown, i): RouteRule => {
    const where = `routes[${i}]`;
    if (!isRecord(entry)) fail(where, 'must be an object');
    const unknown = Object.keys(entry).find((key) => !RULE_KEYS.has(key));
    if (unknown !== undefined) fail(where, `unknown member "${unknown}" (accepted: prefix, methods, audience, scopes)`);
    const prefix = checkPrefix(where, entry.prefix);
    let methods: string[] | undefined;
    if (entry.methods !== undefined) {
      if (!Array.isArray(entry.methods) || entry.methods.length === 0 || entry.methods.some((m) => typeof m !== 'string' || !METHOD.test(m))) {
        fail(where, '"methods" must be a non-empty array of HTTP method names');
      }
      methods = [...new Set((entry.methods as string[]).map((m) => m.toUpperCase()))];
    }
    const audience = entry.audience ?? defaultAudience;
    if (typeof audience !== 'string' || audience.length === 0) fail(where, '"audience" must be a non-empty string (or set AUDIENCE)');
    let scopes: string[];
    try {
      scopes = normalizeScopes(entry.scopes as string[] | undefined);
      if (entry.scopes !== undefined && !Array.isArray(entry.scopes)) throw new TypeError();
    } catch {
      fail(where, '"scopes" must be an array of scope tokens');
    }
    for (const method of methods ?? ['*']) {
      const key = `${prefix} ${method}`;
      if (seen.has(key)) fail(where, `a rule for ${prefix} ${method === '*' ? 'without methods' : method} comes earlier`);
      seen.add(key);
    }
    return { prefix, methods, audience, scopes };
  });
}

/**
 * The rule for a request: the longest prefix that matches `path` (normalized) at a segment boundary
 * wins; among the rules of that prefix the one listing `method`, else the one without methods.
 * A shorter prefix is never used when the longest one has no rule for the method. Undefined: no rule.
 */
export function matchRoute(rules: readonly RouteRule[], method: string, path: string): RouteRule | undefined {
  let longest = -1;
  for (const rule of rules) if (rule.prefix.length > longest && segmentMatch(rule.prefix, path)) longest = rule.prefix.length;
  if (longest < 0) return undefined;
  const candidates = rules.filter((rule) => rule.prefix.length === longest && segmentMatch(rule.prefix, path));
  return candidates.find((rule) => rule.methods?.includes(method)) ?? candidates.find((rule) => rule.methods === undefined);
}
