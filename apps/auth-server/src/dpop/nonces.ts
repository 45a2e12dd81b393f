import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** SECONDS per nonce time step; a nonce is accepted in its step and the next (and the one before, for skew). */
export const NONCE_STEP = 300;

const derive = (secret: string) => Buffer.from(hkdfSync('sha256', secret, 'tessera', 'tessera dpop nonce v1', 32));

/**
 * Stateless DPoP server nonces (RFC 9449 §8): `base64url(step || HMAC-SHA256(key, step)[0..16])` where step is
 * the 300-second time step and the key is derived (HKDF-SHA256) from KEY_ENCRYPTION_SECRET, which every
 * instance shares. Any instance checks any instance's nonce without a store round trip. A nonce stays valid
 * until the end of the step after the one it was issued in (5 to 10 minutes); one of the step before is
 * accepted too (clocks of instances drift). While KEY_ENCRYPTION_SECRET changes, nonces made under
 * KEY_ENCRYPTION_SECRET_PREVIOUS are accepted as well.
 */
export class DpopNonces {
  readonly #keys: Buffer[];

  constructor(
    secret: string,
    previous: string | undefined,
    private readonly clock: () => number,
  ) {
    this.#keys = [derive(secret), ...(previous ? [derive(previous)] : [])];
  }

  #mac(key: Buffer, step: number): Buffer {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(step));
    return Buffer.concat([counter, createHmac('sha256', key).update(counter).digest().subarray(0, 16)]);
  }

  #step(): number {
    return Math.floor(this.clock() / 1000 / NONCE_STEP);
  }

  /** A nonce valid now and for at least NONCE_STEP seconds. */
  current(): string {
    return this.#mac(this.#keys[0]!, this.#step()).toString('base64url');
  }

  /** True when `nonce` was made by an instance sharing the secret within the accepted steps. */
  accepts(nonce: string | undefined): boolean {
    if (typeof nonce !== 'string' || nonce.length !== 32) return false;
    const presented = Buffer.from(nonce, 'base64url');
    if (presented.length !== 24) return false;
    const step = Number(presented.readBigUInt64BE(0));
    const now = this.#step();
    if (step < now - 1 || step > now + 1) return false;
    return this.#keys.some((key) => timingSafeEqual(this.#mac(key, step), presented));
  }
}
