import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../collector/src/app.js';
import { ISSUER, LogCapture, startHarness, type Harness } from './harness.js';
import { pick, prng, sendRaw, serialize, type RawRequest } from '../../../test/support/fuzz.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20260526);
const AUTH_REQUESTS = 700;
const COLLECTOR_REQUESTS = 300;

const listen = async (app: RequestListener): Promise<Server> => {
  const server = createServer(app).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return server;
};
const portOf = (server: Server) => (server.address() as AddressInfo).port;

const AUTH_PATHS = [
  '/token',
  '/token/refresh',
  '/revoke',
  '/introspect',
  '/.well-known/oauth-authorization-server',
  '/.well-known/jwks.json',
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/docs',
  '/admin/clients',
  '/admin/clients/%s',
  '/admin/clients/%s/secret',
  '/admin/clients/%s/jwks',
  '/admin/keys',
  '/admin/keys/rotate',
  '/admin/keys/%s',
];
const COLLECTOR_PATHS = ['/collect', '/healthz', '/metrics'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'CONNECT'];
const JUNK_SEGMENTS = ['%', '%zz', '%00', '%E0%A4%A', '..', '%2e%2e', 'ä', '\u{1F600}', '<script>', "'\"", '~', 'a'.repeat(3000), '__proto__', 'constructor', ';', '*'];
const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/x-www-form-urlencoded; charset=utf-16',
  'application/x-www-form-urlencoded; charset=bogus',
  'text/plain',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  '*/*',
  ';;;',
  '',
];
const EXCHANGE_PARAMS = ['subject_token', 'subject_token_type', 'audience', 'actor_token', 'actor_token_type', 'requested_token_type', 'requested_subject', 'exchange_audiences'];
const PARAM_NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'refresh_token',
  'scope',
  'resource',
  'token',
  'token_type_hint',
  'name',
  'scopes',
  'audiences',
  'force',
  'client_assertion',
  'client_assertion_type',
  'token_endpoint_auth_method',
  'jwks',
  'jwks_uri',
  'token_endpoint_auth_signing_alg',
  'previous_secret_expires_in',
  ...EXCHANGE_PARAMS,
];
const PARAM_VALUES = [
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:token-type:refresh_token',
  'urn:ietf:params:oauth:token-type:junk',
  'exchanged-for',
  'client_credentials',
  'refresh_token',
  'password',
  '',
  ' ',
  'a'.repeat(5000),
  'ä\u0000\u{1F600}',
  'x.y.z',
  'collect read',
  '%zz',
  'null',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  'private_key_jwt',
  // an ES256-looking assertion naming the admin client, with a jku header and a bogus signature
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsiLCJqa3UiOiJodHRwOi8vMTI3LjAuMC4xOjEvIn0.eyJpc3MiOiJ0ZXN0LWFkbWluIiwic3ViIjoidGVzdC1hZG1pbiJ9.c2ln',
  'eyJhbGciOiJFUzI1NiJ9.W10.c2ln',
  'http://127.0.0.1:1/jwks',
  'ES256',
];
const JSON_VALUES: unknown[] = [
  1,
  -1,
  1e308,
  true,
  null,
  [],
  ['a', 'b'],
  {},
  { nested: { deeper: [1] } },
  'ä\u0000',
  'a'.repeat(5000),
  604_801,
  { keys: [{ kty: 'EC', kid: 'k', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' }] },
  { keys: [{ kty: 'RSA', kid: 'k', n: 'AQAB', e: 'AQAB' }] },
  { keys: [{ kty: 'OKP', kid: 'k', crv: 'Ed25519', x: '%%%' }] },
  { keys: 'none' },
  { keys: Array.from({ length: 11 }, (_, i) => ({ kty: 'OKP', kid: `k${i}`, crv: 'Ed25519', x: 'AA' })) },
];
const jws = (header: unknown, payload: unknown, signature = 'AA') =>
  `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
/** DPoP header values: garbage, broken JWS, hostile jwk members, huge (RFC 9449 §4.3 must refuse each with a 4xx). */
const DPOP_VALUES = [
  '',
  'x',
  '...',
  'a.b.c',
  'e'.repeat(9000),
  jws({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }, { htm: 'POST', htu: 'http://auth.test/token', iat: 1, jti: 'j' }),
  jws({ typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', n: 'AQAB'.repeat(400), e: 'AQAB' } }, {}),
  jws({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: { kty: 'OKP', crv: 'X25519', x: 'AA' } }, { iat: 'now' }),
  jws({ typ: 'dpop+jwt', alg: 'ES256', jwk: { __proto__: { d: 1 }, kty: 'EC' } }, { jti: ['x'] }),
  jws({ typ: 'dpop+jwt', alg: 'none', jwk: {} }, {}, ''),
  jws({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'AA' } }, {}),
  jws('not an object', 'nope'),
  'eyJ9.eyJ9.\u0000',
];

function base64(text: string) {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** A real token as the value of subject_token half the time, so token-exchange requests get past parsing. */
const valueFor = (random: () => number, name: string, accessToken: string) =>
  name === 'subject_token' && random() < 0.5 ? accessToken : pick(random, PARAM_VALUES);

/** A well-formed POST /token of the token-exchange grant by a client that may use it, its parameters mangled. */
function exchangeRequest(random: () => number, accessToken: string, exchanger: string): RawRequest {
  const params: [string, string][] = [['grant_type', 'urn:ietf:params:oauth:grant-type:token-exchange']];
  const names = ['subject_token', 'subject_token_type', 'resource', 'audience', 'scope', ...EXCHANGE_PARAMS];
  const n = 1 + Math.floor(random() * 6);
  for (let i = 0; i < n; i++) {
    const name = pick(random, names);
    const value = name === 'resource' || name === 'audience' ? pick(random, ['exchanged-for', 'collector', '', 'x'.repeat(600)]) : valueFor(random, name, accessToken);
    params.push([name, value]);
  }
  const json = random() < 0.3;
  const body = json ? JSON.stringify(Object.fromEntries(params.map(([k, v]) => [k, random() < 0.15 ? pick(random, JSON_VALUES) : v]))) : new URLSearchParams(params).toString();
  return {
    method: 'POST',
    path: '/token',
    headers: [['Content-Type', json ? 'application/json' : 'application/x-www-form-urlencoded'], ['Authorization', `Basic ${exchanger}`]],
    body: Buffer.from(body, 'utf8'),
  };
}

function generate(random: () => number, paths: string[], adminToken: string, accessToken: string, exchanger: string): RawRequest {
  if (paths.includes('/token') && random() < 0.12) return exchangeRequest(random, accessToken, exchanger);
  let path = pick(random, paths).replace('%s', random() < 0.5 ? pick(random, JUNK_SEGMENTS) : 'test-admin');
  if (random() < 0.25) path += `/${pick(random, JUNK_SEGMENTS)}`;
  if (random() < 0.2) path += `?${pick(random, PARAM_NAMES)}=${encodeURIComponent(pick(random, PARAM_VALUES))}&x=%zz`;
  const method = random() < 0.6 ? (random() < 0.5 ? 'POST' : 'GET') : pick(random, METHODS);
  const headers: [string, string][] = [];
  const contentType = pick(random, CONTENT_TYPES);
  if (contentType) headers.push(['Content-Type', contentType]);
  const auth = random();
  if (auth < 0.15) headers.push(['Authorization', `Basic ${base64(`test-admin:${pick(random, PARAM_VALUES)}`)}`]);
  else if (auth < 0.25) headers.push(['Authorization', `Basic ${pick(random, ['', '!!!', base64('nocolon'), base64('%zz:%zz'), base64(':x'), 'a'.repeat(10000)])}`]);
  else if (auth < 0.4) headers.push(['Authorization', `Bearer ${random() < 0.5 ? adminToken : accessToken}`]);
  else if (auth < 0.5) headers.push(['Authorization', pick(random, ['Bearer', 'Bearer a b', 'Bearer ' + 'a'.repeat(9000), 'Digest x', 'bearer\tx', 'Basic'])]);
  else if (auth < 0.6) headers.push(['Authorization', pick(random, [`DPoP ${accessToken}`, 'DPoP', 'DPoP a b', `dpop ${'x'.repeat(9000)}`])]);
  else if (auth < 0.7) headers.push(['Authorization', `Basic ${exchanger}`]);
  if (random() < 0.3) {
    headers.push(['DPoP', pick(random, DPOP_VALUES)]);
    if (random() < 0.2) headers.push(['DPoP', pick(random, DPOP_VALUES)]);
  }
  if (random() < 0.1) headers.push(['X-Request-Id', pick(random, JUNK_SEGMENTS)]);
  if (random() < 0.05) headers.push(['X-Forwarded-For', pick(random, ['1.2.3.4', 'junk', '::1, 1.1.1.1'])]);
  if (random() < 0.04) headers.push(['Content-Encoding', pick(random, ['gzip', 'deflate', 'br', 'identity', 'bogus'])]);
  if (random() < 0.03) headers.push(['X-Huge', 'h'.repeat(20_000)]);
  if (random() < 0.05) headers.push(['Accept', pick(random, ['application/json', 'text/html', '*/*;q=x'])]);

  let body = '';
  const shape = random();
  if (shape < 0.3) {
    const pairs: string[] = [];
    const n = Math.floor(random() * (random() < 0.1 ? 80 : 6));
    for (let i = 0; i < n; i++) {
      const name = random() < 0.8 ? pick(random, PARAM_NAMES) : pick(random, JUNK_SEGMENTS);
      const value = valueFor(random, name, accessToken);
      pairs.push(`${random() < 0.9 ? encodeURIComponent(name) : name}=${random() < 0.9 ? encodeURIComponent(value) : value}`);
    }
    body = pairs.join('&');
  } else if (shape < 0.6) {
    const object: Record<string, unknown> = {};
    const n = Math.floor(random() * 6);
    for (let i = 0; i < n; i++) {
      const name = pick(random, PARAM_NAMES);
      object[name] = random() < 0.5 ? valueFor(random, name, accessToken) : pick(random, JSON_VALUES);
    }
    body = JSON.stringify(random() < 0.1 ? [object] : object);
  } else if (shape < 0.75) {
    body = pick(random, ['{', '{"a":', '[]', '"x"', 'null', '1', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{}}}', '\u0000\u0001', '{"a":1,"a":2}', '[[[[[[[[[[]]]]]]]]]]']);
  } else if (shape < 0.8) {
    body = 'x'.repeat(16 * 1024 + 1 + Math.floor(random() * 10_000));
  }
  return { method, path, headers, body: Buffer.from(body, 'utf8') };
}

describe('malformed requests to both apps', () => {
  let h: Harness;
  let auth: Server;
  let collector: Server;
  let adminToken: string;
  let accessToken: string;
  let survivor: { client_id: string; client_secret: string };
  let exchanger: string;
  const collectorLogs = new LogCapture();

  beforeAll(async () => {
    h = await startHarness('memory', { RATE_LIMIT: '100000', AUTH_FAILURE_LIMIT: '100000' });
    auth = await listen(h.app);
    adminToken = await h.adminToken();
    const client = await h.createClient();
    accessToken = (await h.clientCredentials(client)).body.access_token as string;
    const made = await h.deps.clients.create({ name: 'survivor', scopes: ['collect'], audiences: ['collector'] });
    survivor = { client_id: made.client.client_id, client_secret: made.secret };
    const exchanging = await h.deps.clients.create({
      name: 'exchanger',
      scopes: ['collect', 'read'],
      audiences: ['exchanger'],
      grant_types: ['urn:ietf:params:oauth:grant-type:token-exchange'],
      exchange_audiences: ['exchanged-for'],
      exchange_accepts: ['collector'],
    });
    exchanger = base64(`${exchanging.client.client_id}:${exchanging.secret}`);
    const verifier = createVerifier({ issuer: ISSUER, audience: 'collector', jwksUri: `http://127.0.0.1:${portOf(auth)}/.well-known/jwks.json` });
    collector = await listen(
      createCollectorApp({ config: { requiredScope: 'collect', trustProxy: false }, verifier, logger: pino({ level: 'info' }, collectorLogs.stream), registry: new Registry() }),
    );
  });

  afterAll(async () => {
    auth?.close();
    collector?.close();
    await h?.close();
  });

  it.each([
    ['auth server', () => portOf(auth), AUTH_PATHS, AUTH_REQUESTS, SEED],
    ['collector', () => portOf(collector), COLLECTOR_PATHS, COLLECTOR_REQUESTS, SEED + 1],
  ] as const)('%s: no 5xx, no hang, still serving afterwards', async (_name, port, paths, count, seed) => {
    const random = prng(seed);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const requests = Array.from({ length: count }, (_, i) => ({ i, request: generate(random, [...paths], adminToken, accessToken, exchanger) }));
    for (let start = 0; start < requests.length; start += 8) {
      await Promise.all(
        requests.slice(start, start + 8).map(async ({ i, request }) => {
          const { status, response } = await sendRaw(port(), serialize(request));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status >= 500 || (status === 0 && request.method !== 'CONNECT') || /at \S+ \(.*:\d+:\d+\)/.test(response)) {
            failures.push(`#${i} (seed ${seed}) ${request.method} ${request.path.slice(0, 80)} ${JSON.stringify(request.headers).slice(0, 200)} body=${JSON.stringify(request.body.toString().slice(0, 120))} → ${status} ${response.slice(0, 300)}`);
          }
        }),
      );
    }
    expect(failures).toEqual([]);
    expect([...statuses.keys()].some((s) => s >= 400 && s < 500)).toBe(true);
    const health = await fetch(`http://127.0.0.1:${port()}/healthz`);
    expect(health.status).toBe(200);
  });

  it('private_key_jwt fields: seeded registrations answer 201 or 400 naming a field, seeded assertions 400 or 401', async () => {
    const random = prng(SEED + 2);
    const jwksValues = JSON_VALUES.filter((v) => typeof v === 'object');
    const methods = ['private_key_jwt', 'client_secret_basic', 'client_secret_post', 'none', 1, undefined];
    const uris = ['https://keys.example/jwks', 'http://127.0.0.1:1/jwks', 'http://keys.example/jwks', 'javascript:alert(1)', '', 'a'.repeat(3000), undefined];
    const algs = ['ES256', 'EdDSA', 'HS256', 'none', 'es256', 7, undefined];
    const unexpected: string[] = [];
    for (let i = 0; i < 150; i++) {
      const body: Record<string, unknown> = { name: 'fuzz', scopes: ['collect'], audiences: ['collector'] };
      const add = (name: string, values: readonly unknown[]) => {
        const value = pick(random, values);
        if (value !== undefined) body[name] = value;
      };
      add('token_endpoint_auth_method', methods);
      if (random() < 0.6) add('jwks', jwksValues);
      if (random() < 0.5) add('jwks_uri', uris);
      if (random() < 0.4) add('token_endpoint_auth_signing_alg', algs);
      const res = await h.http.post('/admin/clients').set('Authorization', `Bearer ${adminToken}`).send(body);
      const named = res.status === 400 && /^[\w.]+(: | is required$)/.test(res.body.error_description ?? '');
      if (res.status !== 201 && !named) unexpected.push(`${JSON.stringify(body).slice(0, 200)} → ${res.status} ${JSON.stringify(res.body)}`);
      if (res.status === 201 && res.body.token_endpoint_auth_method === 'private_key_jwt') {
        const assertion = pick(random, PARAM_VALUES.filter((v) => v.includes('.')));
        const token = await h.http
          .post('/token')
          .type('form')
          .send({ grant_type: 'client_credentials', client_id: res.body.client_id, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion });
        if (token.status !== 401 && token.status !== 400) unexpected.push(`assertion ${assertion.slice(0, 40)} → ${token.status}`);
        if (JSON.stringify(token.body).includes(assertion)) unexpected.push(`assertion echoed: ${JSON.stringify(token.body)}`);
      }
    }
    expect(unexpected).toEqual([]);
  });

  it('still issues tokens and logged no unexpected error', async () => {
    expect((await h.clientCredentials(survivor)).status).toBe(200);
    expect(h.logs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(collectorLogs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
