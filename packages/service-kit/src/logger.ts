import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogLevel } from './config.js';

export type { Logger };

/** Paths that could carry a credential; pino replaces them with `[redacted]` before anything is written. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  '*.authorization',
  'token',
  '*.token',
  'client_secret',
  '*.client_secret',
  'refresh_token',
  '*.refresh_token',
  'access_token',
  '*.access_token',
  'password',
  '*.password',
];

let lastMs = Number.NaN;
let lastTime = '';
/** pino's `isoTime`, formatted once per millisecond: the access log writes a line per request. */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/**
 * pino-pretty, loaded on first use: a service writing JSON (production, anything not on a terminal) never
 * holds its code, about 0.9 MB of live heap.
 */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** the `service` field of every line, e.g. `auth-server` */
  service: string;
  /** default `info` */
  level?: LogLevel | undefined;
  /** where lines go; default stdout */
  destination?: DestinationStream | undefined;
  /**
   * human-readable lines (pino-pretty) instead of JSON; default: when no `destination` is given and
   * stdout is a TTY
   */
  pretty?: boolean | undefined;
}

/**
 * The one log format of Tessera's services: JSON lines `{"level":30,"time":"<ISO 8601>","service":...,"msg":...}`
 * (request lines add `req_id`), credentials redacted (see {@link REDACT_PATHS}). On a terminal the same
 * lines are printed readable by pino-pretty.
 */
export function createLogger(options: LoggerOptions): Logger {
  const usePretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = usePretty
    ? loadPretty()({ destination: options.destination ?? 1, translateTime: 'SYS:standard', ignore: 'service', messageFormat: '[{service}] {msg}', sync: true })
    : options.destination;
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: isoTime,
    },
    destination,
  );
}
