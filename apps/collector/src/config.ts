import { ConfigError, configVar, loadEnv, type LogLevel } from '@tessera/service-kit';
import { z } from 'zod';

export { ConfigError };

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
  logLevel: LogLevel;
  trustProxy: boolean | number | string;
  /** Origins answered with CORS headers on /collect; empty: no CORS at all. */
  corsOrigins: string[];
  /** `allowed`: Bearer and DPoP-bound tokens; `required`: only DPoP-bound tokens with a proof (README "DPoP"). */
  dpop: 'allowed' | 'required';
  /** Most `act` levels (token-exchange hops) a token may carry; Infinity = no limit. */
  maxDelegationDepth: number;
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

const schema = {
  PORT: configVar.port().default(4001),
  HOST: configVar.host().default('127.0.0.1'),
  ISSUER: configVar.httpUrl().default('http://localhost:4000'),
  JWKS_URI: configVar.httpUrl().optional(),
  AUDIENCE: z.string().min(1, 'a non-empty string').default('collector'),
  REQUIRED_SCOPE: configVar.scopeList().default('collect'),
  CLOCK_TOLERANCE: configVar.duration({ max: 300 }).default(5),
  LOG_LEVEL: configVar.logLevel().default('info'),
  TRUST_PROXY: configVar.trustProxy().default(false),
  CORS_ORIGINS: z
    .string()
    .refine(
      isOriginList,
      'comma-separated exact origins (scheme://host[:port], no path or trailing slash), e.g. http://localhost:4000, or unset for no CORS',
    )
    .transform((value) => value.split(',').map((origin) => origin.trim()))
    .default([]),
  DPOP: z.enum(['allowed', 'required'], { message: 'allowed (Bearer and DPoP tokens) or required (only DPoP-bound tokens with a proof)' }).default('allowed'),
  MAX_DELEGATION_DEPTH: z
    .string()
    .trim()
    .regex(/^\d{1,3}$/, 'an integer >= 0 (0: no exchanged tokens, 1: exchanged once), or unset for no limit')
    .transform(Number)
    .optional(),
};

/**
 * Reads and validates the collector configuration (README "Collector"). Empty values count as unset.
 * @throws {@link ConfigError} naming the first invalid variable and what it accepts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): CollectorConfig {
  const e = loadEnv(schema, env);
  return {
    port: e.PORT,
    host: e.HOST,
    issuer: e.ISSUER,
    jwksUri: e.JWKS_URI,
    audience: e.AUDIENCE,
    requiredScope: e.REQUIRED_SCOPE,
    clockTolerance: e.CLOCK_TOLERANCE,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    dpop: e.DPOP,
    maxDelegationDepth: e.MAX_DELEGATION_DEPTH ?? Infinity,
  };
}
