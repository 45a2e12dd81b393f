import { normalizeScopes } from '@tessera/guard';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * A configuration variable has a bad value. The message is one line, `NAME: what is wrong`, and is what
 * an app prints (prefixed with its name) before it exits 1.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  /**
   * @param variable the environment variable at fault
   * @param problem what it accepts (`expected ...`) or which rule it breaks
   */
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }

  /** The value of `variable` does not parse; `accepts` says what would (`a port number 0-65535`). */
  static invalid(variable: string, accepts: string): ConfigError {
    return new ConfigError(variable, `invalid value; expected ${accepts}`);
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration into whole seconds: a number of seconds (`900`) or a number directly followed by one
 * unit `s`, `m`, `h` or `d` (`900s`, `15m`, `12h`, `14d`). Surrounding whitespace is ignored; whitespace
 * between number and unit (`15 m`), fractions and signs are not accepted.
 * @returns the seconds, or undefined when malformed or beyond a safe integer
 */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1);
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** Parses a TCP port `0`-`65535` (decimal digits only); undefined otherwise. */
export function parsePort(value: string): number | undefined {
  return /^\d{1,5}$/.test(value) && Number(value) <= 65535 ? Number(value) : undefined;
}

/**
 * The one URL rule of the apps: an absolute `http:` or `https:` URL without query, fragment or
 * credentials (`http://localhost:4000`, `https://auth.example.com/tenant`).
 */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Parses `TRUST_PROXY` into express's `trust proxy` setting: `true`, `false`, a hop count (`1`), or
 * comma-separated addresses, CIDR subnets and the names `loopback`, `linklocal`, `uniquelocal`
 * (`loopback, 10.0.0.0/8`). Undefined for anything else.
 */
export function parseTrustProxy(value: string): boolean | number | string | undefined {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d{1,3}$/.test(value)) return Number(value);
  const valid = value.split(',').every((entry) => {
    const [address = '', prefix, extra] = entry.trim().split('/');
    if (PROXY_NAMES.has(address) && prefix === undefined) return true;
    const version = isIP(address);
    if (version === 0 || extra !== undefined) return false;
    return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
  });
  return valid ? value : undefined;
}

/** pino's levels, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino level name (`LOG_LEVEL`). */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What each primitive accepts, worded for the `expected ...` part of a {@link ConfigError}. */
export const ACCEPTS = {
  port: 'a port number 0-65535',
  httpUrl: 'an absolute http(s) URL without query, fragment or credentials, e.g. http://localhost:4000',
  trustProxy: 'true, false, a hop count, or comma-separated addresses/subnets (e.g. loopback, 10.0.0.0/8)',
  logLevel: LOG_LEVELS.join(', '),
  host: 'a host name or IP address to listen on',
  scopeList: 'one or more space-separated scope tokens, e.g. collect',
  duration: (min: number, max?: number) =>
    `a duration ${max === undefined ? `of at least ${min}s` : `from ${min}s to ${max}s`}: seconds (900) or a number with a unit s, m, h, d (15m, 14d)`,
} as const;

/** A value parsed from a string: the parser's result, or an issue carrying `accepts` when it returns undefined. */
function parsed<T>(parse: (value: string) => T | undefined, accepts: string) {
  return z.string().transform((value, ctx): T => {
    const result = parse(value.trim());
    if (result === undefined) ctx.addIssue({ code: 'custom', message: accepts });
    return result as T;
  });
}

/**
 * zod schemas for one environment variable each; the issue message is what the variable accepts, so
 * {@link loadEnv} can report it. Add `.default(...)` or `.optional()` as the app needs.
 */
export const configVar = {
  /** Whole seconds, see {@link parseDuration}; `min`/`max` in seconds (default min 0, no max). */
  duration: ({ min = 0, max }: { min?: number; max?: number } = {}) =>
    parsed((v) => {
      const seconds = parseDuration(v);
      return seconds !== undefined && seconds >= min && (max === undefined || seconds <= max) ? seconds : undefined;
    }, ACCEPTS.duration(min, max)),
  /** A TCP port, see {@link parsePort}. */
  port: () => parsed(parsePort, ACCEPTS.port),
  /**
   * See {@link isHttpUrl}. With `trimTrailingSlash` (for a server's own base URL) trailing slashes are
   * removed; without, the value is kept as written (an issuer compared with a token's `iss`).
   */
  httpUrl: ({ trimTrailingSlash = false }: { trimTrailingSlash?: boolean } = {}) =>
    parsed((v) => (isHttpUrl(v) ? (trimTrailingSlash ? v.replace(/\/+$/, '') : v) : undefined), ACCEPTS.httpUrl),
  /** See {@link parseTrustProxy}. */
  trustProxy: () => parsed(parseTrustProxy, ACCEPTS.trustProxy),
  /** A host name or address to listen on: no white space, no slash. */
  host: () => parsed((v) => (/^[^\s/]+$/.test(v) ? v : undefined), ACCEPTS.host),
  /** One or more space-separated RFC 6749 scope tokens (the guard's rule), kept as written. */
  scopeList: () =>
    parsed((v) => {
      try {
        return normalizeScopes(v).length > 0 ? v : undefined;
      } catch {
        return undefined;
      }
    }, ACCEPTS.scopeList),
  /** One of {@link LOG_LEVELS}. */
  logLevel: () => parsed((v) => (LOG_LEVELS as readonly string[]).includes(v) ? (v as LogLevel) : undefined, ACCEPTS.logLevel),
} as const;

/**
 * Validates environment variables against a zod object whose fields are named after the variables.
 * Empty values count as unset (so defaults apply); the kit's primitives ignore surrounding whitespace,
 * other values (secrets) are taken as they are.
 * @throws {@link ConfigError} for the first bad variable, with the issue message as what it accepts
 */
export function loadEnv<S extends z.ZodRawShape>(
  shape: S,
  source: Record<string, string | undefined>,
): z.output<z.ZodObject<S>> {
  const input: Record<string, string> = {};
  for (const name of Object.keys(shape)) {
    const value = source[name];
    if (value !== undefined && value.trim() !== '') input[name] = value;
  }
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw ConfigError.invalid(String(issue.path[0] ?? 'environment'), issue.message);
  }
  return result.data;
}

/**
 * Runs an app's config loader; on a {@link ConfigError} writes `service: message` to stderr and exits 1.
 * Any other error is rethrown.
 */
export function loadConfigOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${service}: ${error.message}\n`);
    process.exit(1);
  }
}
