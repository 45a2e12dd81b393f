import { DEFAULT_DPOP_ALGORITHMS } from '@tessera/guard';

/** The algorithms a DPoP proof may use (§10's allowlist); also `dpop_signing_alg_values_supported`. */
export const DPOP_SIGNING_ALGS = [...DEFAULT_DPOP_ALGORITHMS];

/** What a token request's valid DPoP proof binds the tokens to. */
export interface DpopBinding {
  /** RFC 7638 SHA-256 thumbprint of the proof key */
  jkt: string;
}
