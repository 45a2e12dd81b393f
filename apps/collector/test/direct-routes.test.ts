import type { Server } from 'node:http';
import { createVerifier } from '@tessera/guard';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestIssuer } from '../../../packages/guard/test/helpers/issuer.js';
import { comparable, DIRECT_SERVERS, expressEntries } from '../../../test/support/direct-routes.js';
import { createApp } from '../src/app.js';

/**
 * `GET /collect` is served directly on node:http (the service kit's directRoutes); `/collect/` (a trailing
 * slash) by the express route behind it. The same request must get the same answer from both.
 */

describe.each(DIRECT_SERVERS)('GET /collect served directly answers as express would, on %s', (_server, serve) => {
  let issuer: TestIssuer;
  let app: ReturnType<typeof createApp>;
  let server: Server;
  beforeAll(async () => {
    issuer = await TestIssuer.start();
    const verifier = createVerifier({ issuer: issuer.url, audience: 'collector' });
    app = createApp({ config: { requiredScope: 'collect', trustProxy: false, corsOrigins: ['https://docs.example'] }, verifier, logger: pino({ level: 'silent' }), registry: new Registry() });
    server = serve(app);
  });
  afterAll(() => issuer.stop());

  const cases: [string, (r: request.Test, token: string) => request.Test][] = [
    ['a valid Bearer token', (r, token) => r.set('Authorization', `Bearer ${token}`)],
    ['no token', (r) => r],
    ['a tampered token', (r, token) => r.set('Authorization', `Bearer ${token.slice(0, -4)}AAAA`)],
    ['another scheme', (r, token) => r.set('Authorization', `Basic ${token}`)],
    ['a token in the query too', (r, token) => r.query({ access_token: token }).set('Authorization', `Bearer ${token}`)],
    ['a DPoP scheme without a proof', (r, token) => r.set('Authorization', `DPoP ${token}`)],
    ['an allowed CORS origin', (r, token) => r.set('Origin', 'https://docs.example').set('Authorization', `Bearer ${token}`)],
    ['a body over 16 KiB', (r, token) => r.set('Authorization', `Bearer ${token}`).type('text/plain').send('x'.repeat(17 * 1024))],
  ];

  it.each(cases)('%s', async (_name, send) => {
    const token = await issuer.sign({ scope: 'collect', aud: 'collector' });
    const viaExpress = await send(request(server).get('/collect/'), token);
    const direct = await send(request(server).get('/collect'), token);
    expect(comparable(direct)).toEqual(comparable(viaExpress));
  });

  it('serves /collect without entering express, and everything else through it', async () => {
    const entered = expressEntries(app.app);
    try {
      const token = await issuer.sign({ scope: 'collect', aud: 'collector' });
      await request(server).get('/collect').set('Authorization', `Bearer ${token}`).expect(200);
      await request(server).options('/collect').set('Origin', 'https://docs.example').set('Access-Control-Request-Method', 'GET').expect(204);
      await request(server).get('/healthz').expect(200);
      expect(entered.urls).toEqual(['/collect', '/healthz']);
    } finally {
      entered.stop();
    }
  });
});
