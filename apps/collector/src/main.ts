import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { createHttpServer, createLogger, exitOnSignals, gracefulShutdown, loadConfigOrExit } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfigOrExit('collector', () => loadConfig());
const logger = createLogger({ service: 'collector', level: config.logLevel });

const verifier = createVerifier({
  issuer: config.issuer,
  audience: config.audience,
  jwksUri: config.jwksUri,
  clockTolerance: config.clockTolerance,
  maxDelegationDepth: config.maxDelegationDepth,
  onKeysetError: (error) => logger.warn({ event: 'jwks_unavailable', reason: error.message }, 'cannot fetch the signing keys'),
});

const app = createApp({ config, verifier, logger, registry: new Registry() });
const server = createHttpServer(app);

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

exitOnSignals(gracefulShutdown({ servers: [server], logger }));
