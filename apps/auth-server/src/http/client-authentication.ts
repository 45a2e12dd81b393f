import type { Request } from 'express';
import { invalidClient, invalidRequest } from '../errors.js';
import { AssertionRejected, CLIENT_ASSERTION_TYPE, assertionIssuer, checkForm, verifyClientAssertion } from '../clients/client-assertion.js';
import { authMethodOf } from '../clients/client-registry.js';
import type { AppDeps } from '../deps.js';
import type { ClientRecord } from '../store/store.js';
import type { Params } from './params.js';

/** What a request presents to authenticate its client (RFC 6749 §2.3.1, RFC 7523 §2.2). */
export type ClientCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | {
      method: 'private_key_jwt';
      /** the assertion's iss (unverified) */
      clientId: string | undefined;
      /** the client_id parameter, when sent */
      claimedId: string | undefined;
      assertion: string;
    };

export type AuthMethodLabel = ClientCredentials['method'] | 'none';

const formDecode = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));

type BasicCredentials = { readonly clientId: string; readonly secret: string };

/** The header parsed last: the limiter and the endpoint both read a request's header, so it is parsed once. */
let lastBasic: { header: string; credentials: BasicCredentials | undefined } | undefined;

/** The credentials of an `Authorization: Basic` header (RFC 6749 §2.3.1 form-decoded), or undefined when malformed. */
export function parseBasicCredentials(header: string): BasicCredentials | undefined {
  if (lastBasic?.header === header) return lastBasic.credentials;
  const credentials = decodeBasic(header);
  lastBasic = { header, credentials };
  return credentials;
}

function decodeBasic(header: string): BasicCredentials | undefined {
  const match = /^\s*Basic ([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

function readBasic(header: string): BasicCredentials {
  const credentials = parseBasicCredentials(header);
  if (!credentials) throw invalidClient('malformed Basic credentials', true);
  return credentials;
}

/**
 * The client credentials of a request, by client_secret_basic, client_secret_post (RFC 6749 §2.3.1) or
 * private_key_jwt (RFC 7523 §2.2); undefined when it carries none. Two methods at once is invalid_request.
 */
export function readClientCredentials(req: Request, params: Params): ClientCredentials | undefined {
  const header = req.headers.authorization;
  const basic = header && /^basic /i.test(header.trimStart()) ? readBasic(header) : undefined;
  const postId = params.client_id;
  const postSecret = params.client_secret;
  const assertion = params.client_assertion;
  if (assertion !== undefined || params.client_assertion_type !== undefined) {
    if (basic || postSecret !== undefined) throw invalidRequest('use one client authentication method, not a client secret and a client_assertion');
    if (params.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw invalidRequest(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    if (!assertion) throw invalidRequest('client_assertion is required with client_assertion_type');
    return { method: 'private_key_jwt', clientId: assertionIssuer(assertion), claimedId: postId || undefined, assertion };
  }
  if (basic) {
    if (postSecret !== undefined) throw invalidRequest('use one client authentication method, not both Basic and client_secret in the body');
    if (postId !== undefined && postId !== basic.clientId) throw invalidRequest('client_id in the body differs from the Basic credentials');
    return { clientId: basic.clientId, secret: basic.secret, method: 'client_secret_basic' };
  }
  if (postSecret !== undefined) {
    if (!postId) throw invalidRequest('client_id is required with client_secret');
    return { clientId: postId, secret: postSecret, method: 'client_secret_post' };
  }
  return undefined;
}

const CLIENT_ID = /^[\w.-]{1,128}$/;

/**
 * The one entry point of client authentication (/token, /token/refresh, /revoke, /introspect): the client
 * when the credentials prove it, with the method it registered; otherwise 401 invalid_client naming the
 * failed rule, counted in client_authentication_failures_total{method} and logged (never the credential).
 * `endpoint` is the receiving endpoint's path (an assertion's aud may be its URL).
 */
export async function authenticateClient(deps: AppDeps, credentials: ClientCredentials | undefined, endpoint: string): Promise<ClientRecord> {
  const fail = (method: AuthMethodLabel, clientId: string | undefined, rule: string, description: string, basic = false): never => {
    deps.metrics.clientAuthFailures.inc({ method });
    deps.logger.info({ event: 'client_authentication_failed', method, client_id: clientId?.slice(0, 128), rule }, 'client authentication failed');
    throw invalidClient(description, basic);
  };
  if (!credentials) return fail('none', undefined, 'missing', 'client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)');

  if (credentials.method !== 'private_key_jwt') {
    const basic = credentials.method === 'client_secret_basic';
    const client = await deps.clients.authenticate(credentials.clientId, credentials.secret);
    if (client) return client;
    const { client: known } = await deps.clients.lookup(credentials.clientId);
    if (known && authMethodOf(known) === 'private_key_jwt') {
      return fail(credentials.method, credentials.clientId, 'method', 'this client authenticates with private_key_jwt, not a client secret', basic);
    }
    return fail(credentials.method, credentials.clientId, 'secret', 'client authentication failed', basic);
  }

  const { clientId, claimedId, assertion } = credentials;
  if (claimedId !== undefined && claimedId !== clientId) {
    return fail('private_key_jwt', claimedId, 'client_id', 'client assertion rejected (client_id): the client_id parameter must equal the assertion iss');
  }
  try {
    checkForm(assertion);
  } catch (error) {
    if (error instanceof AssertionRejected) return fail('private_key_jwt', claimedId, error.rule, error.message);
    throw error;
  }
  if (clientId === undefined || !CLIENT_ID.test(clientId)) {
    return fail('private_key_jwt', undefined, 'iss', 'client assertion rejected (iss): the assertion has no readable iss naming a client');
  }
  const ctx = { store: deps.store, clock: deps.clock, issuer: deps.config.issuer, endpointUrl: `${deps.config.issuer}${endpoint}`, keysets: deps.clientKeysets };
  let { client, cached } = await deps.clients.lookup(clientId);
  for (;;) {
    if (!client) return fail('private_key_jwt', clientId, 'iss', 'client assertion rejected (iss): iss names no registered client');
    if (authMethodOf(client) !== 'private_key_jwt') {
      return fail('private_key_jwt', clientId, 'method', 'this client authenticates with a client secret, not a client assertion');
    }
    try {
      // the assertion's jti is recorded in the store: the request's rate-limit charge is made first
      await deps.admission?.charge();
      await verifyClientAssertion(assertion, client, ctx);
      return client;
    } catch (error) {
      if (!(error instanceof AssertionRejected)) throw error;
      // Keys registered by value may have been replaced on another instance within the cache TTL: read again once.
      if (error.rule === 'kid' && cached && client.jwks) {
        ({ client, cached } = await deps.clients.lookup(clientId, true));
        continue;
      }
      return fail('private_key_jwt', clientId, error.rule, error.message);
    }
  }
}
