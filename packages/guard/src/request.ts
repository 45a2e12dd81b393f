import { createRequestAuthenticator, type AuthResult, type RequestAuthenticator, type RequestAuthenticatorOptions } from './authenticate.js';
import { InvalidRequestError, type GuardError } from './errors.js';
import { createVerifier, normalizeScopes, type Verifier, type VerifierOptions } from './verifier.js';

/**
 * The parts of an HTTP request the guard reads; every framework adapter (express, fastify, node:http)
 * fills these in from its own request object.
 */
export interface RequestParts {
  method: string;
  /** Header names and values as received (node's `rawHeaders`), so repeated headers are seen. */
  rawHeaders: readonly string[];
  /**
   * The absolute URL of the request as this server sees it (the DPoP `htu` it is compared with). Called
   * only when a DPoP proof is present; may throw {@link InvalidRequestError} for a request without a usable Host.
   */
  url: () => string;
  /** The parsed query string, if known. */
  query?: unknown;
  /** The parsed body, if the framework parsed it. */
  body?: unknown;
}

/** Options every adapter adds to the verifier's. */
export interface GuardGlueOptions {
  /** Scopes the token must all carry (array or space-separated string). Default none. */
  scopes?: string | readonly string[] | undefined;
  /** `realm` of the `WWW-Authenticate` challenge. Default: the verifier's audience. */
  realm?: string | undefined;
  /**
   * Accepted schemes: `allowed` (default: `Bearer` and `DPoP`), `required` (`DPoP` only) or `disabled`
   * (`Bearer` only). A DPoP-bound token (`cnf.jkt`) is refused under `Bearer` in every mode.
   */
  dpop?: RequestAuthenticatorOptions['dpop'];
  /** Where DPoP proof `jti`s are recorded. Default: bounded, in memory, per process. */
  dpopReplayStore?: RequestAuthenticatorOptions['replayStore'];
  /** SECONDS a DPoP proof's `iat` may lie in the past. Default 60. */
  dpopProofMaxAge?: number | undefined;
}

/** Options of every adapter: verifier options, or a prebuilt `verifier`, plus {@link GuardGlueOptions}. */
export type GuardOptions = GuardGlueOptions & (VerifierOptions | { verifier: Verifier });

/** A request authenticator bound to the scopes and realm of one protected resource: what every adapter runs. */
export interface RequestGuard {
  readonly verifier: Verifier;
  readonly authenticator: RequestAuthenticator;
  /** `realm` of every challenge. */
  readonly realm: string;
  /** The required scopes. */
  readonly scopes: readonly string[];
  /**
   * Reads the credentials of a request (one `Authorization`, `DPoP` proofs, no `access_token` parameter)
   * and authenticates them.
   * @throws a {@link GuardError} (400, 401, 403 or 503); answer with `status`, {@link RequestGuard.errorHeaders}
   *   and `toJSON()`.
   */
  authenticate(req: RequestParts): Promise<AuthResult>;
  /** `WWW-Authenticate` (RFC 6750 / RFC 9449 §7.1) or `Retry-After` for an error of {@link RequestGuard.authenticate}. */
  errorHeaders(error: GuardError): Record<string, string>;
}

/** A Host value: a registered name, IPv4 or bracketed IPv6 literal, and an optional port; nothing else (#244). */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::\d{1,5})?$/;

/**
 * `scheme://host` + `path` (the full request target), the URL a DPoP proof's `htu` is compared with.
 * @throws {@link InvalidRequestError} when the host is missing or is not a plain host[:port].
 */
export function absoluteUrl(scheme: string, host: string | undefined, path: string): string {
  if (typeof host !== 'string' || !HOST.test(host)) throw new InvalidRequestError('the request has no valid Host');
  return `${scheme}://${host}${path.startsWith('/') ? path : `/${path}`}`;
}

function hasMember(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name);
}

/** Every value of header `name` (lower case) in `rawHeaders`, in order. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const header = rawHeaders[i]!;
    if (header.length === name.length && header.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * Builds the framework-free request guard the express, fastify and node:http adapters share.
 * All options are checked here, once.
 * @throws TypeError naming the offending option.
 */
export function createRequestGuard(options: GuardOptions): RequestGuard {
  if (typeof options !== 'object' || options === null) throw new TypeError('"options" must be an object');
  const verifier = 'verifier' in options ? options.verifier : createVerifier(options);
  if (typeof verifier?.verify !== 'function') throw new TypeError('"verifier" must be a Verifier');
  const authenticator = createRequestAuthenticator({
    verifier,
    dpop: options.dpop,
    replayStore: options.dpopReplayStore,
    proofMaxAge: options.dpopProofMaxAge,
  });
  const realm = options.realm ?? verifier.audience;
  if (typeof realm !== 'string' || realm.length === 0 || /["\\]/.test(realm)) {
    throw new TypeError('"realm" must be a non-empty string without quotes or backslashes');
  }
  const scopes = normalizeScopes(options.scopes);
  return {
    verifier,
    authenticator,
    realm,
    scopes,
    async authenticate(req) {
      if (hasMember(req.query, 'access_token') || hasMember(req.body, 'access_token')) {
        throw new InvalidRequestError('access tokens are accepted only in the Authorization header');
      }
      const authorization = headerValues(req.rawHeaders, 'authorization');
      const dpop = headerValues(req.rawHeaders, 'dpop');
      const url = authorization.length === 1 && dpop.length > 0 ? req.url() : '';
      return authenticator.authenticate({ method: req.method, url, authorization, dpop }, { scopes });
    },
    errorHeaders: (error) => authenticator.errorHeaders(error, realm),
  };
}
