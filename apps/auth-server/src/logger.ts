import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths that could carry a credential; pino replaces them before anything is written. */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
  '*.password',
  'client_secret',
  'refresh_token',
  'access_token',
];

/** JSON logs to stdout (or `destination`), credentials redacted. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'auth-server' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
