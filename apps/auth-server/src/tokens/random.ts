import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/**
 * `bytes` fresh bytes from the CSPRNG as base64url. Draws from a 4 KiB buffer refilled by randomFillSync, the
 * way Node buffers randomUUID: one OpenSSL call per ~100 tokens instead of one per token. Every byte is
 * handed out once; the buffer is overwritten on refill.
 */
export function randomBase64url(bytes: number): string {
  if (bytes > POOL_SIZE) throw new RangeError('too many random bytes');
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const value = pool.toString('base64url', offset, offset + bytes);
  pool.fill(0, offset, offset + bytes);
  offset += bytes;
  return value;
}
