import { readFileSync } from 'node:fs';
import { normalizeScopes } from '@tessera/guard';
import { ConfigError, configVar, loadEnv, type LogLevel } from '@tessera/service-kit';
import { z } from 'zod';
import { parseRoutes, RoutesFileError, type RouteRule } from './routes.js';

/** Validated forward-auth configuration (README "Forward auth"). Durations are in seconds. */
export interface ForwardAuthConfig {
  port: number;
  host: string;
  issuer: string;
  /** Unset: read from the issuer's RFC 8414 metadata. */
  jwksUri: string | undefined;
  /** Without ROUTES_FILE: the `aud` every request needs. With it: the audience of rules naming none. */
  audience: string | undefined;
  /** Without ROUTES_FILE: the scopes every request needs. */
  requiredScopes: string[];
  clockTolerance: number;
  /** `allowed`: Bearer and DPoP tokens; `required`: only DPoP-bound tokens with a proof. */
  dpop: 'allowed' | 'required';
  trustProxy: boolean | number | string;
  /** The rules of ROUTES_FILE; undefined when it is unset. */
  routes: RouteRule[] | undefined;
  routesFile: string | undefined;
  logLevel: LogLevel;
}

const shape = {
  PORT: configVar.port().default(4002),
  HOST: configVar.host().default('127.0.0.1'),
  ISSUER: configVar.httpUrl().default('http://localhost:4000'),
  JWKS_URI: configVar.httpUrl().optional(),
  AUDIENCE: z.string().trim().min(1, 'a non-empty string').optional(),
  REQUIRED_SCOPE: configVar.scopeList().optional(),
  CLOCK_TOLERANCE: configVar.duration({ max: 300 }).default(5),
  DPOP: z.enum(['allowed', 'required'], 'allowed or required').default('allowed'),
  TRUST_PROXY: configVar.trustProxy().default(false),
  ROUTES_FILE: z.string().trim().optional(),
  LOG_LEVEL: configVar.logLevel().default('info'),
};

function readRoutes(file: string, audience: string | undefined): RouteRule[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('ROUTES_FILE', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new ConfigError('ROUTES_FILE', `${file} is not valid JSON`);
  }
  try {
    return parseRoutes(document, audience);
  } catch (error) {
    if (error instanceof RoutesFileError) throw new ConfigError('ROUTES_FILE', `${file}: ${error.message}`);
    throw error;
  }
}

/**
 * Reads and validates the forward-auth configuration. Empty values count as unset. Without
 * ROUTES_FILE, AUDIENCE and REQUIRED_SCOPE are required; with it, REQUIRED_SCOPE is refused (scopes
 * belong on the rules) and AUDIENCE is the audience of rules that name none.
 * @throws ConfigError naming the first invalid variable and what it accepts.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): ForwardAuthConfig {
  const values = loadEnv(shape, env);
  let routes: RouteRule[] | undefined;
  if (values.ROUTES_FILE === undefined) {
    if (values.AUDIENCE === undefined) throw ConfigError.invalid('AUDIENCE', 'a non-empty string (required unless ROUTES_FILE is set)');
    if (values.REQUIRED_SCOPE === undefined) {
      throw ConfigError.invalid('REQUIRED_SCOPE', 'one or more space-separated scope tokens (required unless ROUTES_FILE is set)');
    }
  } else {
    if (values.REQUIRED_SCOPE !== undefined) {
      throw new ConfigError('REQUIRED_SCOPE', 'not used with ROUTES_FILE: put the scopes on the rules');
    }
    routes = readRoutes(values.ROUTES_FILE, values.AUDIENCE);
  }
  return {
    port: values.PORT,
    host: values.HOST,
    issuer: values.ISSUER,
    jwksUri: values.JWKS_URI,
    audience: values.AUDIENCE,
    requiredScopes: values.REQUIRED_SCOPE === undefined ? [] : normalizeScopes(values.REQUIRED_SCOPE),
    clockTolerance: values.CLOCK_TOLERANCE,
    dpop: values.DPOP,
    trustProxy: values.TRUST_PROXY,
    routes,
    routesFile: values.ROUTES_FILE,
    logLevel: values.LOG_LEVEL,
  };
}
