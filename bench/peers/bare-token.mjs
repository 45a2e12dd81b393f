// Peer: the floor of an express-based /token. A bare express 5 route that parses the form body, reads the
// Basic header and answers one ES256-signed JWT (node:crypto, no store, no checks, no logging): what any
// /token on express costs before it does its own work. Env: PORT, HOST.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import express from 'express';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'bench' })).toString('base64url');

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/token', express.urlencoded({ extended: false, limit: '16kb' }), (req, res) => {
  const client = Buffer.from((req.headers.authorization ?? '').slice(6), 'base64').toString('utf8').split(':')[0];
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'http://bench', sub: client, aud: 'collector', client_id: client, scope: req.body.scope, iat: now, exp: now + 900, jti: randomUUID() };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  res.set('Cache-Control', 'no-store').json({ access_token: `${input}.${signature}`, token_type: 'Bearer', expires_in: 900, scope: req.body.scope });
});
app.listen(Number(process.env.PORT ?? 4103), process.env.HOST ?? '127.0.0.1', () => process.stdout.write('bare token listening\n'));
process.on('SIGTERM', () => process.exit(0));
