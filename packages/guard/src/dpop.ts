import { hash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type CryptoKey, type FlattenedJWSInput, type JWK, type JWSHeaderParameters } from 'jose';

/**
 * DPoP proof validation (RFC 9449 §4.3), framework-free. The auth server and the guard both call
 * {@link verifyDpopProof}; adapters hand it the method and the URL they computed for the request.
 */

/** JWS algorithms accepted for DPoP proofs by default (Tessera's asymmetric allowlist). */
export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;

/** Default number of SECONDS a proof's `iat` may lie in the past. */
export const DEFAULT_DPOP_PROOF_MAX_AGE = 60;

/** SECONDS a proof's `iat` may lie in the future (clock skew of the client). */
export const DPOP_PROOF_FUTURE_SKEW = 5;

/** Longest accepted proof, in characters (8 KiB). */
export const DPOP_PROOF_MAX_LENGTH = 8192;

/** Longest accepted `jti`, in characters. */
const MAX_JTI_LENGTH = 256;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Records proof `jti`s so each proof is accepted once. `use` resolves to true the first time a `jti` is
 * seen and false while it is still remembered; it must remember it until `expiresAt` (MILLISECONDS since
 * the epoch). An implementation shared by several instances makes a proof single-use across all of them.
 */
export interface DpopReplayStore {
  use(jti: string, expiresAt: number): Promise<boolean>;
}

/**
 * Why a proof was refused. `code` is `invalid_dpop_proof`, or `use_dpop_nonce` when only a current server
 * nonce was missing (the caller answers with a fresh `DPoP-Nonce`). The message never echoes the proof.
 */
export class DpopProofError extends Error {
  readonly code: 'invalid_dpop_proof' | 'use_dpop_nonce';

  constructor(description: string, code: 'invalid_dpop_proof' | 'use_dpop_nonce' = 'invalid_dpop_proof') {
    super(description);
    this.name = 'DpopProofError';
    this.code = code;
  }
}

/** Input of {@link verifyDpopProof}. */
export interface VerifyDpopProofInput {
  /** The value of the request's single `DPoP` header. */
  proof: string;
  /** The request method as received (compared exactly with `htm`). */
  method: string;
  /**
   * The absolute URL of the request as this server sees it (scheme, host and path; query and fragment are
   * ignored). Adapters compute it: from trusted proxy headers only, never from an unvalidated Host value.
   */
  url: string;
  /** The access token presented with the proof: then `ath` must be its base64url SHA-256. */
  accessToken?: string | undefined;
  /** Thumbprint the proof key must have (the token's `cnf.jkt`); checked before the `jti` is recorded. */
  jkt?: string | undefined;
  /** Current time, SECONDS since the epoch. Default now. */
  now?: number | undefined;
  /** SECONDS `iat` may lie in the past. Default 60. */
  maxAge?: number | undefined;
  /** Where `jti`s are recorded; recorded last, once every other check has passed. */
  replay: DpopReplayStore;
  /**
   * Server nonces: given the proof's `nonce` claim (undefined when absent), true when it is acceptable.
   * When it returns false the proof fails with code `use_dpop_nonce` and its `jti` is not recorded.
   */
  nonce?: ((nonce: string | undefined) => boolean) | undefined;
  /** Accepted proof algorithms. Default {@link DEFAULT_DPOP_ALGORITHMS}. */
  algorithms?: readonly string[] | undefined;
}

/** What a valid proof established. */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key (base64url): the value of `cnf.jkt`. */
  jkt: string;
  /** The proof's public key. */
  jwk: JWK;
  jti: string;
  /** SECONDS since the epoch. */
  iat: number;
}

/** base64url(SHA-256(access token)): the `ath` of a proof sent with that token. */
export const accessTokenHash = (token: string): string => hash('sha256', token, 'base64url');

/**
 * The comparable form of an `htu` or request URL: scheme and host lower-cased (by URL parsing), default port
 * dropped, path kept as is, query and fragment removed. Undefined when it is not an absolute http(s) URL.
 */
export function normalizeHtu(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function describe(error: unknown): string {
  if (error instanceof DpopProofError) return error.message;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the DPoP proof algorithm is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the DPoP proof signature is invalid';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'the DPoP proof type (typ) must be dpop+jwt';
    if (error.reason === 'missing') return `the DPoP proof lacks the ${error.claim} claim`;
    return `the DPoP proof has an invalid ${error.claim} claim`;
  }
  if (error instanceof errors.JWTExpired) return 'the DPoP proof has expired';
  if (error instanceof errors.JOSENotSupported) return 'the DPoP proof key is not supported';
  return 'the DPoP proof is malformed';
}

