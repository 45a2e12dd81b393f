/** How the client authenticates to the token endpoint (RFC 6749 §2.3.1). */
export type AuthMethod = 'client_secret_basic' | 'client_secret_post';

/** Options of `createTokenClient`. They are validated once, at construction. */
export interface TokenClientOptions {
  /**
   * The authorization server's issuer identifier, an absolute http(s) URL (a trailing slash is
   * ignored). Its RFC 8414 metadata must name exactly this issuer.
   */
  issuer: string;
  /** The registered client id. */
  clientId: string;
  /** The client secret. It is sent only to the token endpoint and never appears in errors. */
  clientSecret: string;
  /** Scopes to request with client_credentials (array or space-separated string). Default: the client's registered scopes. */
  scope?: string | readonly string[] | undefined;
  /** RFC 8707 `resource` (Tessera: the audience) to request with client_credentials. Default: the client's first audience. */
  resource?: string | undefined;
  /** Token endpoint authentication. Default `client_secret_basic`. */
  authMethod?: AuthMethod | undefined;
  /** Seconds before expiry at which a cached access token is replaced. Default 30; never more than half the token's lifetime. */
  refreshSkew?: number | undefined;
  /** Timeout of each metadata and token request, in milliseconds. Default 10000. */
  timeout?: number | undefined;
  /** The fetch used for every request, including `client.fetch`. Default: the global fetch. */
  fetch?: typeof fetch | undefined;
  /** The current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: (() => number) | undefined;
}

export interface ResolvedOptions {
  issuer: string;
  metadataUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string | undefined;
  resource: string | undefined;
  authMethod: AuthMethod;
  refreshSkew: number;
  timeout: number;
  fetch: typeof fetch;
  clock: () => number;
}

/** Default `refreshSkew`, in seconds. */
export const DEFAULT_REFRESH_SKEW = 30;
/** Default `timeout`, in milliseconds. */
export const DEFAULT_TIMEOUT = 10_000;

const AUTH_METHODS: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post'];
/** RFC 6749 §3.3 scope-token */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

/** RFC 8414 §3: the well-known segment goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

const fail = (name: string, what: string): never => {
  throw new TypeError(`"${name}" must be ${what}`);
};

const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function resolveScope(scope: unknown): string | undefined {
  if (scope === undefined) return undefined;
  const list = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : Array.isArray(scope) ? (scope as unknown[]) : undefined;
  if (!list || list.length === 0 || !list.every((s) => typeof s === 'string' && SCOPE_TOKEN.test(s))) {
    fail('scope', 'a non-empty space-separated string or array of scope tokens');
  }
  return (list as string[]).join(' ');
}

export function resolveOptions(options: TokenClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { issuer, clientId, clientSecret, resource, authMethod, refreshSkew, timeout } = options;
  if (!isHttpUrl(issuer)) fail('issuer', 'an absolute http(s) URL without query, fragment or credentials');
  if (!nonEmpty(clientId)) fail('clientId', 'a non-empty string');
  if (!nonEmpty(clientSecret)) fail('clientSecret', 'a non-empty string');
  if (resource !== undefined && !nonEmpty(resource)) fail('resource', 'a non-empty string');
  if (authMethod !== undefined && !AUTH_METHODS.includes(authMethod)) fail('authMethod', AUTH_METHODS.join(' or '));
  if (refreshSkew !== undefined && !(typeof refreshSkew === 'number' && Number.isFinite(refreshSkew) && refreshSkew >= 0)) {
    fail('refreshSkew', 'a finite number of seconds, at least 0');
  }
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && timeout > 0)) fail('timeout', 'a positive integer (milliseconds)');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') fail('fetch', 'a function');
  if (options.clock !== undefined && typeof options.clock !== 'function') fail('clock', 'a function returning milliseconds since the epoch');
  const normalized = issuer.replace(/\/+$/, '');
  return {
    issuer: normalized,
    metadataUrl: metadataUrl(normalized),
    clientId,
    clientSecret,
    scope: resolveScope(options.scope),
    resource,
    authMethod: authMethod ?? 'client_secret_basic',
    refreshSkew: refreshSkew ?? DEFAULT_REFRESH_SKEW,
    timeout: timeout ?? DEFAULT_TIMEOUT,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    clock: options.clock ?? Date.now,
  };
}
