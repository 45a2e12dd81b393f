import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createVerifier } from '@tessera/guard';
import type { Express } from 'express';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import qs from 'qs';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../collector/src/app.js';
import { parseForm } from '../src/http/body.js';
import { ISSUER, LogCapture, startHarness, type Harness } from './harness.js';

const BIG = 'a'.repeat(100 * 1024);
const JUST_OVER = 16 * 1024 + 1;
const TYPES = ['application/x-www-form-urlencoded', 'application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data; boundary=x'];

/**
 * Sends `body` over a real connection, any method: with Content-Length, or chunked (no Content-Length, so
 * only reading it can tell its size). `type` undefined sends no Content-Type; `extra` adds headers.
 */
function sendRaw(
  app: RequestListener,
  method: string,
  path: string,
  type: string | undefined,
  body: string,
  framing: 'chunked' | 'length' = 'chunked',
  extra: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    ...extra,
    ...(framing === 'chunked' ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': String(Buffer.byteLength(body)) }),
  };
  if (type !== undefined) headers['Content-Type'] = type;
  return new Promise((resolve, reject) => {
    const server: Server = createServer(app).listen(0, '127.0.0.1', () => {
      const req = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method, path, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => {
          server.close();
          resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> });
        });
      });
      req.on('error', (error) => {
        server.close();
        reject(error);
      });
      for (let i = 0; i < body.length; i += 4096) req.write(body.slice(i, i + 4096));
      req.end();
    });
  });
}

describe('request bodies on the auth server', () => {
  let h: Harness;
  let operations: [method: string, path: string][];
  let bearer: string;
  beforeAll(async () => {
    h = await startHarness('memory');
    bearer = `Bearer ${await h.adminToken()}`;
    const doc = (await h.http.get('/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    operations = Object.entries(doc.paths)
      .filter(([path]) => path !== '/collect')
      .flatMap(([path, item]) => Object.keys(item).filter((m) => ['get', 'post', 'delete'].includes(m)).map((m) => [m, path.replace(/\{\w+\}/g, 'x')] as [string, string]));
  });
  afterAll(() => h.close());

  it('refuses a body over 16 KiB with 413 on every endpoint, whatever its content type', async () => {
    expect(operations.length).toBeGreaterThan(15);
    for (const [method, path] of operations) {
      for (const type of TYPES) {
        const res = await (h.http as unknown as Record<string, (p: string) => supertest.Test>)[method]!(path)
          .set('Authorization', bearer)
          .set('Content-Type', type)
          .send(path.startsWith('/token') && type.includes('form') ? `grant_type=client_credentials&x=${BIG}` : BIG);
        expect(res.status, `${method} ${path} ${type}`).toBe(413);
        expect(res.body, `${method} ${path} ${type}`).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('16 KiB') });
      }
    }
  });

  it('413 for the body the issue names: 100 KB of form to POST /admin/clients', async () => {
    const res = await h.http.post('/admin/clients').set('Authorization', bearer).type('form').send(`name=${BIG}`);
    expect(res.status).toBe(413);
  });

  it('413 for a chunked body without Content-Length once 16 KiB are read', async () => {
    for (const [method, path, type] of [
      ['POST', '/token', 'application/x-www-form-urlencoded'],
      ['POST', '/admin/clients', 'application/json'],
      ['POST', '/admin/clients', 'text/plain'],
      ['GET', '/healthz', 'application/octet-stream'],
    ] as const) {
      const res = await sendRaw(h.app, method, path, type, 'x'.repeat(JUST_OVER));
      expect(res.status, `${method} ${path} ${type}`).toBe(413);
      expect(res.body.error).toBe('invalid_request');
    }
  });

  it('415 in the OAuth error shape for a type an endpoint does not take', async () => {
    const client = await h.createClient();
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const cases: [string, string, string][] = [
      ...['/token', '/token/refresh', '/revoke', '/introspect'].flatMap((p) =>
        ['text/plain', 'multipart/form-data; boundary=x', 'application/xml'].map((t) => [p, t, basic] as [string, string, string]),
      ),
      ...['/admin/clients', '/admin/keys/rotate', '/admin/clients/x/secret'].flatMap((p) =>
        ['application/x-www-form-urlencoded', 'text/plain'].map((t) => [p, t, bearer] as [string, string, string]),
      ),
    ];
    for (const [path, type, auth] of cases) {
      const res = await h.http.post(path).set('Authorization', auth).set('Content-Type', type).send('grant_type=client_credentials&token=x&name=x');
      expect(res.status, `${path} ${type}`).toBe(415);
      expect(res.body, `${path} ${type}`).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/^the body must be application\//) });
    }
    const untyped = await sendRaw(h.app, 'POST', '/token', undefined, 'grant_type=client_credentials', 'length');
    expect(untyped).toEqual({ status: 415, body: { error: 'invalid_request', error_description: expect.stringMatching(/^the body must be/) } });
  });

  it('takes form and JSON on the OAuth endpoints and JSON on /admin', async () => {
    const client = await h.createClient();
    for (const send of [(t: supertest.Test) => t.type('form'), (t: supertest.Test) => t.type('json')]) {
      const res = await send(h.http.post('/token').auth(client.client_id, client.client_secret)).send({ grant_type: 'client_credentials' });
      expect(res.status).toBe(200);
      const revoked = await send(h.http.post('/revoke').auth(client.client_id, client.client_secret)).send({ token: res.body.refresh_token });
      expect(revoked.status).toBe(200);
    }
    const created = await h.http.post('/admin/clients').set('Authorization', bearer).send({ name: 'json', scopes: ['collect'], audiences: ['collector'] });
    expect(created.status).toBe(201);
    expect((await h.http.get('/healthz').set('Content-Type', 'text/plain').send('small bodies are ignored')).status).toBe(200);
  });
});

