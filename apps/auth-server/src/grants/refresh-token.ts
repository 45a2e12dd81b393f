import { invalidClient, invalidDpopProof, invalidGrant, invalidScope, unauthorizedClient } from '../errors.js';
import type { AppDeps } from '../deps.js';
import type { DpopBinding } from '../dpop/binding.js';
import { requireParam, type Params } from '../schemas/oauth.js';
import type { ClientRecord } from '../store/store.js';
import { mintRefreshToken, parseRefreshToken } from '../tokens/refresh-token-format.js';
import { parseScope } from '../tokens/scope.js';
import { tokenResponse, type TokenResponse } from '../tokens/token-response.js';

const INVALID = 'the refresh token is invalid, expired or revoked';

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): the presented token is spent and a new pair issued,
 * atomically (with the request's rate-limit charge); a spent token presented again revokes its whole family.
 * `client` is undefined when the caller did not authenticate (allowed for refresh_token_auth "none").
 * A family bound to a DPoP key rotates only with a proof of that key (else invalid_dpop_proof, nothing spent);
 * the new access token is bound to the request's proof key, if any.
 */
export async function refreshTokenGrant(deps: AppDeps, client: ClientRecord | undefined, params: Params, dpop?: DpopBinding): Promise<TokenResponse> {
  const presented = requireParam(params, 'refresh_token');
  if (client && !client.grant_types.includes('refresh_token')) throw unauthorizedClient('the client may not use the refresh_token grant');
  if (client?.dpop_bound_access_tokens && !dpop) throw invalidDpopProof('the client must send a DPoP proof (dpop_bound_access_tokens)');
  const scope = params.scope === undefined ? undefined : parseScope(params.scope).join(' ');
  const parsed = parseRefreshToken(presented);
  if (!parsed) throw invalidGrant(INVALID);
  const next = mintRefreshToken(parsed.familyId);
  const result = await deps.store.rotate({
    familyId: parsed.familyId,
    presentedHash: parsed.hash,
    nextHash: next.hash,
    clientId: client?.client_id,
    scope,
    policy: deps.refreshPolicy,
    jkt: dpop?.jkt,
    charge: deps.admission?.take(),
  });
  deps.admission?.settle(result.charged);
  switch (result.status) {
    case 'rate_limited':
      throw new TypeError('Admission.settle throws the 429 of a refused charge');
    case 'invalid':
      throw invalidGrant(INVALID);
    case 'invalid_scope':
      throw invalidScope('the requested scope exceeds the scope originally granted');
    case 'client_auth_required':
      throw invalidClient('client authentication is required to use this refresh token');
    case 'dpop_key_mismatch':
      throw invalidDpopProof(dpop ? 'the DPoP proof key is not the key this refresh token is bound to' : 'this refresh token is DPoP-bound: a DPoP proof with its key is required');
    case 'reused':
      deps.metrics.reuseDetected.inc();
      deps.logger.warn(
        { event: 'refresh_token_reuse', client_id: result.family.client_id, family_id: result.family.id },
        'a spent refresh token was presented again; its family is revoked',
      );
      throw invalidGrant(INVALID);
  }
  const owner = client ?? (await deps.clients.get(result.family.client_id));
  if (!owner || !owner.grant_types.includes('refresh_token')) {
    await deps.store.revokeFamily(result.family.id);
    throw invalidGrant(INVALID);
  }
  const response = await tokenResponse(deps, owner, {
    scope: scope ?? result.family.scope,
    audience: result.family.aud,
    refreshToken: next.token,
    dpop,
  });
  deps.metrics.refreshRotations.inc();
  deps.metrics.tokensIssued.inc({ grant: 'refresh_token' });
  return response;
}
