import {
  GuardError,
  InsufficientScopeError,
  InvalidDpopProofError,
  InvalidRequestError,
  InvalidTokenError,
  MissingTokenError,
  type ChallengeContext,
  type DpopMode,
} from './errors.js';
import {
  DEFAULT_DPOP_ALGORITHMS,
  DEFAULT_DPOP_PROOF_MAX_AGE,
  DpopProofError,
  MemoryDpopReplayStore,
  verifyDpopProof,
  type DpopReplayStore,
} from './dpop.js';
import { normalizeScopes, SUPPORTED_ALGORITHMS, type AccessTokenClaims, type Verifier, type VerifyOptions } from './verifier.js';

/** A request's credentials as an adapter (express, fastify, node:http…) read them. */
export interface CredentialRequest {
  /** The request method, e.g. `GET`. */
  method: string;
  /**
   * The absolute URL of the request as this server sees it, e.g. `https://api.example/collect?x=1`. The
   * adapter builds it from the scheme and host it trusts (forwarded headers only behind a trusted proxy)
   * and the full original path, never from an unvalidated Host value.
   */
  url: string;
  /** Every `Authorization` header value, in order (`[]` when there is none). */
  authorization: readonly string[];
  /** Every `DPoP` header value, in order (`[]` when there is none). */
  dpop: readonly string[];
}

/** What a successful {@link RequestAuthenticator.authenticate} returns. */
export interface AuthResult {
  /** The verified claims (`cnf` included for a DPoP-bound token). */
  claims: AccessTokenClaims;
  /** The raw access token, e.g. to forward downstream. Never log it. */
  token: string;
  /** The scheme the token came with. */
  scheme: 'Bearer' | 'DPoP';
  /** The thumbprint of the key the token is bound to (DPoP only). */
  jkt?: string | undefined;
}

/** Options of {@link createRequestAuthenticator}. */
export interface RequestAuthenticatorOptions {
  /** The verifier of the access tokens. */
  verifier: Verifier;
  /**
   * Which schemes are accepted. `allowed` (default): `Bearer` for unbound tokens and `DPoP` (with a proof)
   * for DPoP-bound ones; `required`: only `DPoP`; `disabled`: only `Bearer`. In every mode a token bound
   * with `cnf.jkt` is refused under `Bearer`.
   */
  dpop?: DpopMode | undefined;
  /**
   * Where proof `jti`s are recorded. Default: a bounded in-memory {@link MemoryDpopReplayStore} of this
   * process. Several instances behind one name need a shared one, e.g. `redisDpopReplayStore(redis)`.
   */
  replayStore?: DpopReplayStore | undefined;
  /** SECONDS a proof's `iat` may lie in the past. Default 60. */
  proofMaxAge?: number | undefined;
  /** Accepted proof algorithms (also the `algs` of the challenge). Default ES256, ES384, EdDSA, RS256, PS256. */
  proofAlgorithms?: readonly string[] | undefined;
}

/** Per-call options of {@link RequestAuthenticator.authenticate}. */
export interface AuthenticateOptions {
  /** Scopes the token must all carry (array or space-separated string). */
  scopes?: string | readonly string[] | undefined;
  /** Audiences accepted for this call (see {@link VerifyOptions.audience}). Default: the verifier's. */
  audience?: VerifyOptions['audience'];
}

/** Framework-free request authentication: the `Authorization` scheme, the token and, for DPoP, the proof. */
export interface RequestAuthenticator {
  /** The verifier used. */
  readonly verifier: Verifier;
  /** The configured mode. */
  readonly dpop: DpopMode;
  /**
   * Authenticates one request.
   * @throws a {@link GuardError} (400, 401, 403 or 503) whose `scheme` names the scheme the request used;
   *   answer with `status`, {@link RequestAuthenticator.errorHeaders} and `toJSON()`.
   */
  authenticate(request: CredentialRequest, options?: AuthenticateOptions): Promise<AuthResult>;
  /** Response headers for an error of `authenticate` (RFC 6750 / RFC 9449 §7.1 challenges, `Retry-After`). */
  errorHeaders(error: GuardError, realm: string): Record<string, string>;
}

