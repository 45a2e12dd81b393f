import { invalidDpopProof, invalidGrant, invalidRequest, invalidScope, invalidTarget, unauthorizedClient } from '../errors.js';
import type { AppDeps } from '../deps.js';
import type { DpopBinding } from '../dpop/binding.js';
import type { Params } from '../schemas/oauth.js';
import { TOKEN_EXCHANGE_GRANT, type ClientRecord } from '../store/store.js';
import type { ActorClaim } from '../tokens/access-token.js';
import { activeAccessToken } from '../tokens/active-access-token.js';
import { parseScope } from '../tokens/scope.js';
import { tokenResponse, type TokenResponse } from '../tokens/token-response.js';

/** RFC 8693 §3 */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * Parameters refused outright: an actor token (not supported, README "Token exchange"), and parameters of older
 * token-exchange dialects that ask for another subject or issuer. Ignoring them (RFC 6749 §3.2) would
 * answer a request for someone else's token with a token for the subject token's subject, which the
 * caller may then take for what it asked for (Keycloak's V1-parameters-in-V2 bug).
 */
const REFUSED_PARAMS = ['actor_token', 'actor_token_type', 'requested_subject', 'requested_issuer', 'subject_issuer'] as const;

const INVALID_SUBJECT = 'the subject_token is invalid, expired or revoked';

export type TokenExchangeResponse = TokenResponse & { issued_token_type: typeof ACCESS_TOKEN_TYPE };

/** The one target of the request: `resource` (RFC 8707) or `audience` (RFC 8693), the same value if both. */
function readTarget(params: Params): string {
  const { resource, audience } = params;
  if (resource !== undefined && audience !== undefined && resource !== audience) {
    throw invalidRequest('name one target: resource and audience differ');
  }
  const target = resource ?? audience;
  if (target === undefined || target === '') throw invalidTarget('a target is required: resource or audience');
  return target;
}

/** The requested scope, each of which both the subject token and the client hold; else their intersection. */
function exchangeScope(requested: string | undefined, subjectScope: string, clientScopes: string[]): string {
  const held = subjectScope.split(' ').filter((s) => s !== '' && clientScopes.includes(s));
  if (requested === undefined) {
    if (held.length === 0) throw invalidScope('the subject token and the client have no scope in common');
    return [...new Set(held)].join(' ');
  }
  const scopes = parseScope(requested);
  const missing = scopes.filter((s) => !held.includes(s));
  if (missing.length) {
    throw invalidScope(`scope ${missing.map((s) => `"${s.slice(0, 64)}"`).join(', ')} is not held by both the subject token and the client`);
  }
  return scopes.join(' ');
}

/**
 * RFC 8693 token exchange (README "Token exchange"): a service trades an access token that was meant for it (the
 * subject token) for one to call `target` on the subject's behalf. The new token keeps the subject's
 * `sub`, names the exchanging client as `client_id` and as the outermost actor in `act`, carries at most
 * the scope both hold, and expires no later than the subject token. No refresh token.
 * A DPoP-bound subject token is accepted (its audience, not its key holder, exchanges it; the subject's `cnf`
 * is never copied); the new token is bound to the exchange request's own proof key (`dpop`), if any.
 */
export async function tokenExchangeGrant(deps: AppDeps, client: ClientRecord, params: Params, dpop?: DpopBinding): Promise<TokenExchangeResponse> {
  if (!client.grant_types.includes(TOKEN_EXCHANGE_GRANT)) throw unauthorizedClient('the client may not use the token-exchange grant');
  if (client.dpop_bound_access_tokens && !dpop) throw invalidDpopProof('the client must send a DPoP proof (dpop_bound_access_tokens)');
  for (const name of REFUSED_PARAMS) {
    if (params[name] !== undefined) throw invalidRequest(`${name} is not supported`);
  }
  const subjectToken = params.subject_token;
  if (subjectToken === undefined || subjectToken === '') throw invalidRequest('subject_token is required');
  const subjectTokenType = params.subject_token_type;
  if (subjectTokenType === undefined || subjectTokenType === '') throw invalidRequest('subject_token_type is required');
  if (subjectTokenType !== ACCESS_TOKEN_TYPE) throw invalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  const requestedType = params.requested_token_type;
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) throw invalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);

  const target = readTarget(params);
  if (!(client.exchange_audiences ?? []).includes(target)) throw invalidTarget('the client may not exchange tokens for this target');

  // the request's rate-limit charge goes with the subject token's store reads (one round trip with Redis)
  const [subject] = await Promise.all([activeAccessToken(deps, subjectToken), deps.admission?.charge()]);
  if (!subject) throw invalidGrant(INVALID_SUBJECT);
  const accepted = [client.client_id, ...(client.exchange_accepts ?? [])];
  const audiences = Array.isArray(subject.aud) ? subject.aud : [subject.aud];
  if (!audiences.some((aud) => accepted.includes(aud))) throw invalidGrant('the subject_token was not issued for this client');

  const scope = exchangeScope(params.scope, subject.scope, client.scopes);
  const act: ActorClaim = { sub: client.client_id, ...(subject.act ? { act: subject.act } : {}) };
  const response = await tokenResponse(deps, client, { scope, audience: target, subject: subject.sub, act, notAfter: subject.exp, dpop });
  deps.metrics.tokenExchanges.inc({ audience: target });
  deps.metrics.tokensIssued.inc({ grant: 'token_exchange' });
  deps.logger.info({ event: 'token_exchange', client_id: client.client_id, sub: subject.sub, target, scope }, 'token exchanged');
  return Object.assign(response, { issued_token_type: ACCESS_TOKEN_TYPE } as const);
}
