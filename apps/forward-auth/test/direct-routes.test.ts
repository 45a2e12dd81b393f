import type { Server } from 'node:http';
import { createVerifier } from '@tessera/guard';
import { createLogger } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { comparable, DIRECT_SERVERS, expressEntries } from '../../../test/support/direct-routes.js';
import { createApp } from '../src/app.js';

/** `GET /verify` is served directly (the kit's directRoutes), `/verify/` by express: the same request gets the same answer. */

describe.each(DIRECT_SERVERS)('GET /verify served directly answers as express would, on %s', (_server, serve) => {
  let issuer: TestIssuer;
  let app: ReturnType<typeof createApp>;
  let server: Server;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    app = createApp({
      config: { audience: 'collector', requiredScopes: ['collect'], routes: undefined, trustProxy: true },
      verifier: createVerifier({ issuer: issuer.url, audience: 'collector' }),
      logger: createLogger({ service: 'forward-auth', level: 'silent' }),
      registry: new Registry(),
    });
    server = serve(app);
  });
  afterAll(() => issuer.stop());

  const forwarded = { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example.com', 'X-Forwarded-Uri': '/items/7' };
  const cases: [string, (r: request.Test, token: string) => request.Test][] = [
    ['a valid token', (r, token) => r.set(forwarded).set('Authorization', `Bearer ${token}`)],
    ['no token', (r) => r.set(forwarded)],
    ['a tampered token', (r, token) => r.set(forwarded).set('Authorization', `Bearer ${token.slice(0, -4)}AAAA`)],
    ['a DPoP token without a proof', (r, token) => r.set(forwarded).set('Authorization', `DPoP ${token}`)],
  ];

  it.each(cases)('%s', async (_name, send) => {
    const token = await issuer.sign({ scope: 'collect', aud: 'collector' });
    const viaExpress = await send(request(server).get('/verify/'), token);
    const direct = await send(request(server).get('/verify'), token);
    expect(comparable(direct)).toEqual(comparable(viaExpress));
  });

  it('answers GET /verify without entering express', async () => {
    const entered = expressEntries(app.app);
    try {
      const token = await issuer.sign({ scope: 'collect', aud: 'collector' });
      await request(server).get('/verify').set(forwarded).set('Authorization', `Bearer ${token}`).expect(200);
      await request(server).post('/verify').set(forwarded).set('Authorization', `Bearer ${token}`).expect(200);
      expect(entered.urls).toEqual(['/verify']);
    } finally {
      entered.stop();
    }
  });
});
