import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { createLogger } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { pick, prng, sendRaw, serialize } from '../../../test/support/fuzz.js';
import { createApp } from '../src/app.js';
import { parseRoutes } from '../src/routes.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const REQUESTS = 400;

const METHODS = ['GET', 'POST', 'HEAD', 'OPTIONS', 'PROPFIND', 'M-SEARCH', 'get', 'X'.repeat(40), 'BREW', 'TRACE'];
const PATHS = ['/verify', '/verify/', '/verify/api/x', '/verify/%2F', '/verify/..%5C', '/verify/%zz', '/verify//api', '/verify?access_token=x', '/verify/a?b=%00'];
const URIS = ['/api/x', '/api/%2e%2e/admin', '/api%2Fx', '/a\\b', '/%zz', 'http://x/y', '*', '', '/a'.repeat(3000), '/api/x?access_token=t', '/\u00ff', '/%00', '/a b'];
const HOSTS = ['example.com', 'a b', '[::1]:80', 'x'.repeat(300), 'évil', '', 'host:99999999', 'a,b'];
const PROTOS = ['https', 'http', 'gopher', 'https, http', '', 'HTTPS'];

describe('forward-auth bad input', () => {
  let issuer: TestIssuer;
  let server: Server;

  beforeAll(async () => {
    issuer = await TestIssuer.start();
    const routes = parseRoutes({ routes: [{ prefix: '/api', scopes: ['collect'] }, { prefix: '/admin', methods: ['GET'], scopes: ['admin'] }] }, 'collector');
    const app = createApp({
      config: { audience: 'collector', requiredScopes: [], routes, trustProxy: 'loopback' },
      verifier: createVerifier({ issuer: issuer.url, audience: 'collector' }),
      logger: createLogger({ service: 'forward-auth', level: 'silent' }),
      registry: new Registry(),
    });
    server = createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await issuer.stop();
  });

  it(`answers ${REQUESTS} generated odd requests (seed ${SEED}) with a 2xx or 4xx, never a 5xx`, async () => {
    const random = prng(SEED);
    const good = await issuer.sign();
    const { port } = server.address() as AddressInfo;
    const statuses = new Map<number, number>();
    for (let i = 0; i < REQUESTS; i++) {
      const headers: [string, string][] = [];
      const roll = random();
      if (roll < 0.4) headers.push(['Authorization', `Bearer ${good}`]);
      else if (roll < 0.6) headers.push(['Authorization', pick(random, ['Bearer', 'Bearer a b', `Bearer ${'a'.repeat(9000)}`, 'DPoP x', 'bearer\tx', `Bearer ${good.slice(0, -3)}`])]);
      if (random() < 0.15) headers.push(['Authorization', `Bearer ${good}`]);
      if (random() < 0.6) headers.push([pick(random, ['X-Forwarded-Uri', 'X-Original-URI']), pick(random, URIS)]);
      if (random() < 0.15) headers.push(['X-Forwarded-Uri', pick(random, URIS)]);
      if (random() < 0.4) headers.push([pick(random, ['X-Forwarded-Method', 'X-Original-Method']), pick(random, METHODS)]);
      if (random() < 0.3) headers.push(['X-Forwarded-Host', pick(random, HOSTS)]);
      if (random() < 0.3) headers.push(['X-Forwarded-Proto', pick(random, PROTOS)]);
      if (random() < 0.05) headers.push(['X-Huge', 'h'.repeat(12_000)]);
      const request = { method: pick(random, METHODS), path: pick(random, PATHS), headers, body: Buffer.alloc(0) };
      const { status, response } = await sendRaw(port, serialize(request));
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (!(status >= 200 && status < 500)) {
        expect.fail(`request ${i} (seed ${SEED}) answered ${status}: ${JSON.stringify(request).slice(0, 500)}\n${response.slice(0, 500)}`);
      }
    }
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
  });

  it('answers 431 to headers beyond the server limit, not a 5xx', async () => {
    const { port } = server.address() as AddressInfo;
    const { status } = await sendRaw(port, serialize({ method: 'GET', path: '/verify', headers: [['X-Forwarded-Uri', `/${'a'.repeat(20_000)}`]], body: Buffer.alloc(0) }));
    expect(status).toBe(431);
  });
});
