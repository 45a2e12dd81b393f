// Peer: express 5 with express-oauth2-jwt-bearer in strict mode (RFC 9068 checks), verifying Tessera's
// tokens against its JWKS and requiring the scope. Env: PORT, HOST, ISSUER, JWKS_URI, AUDIENCE, SCOPE.
import express from 'express';
import { auth, requiredScopes } from 'express-oauth2-jwt-bearer';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get(
  '/collect',
  auth({
    issuer: process.env.ISSUER,
    jwksUri: process.env.JWKS_URI,
    audience: process.env.AUDIENCE ?? 'collector',
    tokenSigningAlg: 'ES256',
    strict: true,
  }),
  requiredScopes(process.env.SCOPE ?? 'collect'),
  (req, res) => {
    res.set('Cache-Control', 'no-store').json({ message: 'collected', claims: req.auth?.payload });
  },
);
app.use((error, _req, res, _next) => {
  res.status(error.status ?? 500).set(error.headers ?? {}).json({ error: error.code ?? 'server_error' });
});
app.listen(Number(process.env.PORT ?? 4103), process.env.HOST ?? '127.0.0.1', () => process.stdout.write('jwt-bearer listening\n'));
process.on('SIGTERM', () => process.exit(0));
