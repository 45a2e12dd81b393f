// Real nginx (Debian's, `apt-get install nginx`) in front of a real upstream, asking forward-auth (the built
// dist/main.js as its own process) with auth_request, using the shipped deploy/nginx.conf.
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { AppProcess } from '../../../test/support/app-process.js';
import { dpopKey, proof } from '../../../test/support/dpop.js';
import { NginxServer } from '../../../test/support/nginx.js';
import { freePort } from '../../../test/support/redis-server.js';
import { systemTool } from '../../../test/support/system-tool.js';

/** The second challenge of every 401/403 (DPOP=allowed, RFC 9449 §7.1). */
const DPOP = 'DPoP algs="ES256 ES384 EdDSA RS256 PS256"';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const nginxTool = systemTool('nginx', '/usr/sbin/nginx', 'apt-get install nginx');

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw HTTP/1.1 request (the path is sent as written, not normalized), optionally from another loopback address. */
function send(url: string, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path.startsWith('/') ? '' : '/'}`, { path, headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** deploy/nginx.conf with its upstreams and listen address pointed at this test's processes. */
function nginxConf(forwardAuthPort: number, upstreamPort: number): string {
  const shipped = readFileSync(join(root, 'deploy/nginx.conf'), 'utf8');
  const conf = shipped
    .replace('server forward-auth:4002;', `server 127.0.0.1:${forwardAuthPort};`)
    .replace('server collector:4001;', `server 127.0.0.1:${upstreamPort};`)
    .replace('listen 8080;', 'listen 127.0.0.1:{{port}};');
  expect(conf).not.toMatch(/forward-auth:4002|collector:4001|listen 8080/);
  return conf;
}

describe.skipIf(!nginxTool.available)('nginx auth_request in front of a service, through forward-auth', () => {
  let issuer: TestIssuer;
  let upstream: Server;
  let upstreamPort: number;
  const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  let forwardAuth: AppProcess;
  let nginx: NginxServer;

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    upstream = createServer((req, res) => {
      seen.push({ path: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ upstream: true }));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    upstreamPort = (upstream.address() as AddressInfo).port;
    const routesFile = join(mkdtempSync(join(tmpdir(), 'tessera-routes-')), 'routes.json');
    writeFileSync(
      routesFile,
      JSON.stringify({ routes: [{ prefix: '/collect', scopes: ['collect'] }, { prefix: '/admin', methods: ['GET'], scopes: ['admin'] }] }),
    );
    forwardAuth = await AppProcess.start('forward-auth', {
      ISSUER: issuer.url,
      AUDIENCE: 'collector',
      ROUTES_FILE: routesFile,
      TRUST_PROXY: '127.0.0.1',
    });
    nginx = await NginxServer.start(nginxTool.path, nginxConf(Number(new URL(forwardAuth.url).port), upstreamPort));
  });

  afterAll(async () => {
    await nginx?.stop();
    await forwardAuth?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
    await issuer?.stop();
  });

  const token = (claims: Record<string, unknown> = {}) => issuer.sign(claims);
  /** The request through nginx, and how many requests reached the upstream meanwhile. */
  async function through(path: string, headers: Record<string, string> = {}): Promise<Answer & { reached: number }> {
    const before = seen.length;
    const answer = await send(nginx.url, path, headers);
    return { ...answer, reached: seen.length - before };
  }

  it('passes a request with a good token to the upstream, with the identity headers set by nginx', async () => {
    const res = await through('/collect/items?x=1', { Authorization: `Bearer ${await token({ sub: 'svc-7', scope: 'collect read' })}`, 'X-Auth-Subject': 'forged-admin' });
    expect(res.status, nginx.errorLog()).toBe(200);
    expect(res.reached).toBe(1);
    expect(JSON.parse(res.body)).toEqual({ upstream: true });
    expect(seen.at(-1)).toMatchObject({
      path: '/collect/items?x=1',
      headers: { 'x-auth-subject': 'svc-7', 'x-auth-scope': 'collect read', 'x-auth-client-id': 'client-1', 'x-auth-audience': 'collector' },
    });
  });

  it('answers 401 with the bare challenge when there is no token, without reaching the upstream', async () => {
    const res = await through('/collect');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="collector", ${DPOP}`);
    expect(res.reached).toBe(0);
  });

  it('answers 401 invalid_token for a bad token, without reaching the upstream', async () => {
    const expired = await token({ exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await through('/collect', { Authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="collector", error="invalid_token", error_description="the access token has expired", ${DPOP}`);
    const forged = await through('/collect', { Authorization: `Bearer ${(await token()).slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
    expect(res.reached + forged.reached).toBe(0);
  });

  it('answers 403 insufficient_scope with the challenge for a missing scope, without reaching the upstream', async () => {
    const res = await through('/admin/users', { Authorization: `Bearer ${await token({ scope: 'collect' })}` });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="insufficient_scope", error_description="[^"]+", scope="admin", DPoP algs="[^"]+"$/);
    expect(res.reached).toBe(0);
  });

  it('answers 400 (not nginx\'s 500) to a malformed header or an encoded slash', async () => {
    const header = await through('/collect', { Authorization: 'Basic Zm9vOmJhcg==' });
    expect(header.status).toBe(400);
    expect(header.headers['www-authenticate']).toMatch(/^Bearer realm="collector", error="invalid_request"/);
    const slash = await through('/collect%2F..%2Fadmin', { Authorization: `Bearer ${await token({ scope: 'collect' })}` });
    expect(slash.status).toBe(400);
    expect(header.reached + slash.reached).toBe(0);
  });

  it('matches the original path with its dot segments removed, and the original method (the auth subrequest itself is a GET)', async () => {
    const auth = { Authorization: `Bearer ${await token({ scope: 'collect' })}` };
    const dots = await through('/collect/../admin/users', auth);
    expect(dots.status).toBe(403);
    expect(dots.reached).toBe(0);
    const admin = `Bearer ${await token({ scope: 'admin' })}`;
    const post = await new Promise<Answer>((resolve, reject) => {
      const req = request(`${nginx.url}/admin/users`, { method: 'POST', headers: { Authorization: admin }, agent: false }, (res) => {
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
      });
      req.once('error', reject);
      req.end();
    });
    expect(post.status).toBe(403);
    expect((await through('/admin/users', { Authorization: admin })).status).toBe(200);
  });

  it('passes a DPoP-bound token with a proof for the original URL; the same proof again, or one for /verify, is 401', async () => {
    const key = await dpopKey();
    const bound = await token({ cnf: { jkt: key.jkt } });
    const htu = `${nginx.url}/collect/items`;
    const dpop = await proof(key, { htm: 'GET', htu, accessToken: bound });
    const ok = await through('/collect/items?page=2', { Authorization: `DPoP ${bound}`, DPoP: dpop });
    expect(ok.status, nginx.errorLog()).toBe(200);
    expect(ok.reached).toBe(1);
    const replay = await through('/collect/items?page=2', { Authorization: `DPoP ${bound}`, DPoP: dpop });
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toMatch(/error="invalid_dpop_proof"/);
    expect(replay.reached).toBe(0);
    for (const wrong of [`${forwardAuth.url}/verify`, `${nginx.url}/_tessera_verify`]) {
      const res = await through('/collect/items', { Authorization: `DPoP ${bound}`, DPoP: await proof(key, { htm: 'GET', htu: wrong, accessToken: bound }) });
      expect(res.status, wrong).toBe(401);
      expect(res.reached).toBe(0);
    }
  });

  it('gives nothing to a client that forges X-Forwarded-Uri directly at forward-auth from an untrusted address', async () => {
    const auth = `Bearer ${await token({ scope: 'collect' })}`;
    const forged = await send(forwardAuth.url, '/verify', { Authorization: auth, 'X-Forwarded-Uri': '/collect', 'X-Original-URI': '/collect', 'X-Forwarded-Method': 'GET' }, '127.0.0.3');
    expect(forged.status).toBe(403);
    expect(forged.headers['x-auth-subject']).toBeUndefined();
    const fromProxy = await send(forwardAuth.url, '/verify', { Authorization: auth, 'X-Forwarded-Uri': '/collect' }, '127.0.0.1');
    expect(fromProxy.status).toBe(200);
  });

  it('answers 503 with Retry-After while forward-auth has no keys', async () => {
    const down = await AppProcess.start('forward-auth', { ISSUER: `http://127.0.0.1:${await freePort()}`, AUDIENCE: 'collector', REQUIRED_SCOPE: 'collect', TRUST_PROXY: '127.0.0.1' });
    const second = await NginxServer.start(nginxTool.path, nginxConf(Number(new URL(down.url).port), upstreamPort));
    try {
      const before = seen.length;
      const res = await send(second.url, '/collect', { Authorization: `Bearer ${await token()}` });
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(seen.length).toBe(before);
    } finally {
      await second.stop();
      await down.stop();
    }
  });
});