/** RFC 7235 token68. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const MODES: readonly DpopMode[] = ['allowed', 'required', 'disabled'];
const schemeOf = new WeakMap<GuardError, 'Bearer' | 'DPoP'>();

interface Cnf {
  jkt?: unknown;
  [member: string]: unknown;
}

function parseAuthorization(values: readonly string[], mode: DpopMode): { scheme: 'Bearer' | 'DPoP'; token: string } {
  if (values.length > 1) throw new InvalidRequestError('the request carries more than one Authorization header');
  const header = values[0];
  if (header === undefined) throw new MissingTokenError();
  const match = /^(\S+)(?: +(.*))?$/.exec(header.trim());
  const name = match?.[1]?.toLowerCase();
  const scheme = name === 'bearer' ? 'Bearer' : name === 'dpop' && mode !== 'disabled' ? 'DPoP' : undefined;
  if (scheme === undefined) {
    throw new InvalidRequestError(`the Authorization header must use the ${mode === 'disabled' ? 'Bearer' : 'Bearer or DPoP'} scheme`);
  }
  const token = match?.[2] ?? '';
  if (!TOKEN68.test(token)) throw new InvalidRequestError(`the Authorization header must carry exactly one ${scheme} token`);
  return { scheme, token };
}

function boundKey(claims: AccessTokenClaims): string | undefined {
  const cnf = claims.cnf as Cnf | undefined;
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new InvalidTokenError('the access token has an invalid cnf claim');
  if (cnf.jkt === undefined) {
    if (Object.keys(cnf).length > 0) throw new InvalidTokenError('the access token is bound by a confirmation method this resource cannot check');
    return undefined;
  }
  if (typeof cnf.jkt !== 'string' || cnf.jkt.length === 0) throw new InvalidTokenError('the access token has an invalid cnf.jkt claim');
  return cnf.jkt;
}

class Authenticator implements RequestAuthenticator {
  readonly verifier: Verifier;
  readonly dpop: DpopMode;
  readonly #replay: DpopReplayStore;
  readonly #maxAge: number;
  readonly #algorithms: readonly string[];

  constructor(options: RequestAuthenticatorOptions) {
    if (typeof options?.verifier?.verify !== 'function') throw new TypeError('"verifier" must be a Verifier');
    const { dpop = 'allowed', replayStore, proofMaxAge = DEFAULT_DPOP_PROOF_MAX_AGE, proofAlgorithms } = options;
    if (!MODES.includes(dpop)) throw new TypeError('"dpop" must be "allowed", "required" or "disabled"');
    if (replayStore !== undefined && typeof replayStore?.use !== 'function') throw new TypeError('"replayStore" must have a use(jti, expiresAt) method');
    if (typeof proofMaxAge !== 'number' || !Number.isFinite(proofMaxAge) || proofMaxAge <= 0) {
      throw new TypeError('"proofMaxAge" must be a positive number of seconds');
    }
    if (proofAlgorithms !== undefined) {
      const ok = Array.isArray(proofAlgorithms) && proofAlgorithms.length > 0;
      if (!ok || proofAlgorithms.some((alg) => !(SUPPORTED_ALGORITHMS as readonly unknown[]).includes(alg))) {
        throw new TypeError(`"proofAlgorithms" must be a non-empty array of ${SUPPORTED_ALGORITHMS.join(', ')}`);
      }
    }
    this.verifier = options.verifier;
    this.dpop = dpop;
    this.#replay = replayStore ?? new MemoryDpopReplayStore();
    this.#maxAge = proofMaxAge;
    this.#algorithms = [...(proofAlgorithms ?? DEFAULT_DPOP_ALGORITHMS)];
  }

  async authenticate(request: CredentialRequest, options: AuthenticateOptions = {}): Promise<AuthResult> {
    const scopes = normalizeScopes(options.scopes);
    let scheme: 'Bearer' | 'DPoP' | undefined;
    try {
      const parsed = parseAuthorization(request.authorization, this.dpop);
      scheme = parsed.scheme;
      const result = await this.#check(request, parsed.scheme, parsed.token, options.audience);
      if (scopes.length > 0) {
        const granted = new Set((result.claims.scope ?? '').split(' '));
        if (scopes.some((scope) => !granted.has(scope))) throw new InsufficientScopeError(scopes);
      }
      return result;
    } catch (error) {
      if (error instanceof GuardError && scheme !== undefined) schemeOf.set(error, scheme);
      throw error;
    }
  }

  async #check(request: CredentialRequest, scheme: 'Bearer' | 'DPoP', token: string, audience: VerifyOptions['audience']): Promise<AuthResult> {
    if (scheme === 'Bearer') {
      if (this.dpop === 'required') throw new InvalidTokenError('this resource requires a DPoP-bound access token and a DPoP proof');
      const claims = await this.verifier.verify(token, { audience });
      if (boundKey(claims) !== undefined) {
        throw new InvalidTokenError('the access token is DPoP-bound: present it with the DPoP scheme and a proof');
      }
      return { claims, token, scheme };
    }
    if (request.dpop.length !== 1) {
      throw new InvalidDpopProofError(request.dpop.length === 0 ? 'a DPoP proof is required' : 'the request must carry exactly one DPoP header');
    }
    const claims = await this.verifier.verify(token, { audience });
    const jkt = boundKey(claims);
    if (jkt === undefined) throw new InvalidTokenError('the access token is not DPoP-bound: present it with the Bearer scheme');
    try {
      await verifyDpopProof({
        proof: request.dpop[0]!,
        method: request.method,
        url: request.url,
        accessToken: token,
        jkt,
        maxAge: this.#maxAge,
        replay: this.#replay,
        algorithms: this.#algorithms,
      });
    } catch (error) {
      if (error instanceof DpopProofError) throw new InvalidDpopProofError(error.message);
      throw error;
    }
    return { claims, token, scheme, jkt };
  }

  errorHeaders(error: GuardError, realm: string): Record<string, string> {
    const context: ChallengeContext = { dpop: this.dpop, algorithms: this.#algorithms, scheme: schemeOf.get(error) };
    return error.headers(realm, context);
  }
}

/**
 * Creates a framework-free authenticator over a {@link Verifier}; adapters pass it the request's method,
 * URL and headers ({@link CredentialRequest}). Options are checked here, once.
 * @throws TypeError naming the offending option.
 */
export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  return new Authenticator(options);
}
