import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { walkthrough } from './walkthrough.js';

/** Most worker processes WORKERS accepts. */
export const MAX_WORKERS = 64;
/** A worker that dies sooner than this after it was forked counts as a failed start. */
const QUICK_DEATH_MS = 5000;
/** Failed starts in a row after which the primary gives up instead of forking again. */
const MAX_QUICK_DEATHS = 3;
/** ms the primary waits for its workers to finish in-flight requests at shutdown. */
const SHUTDOWN_GRACE_MS = 15_000;

export class WorkersError extends Error {
  override name = 'WorkersError';
}

/** WORKERS: unset, empty or 1 = one process (no cluster); `auto` = one per CPU; else 1-64. */
export function parseWorkers(value: string | undefined, cpus = availableParallelism()): number {
  if (value === undefined || value === '') return 1;
  if (value === 'auto') return Math.max(1, Math.min(cpus, MAX_WORKERS));
  if (!/^\d{1,2}$/.test(value) || Number(value) < 1 || Number(value) > MAX_WORKERS) {
    throw new WorkersError(`WORKERS: invalid value; expected a number of processes 1-${MAX_WORKERS} or auto`);
  }
  return Number(value);
}

/**
 * Values every worker must agree on that a single process would generate for itself: the key
 * encryption secret (else keys one worker stores cannot be read by another) and, in development, the
 * bootstrap admin client. Generated once here and handed to every worker in its environment.
 */
function sharedDevelopmentSettings(env: NodeJS.ProcessEnv): { env: Record<string, string>; admin?: { id: string; secret: string } } {
  const shared: Record<string, string> = {};
  if (!env.KEY_ENCRYPTION_SECRET) shared.KEY_ENCRYPTION_SECRET = randomBytes(32).toString('base64url');
  if (env.ADMIN_CLIENT_ID) return { env: shared };
  const admin = { id: `admin-${randomBytes(6).toString('base64url')}`, secret: randomBytes(32).toString('base64url') };
  shared.ADMIN_CLIENT_ID = admin.id;
  shared.ADMIN_CLIENT_SECRET = admin.secret;
  return { env: shared, admin };
}

/**
 * Runs the auth server in WORKERS processes sharing its listening port(s) through node:cluster, or runs
 * `start` right here when WORKERS is unset or 1, or when this process is itself a worker.
 *
 * Workers share all state through Redis, so WORKERS > 1 needs REDIS_URL or REDIS_CLUSTER_NODES. The
 * primary serves nothing: it validates the configuration, forks, replaces a worker that dies (giving
 * up after three that die within 5 s of their start), and on SIGTERM/SIGINT passes the signal on and
 * exits when every worker has drained. Each worker keeps its own Prometheus registry: /metrics shows the
 * worker that answered it.
 */
export function runWorkers(start: () => unknown, env: NodeJS.ProcessEnv = process.env): void {
  if (cluster.isWorker) {
    start();
    return;
  }
  let workers: number;
  try {
    workers = parseWorkers(env.WORKERS);
  } catch (error) {
    process.stderr.write(`auth-server: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (workers <= 1) {
    start();
    return;
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`auth-server: ${error.message}\n`);
    process.exit(1);
  }
  if (!config.redisUrl && !config.redisClusterNodes) {
    process.stderr.write('auth-server: WORKERS: more than one worker needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded store lives in one process)\n');
    process.exit(1);
  }
  const logger = createLogger(config.logLevel);
  const shared = sharedDevelopmentSettings(env);
  if (shared.env.KEY_ENCRYPTION_SECRET) {
    logger.warn('KEY_ENCRYPTION_SECRET is not set: generated one for these workers; signing keys stored now cannot be read after a restart');
  }

  let stopping = false;
  let quickDeaths = 0;
  let announced = false;
  const bornAt = new Map<Worker, number>();
  const fork = () => {
    const worker = cluster.fork(shared.env);
    bornAt.set(worker, Date.now());
    worker.once('listening', () => {
      quickDeaths = 0;
      if (!announced && shared.admin) {
        announced = true;
        process.stdout.write(walkthrough(config.issuer, shared.admin.id, shared.admin.secret, config.collectorUrl));
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (bornAt.get(worker) ?? 0);
    bornAt.delete(worker);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    quickDeaths = lived < QUICK_DEATH_MS ? quickDeaths + 1 : 0;
    if (quickDeaths >= MAX_QUICK_DEATHS) {
      logger.fatal({ event: 'worker_start_failed', code, signal }, 'workers keep dying right after they start; giving up');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    logger.error({ event: 'worker_exited', pid: worker.process.pid, code, signal }, 'a worker exited; starting another');
    fork();
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down workers');
    setTimeout(() => process.exit(1), SHUTDOWN_GRACE_MS).unref();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  logger.info({ workers }, 'starting workers');
  for (let i = 0; i < workers; i++) fork();
}
