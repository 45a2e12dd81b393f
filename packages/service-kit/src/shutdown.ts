import type { Server } from 'node:http';
import type { Logger } from 'pino';

/** Options of {@link gracefulShutdown}. */
export interface ShutdownOptions {
  /** the listening servers; they stop accepting at once and close when their in-flight requests are done */
  servers: readonly Server[];
  logger: Logger;
  /** closed after every server has closed (stores, connections); awaited */
  closeResources?: (() => Promise<void> | void) | undefined;
  /** called first, synchronously (stop timers, background work) */
  beforeClose?: (() => void) | undefined;
  /** ms to wait for in-flight requests and resources before giving up; default 10000 */
  graceMs?: number | undefined;
}

/**
 * Makes the one shutdown sequence of the apps: log `shutting down`, stop accepting connections, let the
 * requests in flight finish while idle keep-alive connections are closed (now and every 100 ms, so a
 * connection that finishes its request is not kept open), then close the resources and log `stopped`.
 * The returned function is idempotent and resolves true on a clean stop, false when `graceMs` passed or
 * closing failed.
 */
export function gracefulShutdown({ servers, logger, closeResources, beforeClose, graceMs = 10_000 }: ShutdownOptions): (reason: string) => Promise<boolean> {
  let running: Promise<boolean> | undefined;
  return (reason) =>
    (running ??= (async () => {
      logger.info({ signal: reason }, 'shutting down');
      beforeClose?.();
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
        timer.unref();
      });
      const closeIdle = () => servers.forEach((s) => s.closeIdleConnections());
      const sweeper = setInterval(closeIdle, 100);
      sweeper.unref();
      const stop = (async () => {
        const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
        closeIdle();
        await closed;
        clearInterval(sweeper);
        await closeResources?.();
        return true as const;
      })().catch((error: unknown) => {
        logger.error({ err: { message: (error as Error).message } }, 'shutdown failed');
        return false as const;
      });
      const clean = await Promise.race([stop, expired]);
      clearTimeout(timer);
      clearInterval(sweeper);
      if (clean) logger.info('stopped');
      else logger.warn({ grace_ms: graceMs }, 'shutdown did not finish cleanly');
      return clean;
    })());
}

/** Runs `shutdown` on SIGTERM and SIGINT, then exits 0 on a clean stop and 1 otherwise. */
export function exitOnSignals(shutdown: (signal: string) => Promise<boolean>): void {
  const handle = (signal: NodeJS.Signals) => {
    void shutdown(signal).then((clean) => process.exit(clean ? 0 : 1));
  };
  process.once('SIGTERM', handle);
  process.once('SIGINT', handle);
}
