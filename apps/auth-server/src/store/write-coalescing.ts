import type { Redis } from 'ioredis';

/** Bytes a corked socket holds before they are written (Redis reads a client's input 16 KiB at a time). */
export const MAX_CORKED_BYTES = 16 * 1024;

/**
 * Makes a Redis connection send the commands it gets within one turn of the event loop in one socket
 * write: the first command of a turn corks the connection's socket, and the check phase of that turn
 * (`setImmediate`) uncorks it. This is the batching ioredis's `enableAutoPipelining` gives (Redis reads
 * the commands of concurrent requests at once; README "Scale beyond one machine") without its per-turn
 * `Pipeline`, whose own `length` getter V8 keeps in old space: it held every batched request's objects
 * past the young-generation GC, which cost about a tenth of /token's CPU and most of the heap's growth
 * (README "Performance").
 *
 * A turn's writes go out in pieces of about {@link MAX_CORKED_BYTES}, Redis's own read size: Redis starts
 * on the first piece while the rest of the turn is still being made (measured: 7% more /token grants a
 * second at 32 connections than one write per turn).
 *
 * Commands keep their order and their timeouts; only a connection that is ready is corked (handshake
 * commands go out at once). A socket that closes while corked fails its commands as any closed socket does.
 */
export function coalesceWrites(connection: Redis): void {
  const send = connection.sendCommand;
  let corked: Redis['stream'] | undefined;
  const flush = (): void => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  connection.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    if (corked === undefined && this.status === 'ready' && this.stream !== undefined && !this.stream.destroyed) {
      corked = this.stream;
      corked.cork();
      setImmediate(flush);
    }
    const result = send.apply(this, args);
    if (corked !== undefined && corked.writableLength >= MAX_CORKED_BYTES) {
      corked.uncork();
      corked.cork();
    }
    return result;
  };
}
