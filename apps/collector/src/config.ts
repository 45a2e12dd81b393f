import { isIP } from 'node:net';
import { normalizeScopes } from '@tessera/guard';
import { z } from 'zod';

/** Validated collector configuration. Durations are in seconds. */
export interface CollectorConfig {
  port: number;
  host: string;
  issuer: string;
  /** Unset: read from the issuer's RFC 8414 metadata. */
  jwksUri: string | undefined;
  audience: string;
  requiredScope: string;
  clockTolerance: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  trustProxy: boolean | number | string;
  /** Origins answered with CORS headers on /collect; empty: no CORS at all. */
  corsOrigins: string[];
}

/** A configuration value is invalid; the message is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    accepts: string,
  ) {
    super(`${variable} is invalid: expected ${accepts}`);
    this.name = 'ConfigError';
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}

/** Parses `900`, `900s`, `15m`, `2h` or `14d` into seconds; undefined when malformed. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1);
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** express `trust proxy` address list: names, IPs and CIDR subnets, comma-separated. */
function isProxyList(value: string): boolean {
  return value.split(',').every((entry) => {
    const [address = '', prefix, extra] = entry.trim().split('/');
    if (PROXY_NAMES.has(address) && prefix === undefined) return true;
    const version = isIP(address);
    if (version === 0 || extra !== undefined) return false;
    return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128));
  });
}

/** Exact origins, comma-separated: `https://app.example.com,http://localhost:4000` (scheme, host, port; no path). */
function isOriginList(value: string): boolean {
  return value.split(',').every((entry) => {
    const origin = entry.trim();
    try {
      const url = new URL(origin);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin;
    } catch {
      return false;
    }
  });
}

function isScopeList(value: string): boolean {
  try {
    return normalizeScopes(value).length > 0;
  } catch {
    return false;
  }
}

const duration = (max: number) =>
  z
    .string()
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined || seconds > max) ctx.addIssue({ code: 'custom', message: 'bad duration' });
      return seconds ?? 0;
    });

const fields = {
  PORT: {
    accepts: 'an integer port from 0 to 65535',
    schema: z.string().regex(/^\d{1,5}$/).transform(Number).pipe(z.number().max(65535)).default(4001),
  },
  HOST: {
    accepts: 'a host name or IP address to listen on',
    schema: z.string().regex(/^[^\s/]+$/).default('127.0.0.1'),
  },
  ISSUER: {
    accepts: 'an absolute http(s) URL without query or fragment, e.g. http://localhost:4000',
    schema: z.string().refine(isHttpUrl).default('http://localhost:4000'),
  },
  JWKS_URI: {
    accepts: 'an absolute http(s) URL, or unset to use the issuer metadata',
    schema: z.string().refine(isHttpUrl).optional(),
  },
  AUDIENCE: {
    accepts: 'a non-empty string',
    schema: z.string().min(1).default('collector'),
  },
  REQUIRED_SCOPE: {
    accepts: 'one or more space-separated scope tokens, e.g. collect',
    schema: z.string().refine(isScopeList).default('collect'),
  },
  CLOCK_TOLERANCE: {
    accepts: 'a duration up to 5m: seconds (5) or a number with a unit s, m (5s, 1m)',
    schema: duration(300).default(5),
  },
  LOG_LEVEL: {
    accepts: LOG_LEVELS.join(', '),
    schema: z.enum(LOG_LEVELS).default('info'),
  },
  TRUST_PROXY: {
    accepts: 'true, false, a hop count, or comma-separated addresses/subnets (e.g. loopback, 10.0.0.0/8)',
    schema: z
      .string()
      .refine((value) => /^(true|false|\d+)$/.test(value) || isProxyList(value))
      .transform((value): boolean | number | string =>
        value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value,
      )
      .default(false),
  },
  CORS_ORIGINS: {
    accepts: 'comma-separated exact origins (scheme://host[:port], no path or trailing slash), e.g. http://localhost:4000, or unset for no CORS',
    schema: z
      .string()
      .refine(isOriginList)
      .transform((value) => value.split(',').map((origin) => origin.trim()))
      .default([]),
  },
} as const;

type FieldName = keyof typeof fields;

/**
 * Reads and validates the collector configuration (README "Collector"). Empty values count as unset.
 * @throws {@link ConfigError} naming the first invalid variable and what it accepts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): CollectorConfig {
  const values = {} as { [K in FieldName]: z.output<(typeof fields)[K]['schema']> };
  for (const name of Object.keys(fields) as FieldName[]) {
    const raw = env[name]?.trim();
    const result = fields[name].schema.safeParse(raw === '' ? undefined : raw);
    if (!result.success) throw new ConfigError(name, fields[name].accepts);
    (values as Record<FieldName, unknown>)[name] = result.data;
  }
  return {
    port: values.PORT,
    host: values.HOST,
    issuer: values.ISSUER,
    jwksUri: values.JWKS_URI,
    audience: values.AUDIENCE,
    requiredScope: values.REQUIRED_SCOPE,
    clockTolerance: values.CLOCK_TOLERANCE,
    logLevel: values.LOG_LEVEL,
    trustProxy: values.TRUST_PROXY,
    corsOrigins: values.CORS_ORIGINS,
  };
}
