import { DpopProofError, verifyDpopProof } from '@tessera/guard';
import type { Request } from 'express';
import type { AppDeps } from '../deps.js';
import { DPOP_SIGNING_ALGS, type DpopBinding } from '../dpop/binding.js';
import { invalidDpopProof, OAuthError } from '../errors.js';

function dpopHeaders(req: Request): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'dpop') values.push(req.rawHeaders[i + 1]!);
  return values;
}

/**
 * Checks the DPoP proof of a token request (RFC 9449 §4.3, with @tessera/guard's verifyDpopProof): `htu` is the
 * endpoint's URL under ISSUER (never the Host header), the jti is recorded once across every instance
 * (Store.useOnce), and with DPOP_NONCE=required a current server nonce is needed. Undefined when the request
 * carries no proof. Every answer to a request with a proof gets a current `DPoP-Nonce` when nonces are required.
 * @throws OAuthError invalid_dpop_proof or use_dpop_nonce (400); nothing is spent by either.
 */
export async function readDpopProof(deps: AppDeps, req: Request, res: { setHeader(name: string, value: string): unknown }, endpoint: string): Promise<DpopBinding | undefined> {
  const proofs = dpopHeaders(req);
  if (proofs.length === 0) return undefined;
  const { config, store, dpopNonces } = deps;
  const nonces = config.dpopNonce === 'required' ? dpopNonces : undefined;
  const headers: Record<string, string> = nonces ? { 'DPoP-Nonce': nonces.current() } : {};
  if (nonces) res.setHeader('DPoP-Nonce', headers['DPoP-Nonce']!);
  if (proofs.length > 1) throw invalidDpopProof('the request must carry exactly one DPoP header', headers);
  const now = Math.floor(deps.clock() / 1000);
  try {
    const proof = await verifyDpopProof({
      proof: proofs[0]!,
      method: req.method,
      url: `${config.issuer}${endpoint}`,
      now,
      maxAge: config.dpopProofMaxAge,
      algorithms: DPOP_SIGNING_ALGS,
      nonce: nonces ? (nonce) => nonces.accepts(nonce) : undefined,
      // the jti is recorded in the store: the request's rate-limit charge is made first
      replay: { use: async (jti, expiresAt) => (await deps.admission?.charge(), store.useOnce('dpop-proof', jti, expiresAt)) },
    });
    return { jkt: proof.jkt };
  } catch (error) {
    if (!(error instanceof DpopProofError)) throw error;
    if (error.code === 'use_dpop_nonce') throw new OAuthError('use_dpop_nonce', 400, error.message, headers);
    throw invalidDpopProof(error.message, headers);
  }
}
