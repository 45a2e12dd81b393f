import type { Server } from 'node:http';
import { createHttpServer, createLogger, exitOnSignals, gracefulShutdown, loadConfigOrExit, type RequestListener } from '@tessera/service-kit';
import { createApp } from './app.js';
import { buildDeps, ensureAdminClient, startKeyMaintenance } from './bootstrap.js';
import { loadConfig, usesRedis } from './config.js';
import { KeyDecryptionError } from './keys/key-encryption.js';
import { walkthrough } from './walkthrough.js';

function listen(listener: RequestListener, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createHttpServer(listener);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('auth-server', () => loadConfig());
  const logger = createLogger({ service: 'auth-server', level: config.logLevel });
  if (!usesRedis(config)) {
    logger.warn('REDIS_URL is not set: using the embedded in-memory store; clients, keys and refresh tokens are lost at exit');
  } else if (!config.keyEncryptionSecret) {
    logger.warn('KEY_ENCRYPTION_SECRET is not set: generated one for this process; signing keys stored now cannot be read after a restart');
  }
  const deps = await buildDeps(config, { logger });
  const admin = await ensureAdminClient(deps);
  const stopKeys = startKeyMaintenance(deps);
  const apps = createApp(deps);
  const servers = [await listen(apps.public, config.port, config.host)];
  if (apps.admin && config.adminPort !== undefined) servers.push(await listen(apps.admin, config.adminPort, config.host));
  logger.info(
    { issuer: config.issuer, port: config.port, admin_port: config.adminPort ?? config.port, store: deps.store.kind, signing_alg: config.signingAlg },
    'auth server listening',
  );
  if (admin.generated) process.stdout.write(walkthrough(config.issuer, admin.clientId, admin.secret, config.collectorUrl));
  exitOnSignals(gracefulShutdown({ servers, logger, beforeClose: stopKeys, closeResources: () => deps.store.close() }));
}

main().catch((error: unknown) => {
  if (error instanceof KeyDecryptionError) {
    process.stderr.write(`auth-server: ${error.message}\n`);
  } else {
    process.stderr.write(`auth-server: failed to start: ${(error as Error).message}\n`);
  }
  process.exit(1);
});
