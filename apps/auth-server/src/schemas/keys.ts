import { z } from 'zod';

/** A kid in /admin/keys/{kid}: a JWK thumbprint (base64url); anything else is 400. */
export const kidSchema = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/);

/** The body of POST /admin/keys/rotate (optional). */
export const rotateKeysSchema = z.strictObject({
  force: z
    .boolean({ error: 'must be a boolean' })
    .default(false)
    .meta({ description: 'rotate even when the next key is younger than JWKS_MAX_AGE' }),
});
