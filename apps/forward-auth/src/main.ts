import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { createHttpServer, createLogger, exitOnSignals, gracefulShutdown, loadConfigOrExit } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

const config = loadConfigOrExit('forward-auth', () => loadConfig());
const logger = createLogger({ service: 'forward-auth', level: config.logLevel });

const verifier = createVerifier({
  issuer: config.issuer,
  // The verifier's own audience is only its default; /verify names the audience of each check.
  audience: config.audience ?? config.routes?.[0]?.audience ?? 'forward-auth',
  jwksUri: config.jwksUri,
  clockTolerance: config.clockTolerance,
  onKeysetError: (error) => logger.warn({ event: 'jwks_unavailable', reason: error.message }, 'cannot fetch the signing keys'),
});

const server = createHttpServer(createApp({ config, verifier, logger, registry: new Registry() }));
server.once('error', (error) => {
  logger.fatal({ err: error }, 'cannot listen');
  process.exit(1);
});

server.listen(config.port, config.host, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, issuer: config.issuer, routes: config.routes?.length ?? 0, routes_file: config.routesFile }, 'forward-auth listening');
  void verifier.refreshKeys().then((ready) => {
    if (ready) logger.info({ keys: verifier.stats.keys }, 'signing keys loaded');
    else logger.warn('signing keys unavailable: /verify answers 503 until the issuer is reachable');
  });
});

exitOnSignals(gracefulShutdown({ servers: [server], logger }));
