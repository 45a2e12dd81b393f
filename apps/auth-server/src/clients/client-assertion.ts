import { KeysetUnavailableError } from '@tessera/guard';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { ClientRecord, Clock, Store } from '../store/store.js';
import { ASSERTION_ALGORITHMS, isAssertionAlgorithm, keyFitsAlgorithm } from './client-jwks.js';
import type { ClientKeysets } from './client-keysets.js';

/** RFC 7523 §2.2 `client_assertion_type`. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** characters */
export const MAX_ASSERTION_LENGTH = 8192;
/** seconds an assertion's exp may lie ahead of now */
export const MAX_ASSERTION_LIFETIME = 300;
/** seconds of tolerance for iat and nbf */
const CLOCK_TOLERANCE = 5;
const MAX_JTI_LENGTH = 256;
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
const TYPES = new Set(['jwt', 'client-authentication+jwt', 'application/jwt', 'application/client-authentication+jwt']);

/** The §10 rule an assertion broke; `rule` goes to logs and metrics, the message to the client. */
export class AssertionRejected extends Error {
  override name = 'AssertionRejected';
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super(message);
  }
}

const reject = (rule: string, message: string): never => {
  throw new AssertionRejected(rule, `client assertion rejected (${rule}): ${message}`);
};

/** What verification needs besides the assertion. */
export interface AssertionContext {
  store: Store;
  clock: Clock;
  /** the issuer identifier */
  issuer: string;
  /** the URL of the endpoint that received the assertion */
  endpointUrl: string;
  keysets: ClientKeysets;
}

/** The `iss` of an assertion, unverified (to find the client and count failures), or undefined. */
export function assertionIssuer(assertion: string): string | undefined {
  if (assertion.length > MAX_ASSERTION_LENGTH) return undefined;
  try {
    const { iss } = decodeJwt(assertion);
    return typeof iss === 'string' && iss !== '' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The checks that need no client: size and form. `assertionIssuer` gives nothing for an assertion that fails
 * them, so the entry point runs them first to name the right rule.
 * @throws AssertionRejected
 */
export function checkForm(assertion: string): ProtectedHeaderParameters {
  if (assertion.length > MAX_ASSERTION_LENGTH) reject('size', `longer than ${MAX_ASSERTION_LENGTH} characters`);
  try {
    if (assertion.split('.').length !== 3) throw new Error('not compact');
    const header = decodeProtectedHeader(assertion);
    decodeJwt(assertion);
    return header;
  } catch {
    return reject('malformed', 'not a compact JWS with a JSON claims set');
  }
}

function checkHeader(assertion: string, client: ClientRecord): ProtectedHeaderParameters & { alg: string } {
  const header = checkForm(assertion);
  const carried = FORBIDDEN_HEADERS.filter((name) => Object.hasOwn(header, name));
  if (carried.length) reject('header', `the ${carried.join(', ')} header is never used: keys come only from the registration`);
  const { alg } = header;
  if (!isAssertionAlgorithm(alg)) reject('alg', `alg must be one of ${ASSERTION_ALGORITHMS.join(', ')}`);
  const pinned = client.token_endpoint_auth_signing_alg;
  const edAlias = (a: string) => (a === 'Ed25519' ? 'EdDSA' : a);
  if (pinned && edAlias(pinned) !== edAlias(alg as string)) reject('alg', `alg must be ${pinned}, the client's token_endpoint_auth_signing_alg`);
  if (header.typ !== undefined && !TYPES.has(String(header.typ).toLowerCase())) reject('typ', 'typ must be absent, JWT or client-authentication+jwt');
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 256)) reject('kid', 'kid must be a string of at most 256 characters');
  return header as ProtectedHeaderParameters & { alg: string };
}