function checkHeader(proof: string, algorithms: readonly string[]): JWK {
  if (proof.length > DPOP_PROOF_MAX_LENGTH) throw new DpopProofError(`the DPoP proof is longer than ${DPOP_PROOF_MAX_LENGTH} characters`);
  if (!TOKEN68.test(proof) || proof.split('.').length !== 3) throw new DpopProofError('the DPoP proof is not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw new DpopProofError('the DPoP proof is not a compact JWS');
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') {
    throw new DpopProofError('the DPoP proof type (typ) must be dpop+jwt');
  }
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    throw new DpopProofError('the DPoP proof algorithm is not allowed');
  }
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new DpopProofError('the DPoP proof has no jwk header');
  if (PRIVATE_MEMBERS.some((name) => Object.hasOwn(jwk, name))) {
    throw new DpopProofError('the DPoP proof jwk must be a public key (it carries private members)');
  }
  for (const name of ['jku', 'x5u', 'x5c'] as const) {
    if (Object.hasOwn(header, name)) throw new DpopProofError(`the DPoP proof header must not carry ${name}`);
  }
  return jwk as JWK;
}

/** Most proof keys kept imported at once (a client signs all its proofs with one key). */
const PROOF_KEY_CACHE_SIZE = 1000;
const proofKeys = new Map<string, CryptoKey>();
const thumbprints = new Map<string, string>();

function remember<T>(map: Map<string, T>, id: string, value: T): T {
  if (map.size >= PROOF_KEY_CACHE_SIZE) map.delete(map.keys().next().value!);
  map.set(id, value);
  return value;
}

/**
 * jose's EmbeddedJWK, remembered: its result depends only on the header's `alg` and `jwk`, so a key
 * imported once is reused for later proofs with the same `alg` and the same `jwk` header (as sent), instead
 * of a WebCrypto import per proof. Every proof's signature is still verified; a failed import is not kept.
 */
async function embeddedKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
  const id = `${String(header.alg)}|${JSON.stringify(header.jwk)}`;
  return proofKeys.get(id) ?? remember(proofKeys, id, await EmbeddedJWK(header, token));
}

/** The RFC 7638 thumbprint of a proof key, remembered by the `jwk` header as sent. */
async function thumbprint(jwk: JWK): Promise<string> {
  const id = JSON.stringify(jwk);
  return thumbprints.get(id) ?? remember(thumbprints, id, await calculateJwkThumbprint(jwk, 'sha256'));
}

/**
 * Validates a DPoP proof per RFC 9449 §4.3 and records its `jti`; returns the proof key's thumbprint.
 * Checks, in order: length (8 KiB), compact JWS, `typ` dpop+jwt, `alg` in the allowlist, a public `jwk`
 * header that verifies the signature, `htm`, `htu`, `iat` window (`maxAge` in the past, 5 s ahead), `jti`,
 * `ath` (with `accessToken`), the key thumbprint (with `jkt`), the nonce (with `nonce`), then the replay store.
 * @throws {@link DpopProofError}; errors of the replay store propagate unchanged.
 */
export async function verifyDpopProof(input: VerifyDpopProofInput): Promise<DpopProof> {
  const algorithms = input.algorithms ?? DEFAULT_DPOP_ALGORITHMS;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  const maxAge = input.maxAge ?? DEFAULT_DPOP_PROOF_MAX_AGE;
  if (typeof input.proof !== 'string' || input.proof.length === 0) throw new DpopProofError('the DPoP proof is empty');
  const jwk = checkHeader(input.proof, algorithms);

  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(input.proof, embeddedKey, {
      typ: 'dpop+jwt',
      algorithms: [...algorithms],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      currentDate: new Date(now * 1000),
      clockTolerance: DPOP_PROOF_FUTURE_SKEW,
    }));
  } catch (error) {
    throw new DpopProofError(describe(error));
  }
  const { htm, htu, iat, jti, ath } = payload;
  if (htm !== input.method) throw new DpopProofError('the DPoP proof htm does not match the request method');
  const expected = normalizeHtu(input.url);
  if (typeof htu !== 'string' || expected === undefined || normalizeHtu(htu) !== expected) {
    throw new DpopProofError('the DPoP proof htu does not match the request URL');
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new DpopProofError('the DPoP proof has an invalid iat claim');
  if (iat < now - maxAge) throw new DpopProofError('the DPoP proof is too old (iat)');
  if (iat > now + DPOP_PROOF_FUTURE_SKEW) throw new DpopProofError('the DPoP proof was issued in the future (iat)');
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
    throw new DpopProofError('the DPoP proof has an invalid jti claim');
  }
  if (input.accessToken !== undefined) {
    if (typeof ath !== 'string') throw new DpopProofError('the DPoP proof lacks the ath claim');
    if (ath !== accessTokenHash(input.accessToken)) throw new DpopProofError('the DPoP proof ath does not match the access token');
  }
  let jkt: string;
  try {
    jkt = await thumbprint(jwk);
  } catch {
    throw new DpopProofError('the DPoP proof jwk is not a usable key');
  }
  if (input.jkt !== undefined && jkt !== input.jkt) {
    throw new DpopProofError('the DPoP proof key does not match the key the access token is bound to');
  }
  if (input.nonce !== undefined) {
    const nonce = payload.nonce;
    if (nonce !== undefined && typeof nonce !== 'string') throw new DpopProofError('the DPoP proof has an invalid nonce claim');
    if (!input.nonce(nonce)) {
      throw new DpopProofError(nonce === undefined ? 'a DPoP nonce is required' : 'the DPoP nonce is not current', 'use_dpop_nonce');
    }
  }
  if (!(await input.replay.use(jti, (iat + maxAge + DPOP_PROOF_FUTURE_SKEW) * 1000))) {
    throw new DpopProofError('the DPoP proof was already used (jti)');
  }
  const { kty, crv, x, y, n, e } = jwk;
  return { jkt, jwk: Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JWK, jti, iat };
}

