import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createApp } from './app.js';
import { ConfigError, loadConfig, type CollectorConfig } from './config.js';

const SHUTDOWN_GRACE_MS = 10_000;

function readConfig(): CollectorConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`collector: ${error.message}\n`);
    process.exit(1);
  }
}

const config = readConfig();
const logger = pino({
  name: 'collector',
  level: config.logLevel,
  redact: {
    paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'token', '*.token'],
    censor: '[redacted]',
  },
});

const verifier = createVerifier({
  issuer: config.issuer,
  audience: config.audience,
  jwksUri: config.jwksUri,
  clockTolerance: config.clockTolerance,
  onKeysetError: (error) => logger.warn({ event: 'jwks_unavailable', reason: error.message }, 'cannot fetch the signing keys'),
});

const app = createApp({ config, verifier, logger, registry: new Registry() });
const server = createServer(app);

server.once('error', (error) => {
  logger.fatal({ err: error }, 'cannot listen');
  process.exit(1);
});

server.listen(config.port, config.host, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, issuer: config.issuer, audience: config.audience }, 'collector listening');
  void verifier.refreshKeys().then((ready) => {
    if (ready) logger.info({ keys: verifier.stats.keys }, 'signing keys loaded');
    else logger.warn('signing keys unavailable: /collect answers 503 until the issuer is reachable');
  });
});

function shutdown(signal: NodeJS.Signals): void {
  logger.info({ signal }, 'shutting down');
  setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
  server.close(() => {
    logger.info('stopped');
    process.exit(0);
  });
  server.closeIdleConnections();
  setInterval(() => server.closeIdleConnections(), 100).unref();
}

process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