describe('form bodies read directly (Content-Length, no parameters on the type)', () => {
  const bodyParser = (text: string) =>
    qs.parse(text, { allowPrototypes: true, arrayLimit: text.split('&').length, depth: 0, charset: 'utf-8', parameterLimit: 50, strictDepth: true });

  it('parse exactly as body-parser urlencoded({ extended: false }) does', () => {
    const bodies = [
      'grant_type=client_credentials&scope=collect',
      'scope=a+b%20c&x=%2B',
      'x=%zz+y&y=%E0%A4%A&z=%C3%28',
      'a=1&a=2&a=3',
      '&&a=1&',
      '=x&__proto__=1&hasOwnProperty=2&constructor=3',
      'novalue&empty=&a=b=c',
      'a+b=1&%61=2',
      'k%26=v%3D&%F0%9F%94%91=%F0%9F%94%91',
      '[grant_type]=client_credentials',
      'a[]=1&a[]=2&b[c]=d&e%5Bf%5D=g&x]=y=z',
    ];
    for (const text of bodies) expect({ ...parseForm(text) }, text).toEqual({ ...bodyParser(text) });
  });

  it('answer the same whether the body is framed by Content-Length or chunked', async () => {
    const h = await startHarness('memory');
    try {
      const client = await h.createClient();
      const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
      const cases: [type: string, body: string, status: number, error?: string][] = [
        ['application/x-www-form-urlencoded', 'grant_type=client_credentials&scope=collect', 200],
        ['application/json', '{"grant_type":"client_credentials"}', 200],
        ['application/json', ' \n"client_credentials"', 400, 'invalid_request'],
        ['application/json', '{"grant_type":', 400, 'invalid_request'],
        ['application/x-www-form-urlencoded', Array.from({ length: 51 }, (_, i) => `p${i}=1`).join('&'), 413, 'invalid_request'],
        ['application/x-www-form-urlencoded', 'grant_type=client_credentials&grant_type=client_credentials', 400, 'invalid_request'],
        ['application/x-www-form-urlencoded', 'grant_type=password', 400, 'unsupported_grant_type'],
      ];
      for (const [type, body, status, error] of cases) {
        for (const framing of ['length', 'chunked'] as const) {
          const res = await sendRaw(h.app, 'POST', '/token', type, body, framing, { Authorization: basic });
          expect(res.status, `${framing} ${body}`).toBe(status);
          if (error) expect(res.body.error, `${framing} ${body}`).toBe(error);
          else expect(res.body.access_token, `${framing} ${body}`).toEqual(expect.any(String));
        }
      }
    } finally {
      await h.close();
    }
  });
});

describe('request bodies on the collector', () => {
  it('413 for a body over 16 KiB on every endpoint, whatever its content type', async () => {
    const verifier = createVerifier({ issuer: ISSUER, audience: 'collector', jwksUri: `${ISSUER}/.well-known/jwks.json` });
    const app = createCollectorApp({ config: { requiredScope: 'collect', trustProxy: false }, verifier, logger: pino({ level: 'silent' }, new LogCapture().stream), registry: new Registry() });
    for (const path of ['/collect', '/healthz', '/metrics']) {
      for (const type of TYPES) {
        const res = await sendRaw(app, 'GET', path, type, BIG, 'length');
        expect(res.status, `${path} ${type}`).toBe(413);
        expect(res.body).toEqual({ error: 'invalid_request', error_description: 'the body is too large (16 KiB at most)' });
      }
      expect((await sendRaw(app, 'GET', path, 'application/json', 'x'.repeat(JUST_OVER))).status).toBe(413);
    }
    expect((await supertest(app).get('/healthz').set('Content-Type', 'text/plain').send('small')).status).toBe(200);
  });
});