/** Default {@link MemoryDpopReplayStore} capacity. */
export const DEFAULT_DPOP_REPLAY_CACHE_SIZE = 100_000;

/**
 * A bounded in-memory {@link DpopReplayStore} for one process. Expired entries are pruned as new ones
 * arrive; when `maxEntries` unexpired entries are held, the oldest is dropped (size it above your proof
 * rate times the proof window). Several instances need a shared store: {@link redisDpopReplayStore}.
 */
export class MemoryDpopReplayStore implements DpopReplayStore {
  readonly #entries = new Map<string, number>();
  readonly #maxEntries: number;

  /** @param maxEntries - most `jti`s remembered at once. Default 100000. */
  constructor(maxEntries = DEFAULT_DPOP_REPLAY_CACHE_SIZE) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries <= 0) throw new TypeError('"maxEntries" must be a positive integer');
    this.#maxEntries = maxEntries;
  }

  /** Number of `jti`s currently remembered. */
  get size(): number {
    return this.#entries.size;
  }

  async use(jti: string, expiresAt: number): Promise<boolean> {
    const now = Date.now();
    const seen = this.#entries.get(jti);
    if (seen !== undefined && seen > now) return false;
    if (seen !== undefined) this.#entries.delete(jti);
    if (expiresAt <= now) return true;
    this.#prune(now);
    this.#entries.set(jti, expiresAt);
    return true;
  }

  /** Entries arrive roughly in expiry order: drop expired ones from the front, and the oldest while full. */
  #prune(now: number): void {
    for (const [jti, expiresAt] of this.#entries) {
      if (expiresAt > now && this.#entries.size < this.#maxEntries) break;
      this.#entries.delete(jti);
    }
  }
}

/**
 * The subset of a Redis client (ioredis, node-redis v4+ `sendCommand` wrappers…) that
 * {@link redisDpopReplayStore} needs: `SET key value PXAT ms NX`, resolving to `'OK'` when the key was set.
 */
export interface RedisSetNx {
  set(key: string, value: string, pxat: 'PXAT', at: number, nx: 'NX'): Promise<string | null | undefined>;
}

/**
 * A {@link DpopReplayStore} on Redis, shared by every instance that uses the same Redis and `prefix`: one
 * `SET <prefix><sha256(jti)> 1 PXAT <expiresAt> NX` per proof, so each key expires with the proof window.
 * The guard does not depend on a Redis client: pass your own (e.g. an ioredis instance).
 * @param prefix - key prefix. Default `"dpop-jti:"`.
 */
export function redisDpopReplayStore(client: RedisSetNx, prefix = 'dpop-jti:'): DpopReplayStore {
  if (typeof client?.set !== 'function') throw new TypeError('"client" must have a set(key, value, "PXAT", ms, "NX") method');
  if (typeof prefix !== 'string') throw new TypeError('"prefix" must be a string');
  return {
    async use(jti, expiresAt) {
      if (expiresAt <= Date.now()) return true;
      const key = `${prefix}${hash('sha256', jti, 'base64url')}`;
      return (await client.set(key, '1', 'PXAT', Math.ceil(expiresAt), 'NX')) === 'OK';
    },
  };
}