async function selectKey(header: ProtectedHeaderParameters & { alg: string }, client: ClientRecord, ctx: AssertionContext): Promise<JWK> {
  const { kid, alg } = header;
  let keys: JWK[];
  try {
    if (client.jwks_uri) {
      const keyset = ctx.keysets.get(client.client_id, client.jwks_uri);
      const found = kid === undefined ? await keyset.getKeys() : await keyset.getKey(kid);
      keys = Array.isArray(found) ? found : found ? [found] : [];
    } else {
      keys = (client.jwks?.keys ?? []) as JWK[];
      if (kid !== undefined) keys = keys.filter((k) => k.kid === kid);
    }
  } catch (error) {
    if (error instanceof KeysetUnavailableError) return reject('jwks_uri', "the client's jwks_uri could not be fetched");
    throw error;
  }
  if (kid !== undefined) {
    const key = keys[0];
    if (!key) return reject('kid', 'no registered key has this kid');
    if (!keyFitsAlgorithm(key, alg)) return reject('kid', `the key with this kid is not a ${alg} key`);
    return key;
  }
  const fitting = keys.filter((k) => keyFitsAlgorithm(k, alg));
  if (fitting.length !== 1) return reject('kid', `no kid, and the client has ${fitting.length} ${alg} keys (exactly one is needed)`);
  return fitting[0]!;
}

function describeJoseError(error: unknown): never {
  if (error instanceof errors.JWSSignatureVerificationFailed) return reject('signature', 'the signature does not verify with the registered key');
  if (error instanceof errors.JWTExpired) return reject('exp', 'expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === 'iss' || claim === 'sub') return reject(claim, `${claim} must be the client id`);
    if (claim === 'nbf') return reject('nbf', 'nbf is in the future');
    if (error.reason === 'missing') return reject(claim, `the ${claim} claim is required`);
    return reject(claim, `the ${claim} claim is invalid`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return reject('alg', 'the alg does not fit the key');
  if (error instanceof errors.JOSENotSupported) return reject('header', 'an unsupported header parameter (crit)');
  // jose refuses a key it cannot use for the alg (e.g. an RSA key under 2048 bits behind a jwks_uri) with a TypeError
  if (error instanceof TypeError) return reject('kid', 'the registered key with this kid cannot verify this alg');
  if (error instanceof errors.JOSEError) return reject('malformed', 'not a valid signed JWT');
  throw error;
}

/**
 * Verifies a client assertion (RFC 7523 §3, README "Client authentication") for `client`, a private_key_jwt client, and spends
 * its jti (one atomic store operation, shared by every instance, until the assertion's exp).
 * @throws AssertionRejected naming the rule that failed
 */
export async function verifyClientAssertion(assertion: string, client: ClientRecord, ctx: AssertionContext): Promise<void> {
  const header = checkHeader(assertion, client);
  const key = await selectKey(header, client, ctx);
  const now = ctx.clock();
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [header.alg],
      issuer: client.client_id,
      subject: client.client_id,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti'],
      currentDate: new Date(now),
      clockTolerance: CLOCK_TOLERANCE,
    }));
  } catch (error) {
    return describeJoseError(error);
  }
  const seconds = now / 1000;
  const { aud, exp, iat, jti } = payload;
  const audiences = new Set([ctx.issuer, `${ctx.issuer}/token`, ctx.endpointUrl]);
  if (typeof aud !== 'string') reject('aud', 'aud must be a single string (an array is refused)');
  if (!audiences.has(aud as string)) reject('aud', 'aud must be the issuer, the token endpoint URL or the URL of this endpoint');
  if (typeof exp !== 'number' || exp > seconds + MAX_ASSERTION_LIFETIME) reject('exp', `exp must be at most ${MAX_ASSERTION_LIFETIME} s from now`);
  if (iat !== undefined && (typeof iat !== 'number' || iat > seconds + CLOCK_TOLERANCE)) reject('iat', 'iat is in the future');
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) reject('jti', `jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`);
  if (!(await ctx.store.useOnce('client-assertion', `${client.client_id}:${jti as string}`, (exp as number) * 1000))) {
    reject('jti', 'this assertion was already used (jti replay)');
  }
}
