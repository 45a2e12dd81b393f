import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import { createLogger } from '@tessera/service-kit';
import { Registry } from 'prom-client';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../collector/src/app.js';
import { ISSUER, LogCapture, startHarness } from './harness.js';

describe('logs of a full flow', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('are JSON lines with a request id, carry the security events, and never a secret or a token', async () => {
    const h = await startHarness('redis', { AUTH_FAILURE_LIMIT: '3' });
    try {
      const auth = createServer(h.app).listen(0, '127.0.0.1');
      servers.push(auth);
      await new Promise((r) => auth.once('listening', r));
      const collectorLogs = new LogCapture();
      const verifier = createVerifier({
        issuer: ISSUER,
        audience: 'collector',
        jwksUri: `http://127.0.0.1:${(auth.address() as AddressInfo).port}/.well-known/jwks.json`,
      });
      const collector = supertest(
        createCollectorApp({ config: { requiredScope: 'collect', trustProxy: false }, verifier, logger: createLogger({ service: 'collector', level: 'debug', destination: collectorLogs.stream }), registry: new Registry() }),
      );

      /** credentials whose every long segment must stay out of the logs (a refresh token's family id is not secret: its last segment is) */
      const secrets: string[] = [h.admin.secret];
      const adminToken = await h.adminToken();
      secrets.push(adminToken);
      const client = await h.createClient();
      secrets.push(client.client_secret);
      const first = await h.clientCredentials(client, { scope: 'collect' });
      secrets.push(first.body.access_token, first.body.refresh_token);
      const second = await h.refresh(client, first.body.refresh_token);
      secrets.push(second.body.access_token, second.body.refresh_token);
      expect((await h.refresh(client, first.body.refresh_token)).status).toBe(400);
      await h.http.post('/token/refresh').type('json').send({ refresh_token: second.body.refresh_token });
      await h.http.post('/revoke').auth(client.client_id, client.client_secret).type('form').send({ token: second.body.refresh_token });
      await h.http.post('/introspect').auth(h.admin.clientId, h.admin.secret).type('form').send({ token: second.body.access_token });

      expect((await collector.get('/collect').set('Authorization', `Bearer ${second.body.access_token}`)).status).toBe(200);
      expect((await collector.get('/collect').set('Authorization', `Bearer ${second.body.access_token}x`)).status).toBe(401);

      const wrong = ['wrong-secret-one-0123456789', 'wrong-secret-two-0123456789', 'wrong-secret-three-0123456789', 'wrong-secret-four-0123456789'];
      secrets.push(...wrong);
      for (const secret of wrong) await h.clientCredentials({ ...client, client_secret: secret });
      await h.http.post('/token').type('form').send({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: wrong[0]! });
      await h.http.post('/token').set('Authorization', `Basic ${Buffer.from(`${client.client_id}:${wrong[1]}`).toString('base64')}`).type('json').send({ grant_type: 'client_credentials' });

      const raw = [...h.logs.raw, ...collectorLogs.raw].join('\n');
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThan(16);
        expect(raw).not.toContain(secret);
        expect(raw).not.toContain(secret.split('.').at(-1));
      }

      const requests = [...h.logs.lines, ...collectorLogs.lines].filter((l) => l.msg === 'request');
      expect(requests.length).toBeGreaterThan(15);
      for (const line of requests) expect(line.req_id).toMatch(/^[\w.:-]+$/);
      for (const [service, capture] of [['auth-server', h.logs], ['collector', collectorLogs]] as const) {
        for (const line of capture.lines) expect(line).toMatchObject({ service, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
      }
      expect(collectorLogs.lines.filter((l) => l.msg === 'request')).toHaveLength(2);

      const event = (name: string) => h.logs.lines.filter((l) => l.event === name);
      // logged through the request's deps (forRequest): the line carries the request's id
      expect(event('refresh_token_reuse')).toEqual([expect.objectContaining({ level: 40, client_id: client.client_id, family_id: expect.any(String), req_id: expect.any(String) })]);
      expect(event('client_authentication_failures')).toEqual([
        expect.objectContaining({ level: 40, client_id: client.client_id, ip: expect.any(String), failures: 3, req_id: expect.any(String) }),
      ]);
    } finally {
      await h.close();
    }
  });
});
