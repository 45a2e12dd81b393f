import { Writable } from 'node:stream';
import express from 'express';
import supertest from 'supertest';
import { describe, expect, it } from 'vitest';
import { chain, createLogger, errorHandler, notFoundHandler, requestContext, requestLogger, type RequestOutcome } from '../src/index.js';

function logs() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger({ service: 'kit-test', level: 'debug', destination: stream }) };
}

class Teapot extends Error {}

function app() {
  const { lines, logger } = logs();
  const outcomes: RequestOutcome[] = [];
  const a = express();
  a.use(requestContext({ logger, observe: (o) => outcomes.push(o) }));
  a.get('/items/:id', (_req, res) => {
    requestLogger(res, logger).info('handling');
    res.json({ ok: true });
  });
  a.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  a.get('/teapot', () => {
    throw new Teapot('short and stout');
  });
  a.get('/boom', () => {
    throw new Error('secret internals at /srv/app.ts:12');
  });
  a.use(notFoundHandler);
  a.use(errorHandler({ logger, known: (e) => (e instanceof Teapot ? { status: 418, body: { error: 'teapot' }, headers: { 'X-Pot': '1' } } : undefined) }));
  return { http: supertest(a), lines, outcomes };
}

describe('requestContext', () => {
  it('keeps a sane incoming X-Request-Id, echoes it and puts it on the request lines', async () => {
    const { http, lines, outcomes } = app();
    const res = await http.get('/items/7').set('X-Request-Id', 'abc-123.x:y');
    expect(res.headers['x-request-id']).toBe('abc-123.x:y');
    expect(lines.find((l) => l.msg === 'handling')).toMatchObject({ req_id: 'abc-123.x:y', service: 'kit-test' });
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ req_id: 'abc-123.x:y', method: 'GET', route: '/items/:id', status: 200, ms: expect.any(Number) });
    expect(outcomes).toEqual([{ method: 'GET', route: '/items/:id', status: 200 }]);
  });

  it.each(['has space', 'x'.repeat(129), 'semi;colon', 'new\tline'])('replaces an unsafe incoming id %j with a UUID', async (incoming) => {
    const { http } = app();
    const res = await http.get('/items/1').set('X-Request-Id', incoming);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives each request its own id and no access line for probes', async () => {
    const { http, lines } = app();
    const a = await http.get('/items/1');
    const b = await http.get('/items/2');
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    await http.get('/healthz');
    expect(lines.filter((l) => l.msg === 'request')).toHaveLength(2);
  });
});

describe('notFoundHandler', () => {
  it('answers JSON 404 naming the method and path, with the route unmatched', async () => {
    const { http, lines } = app();
    const res = await http.post('/nowhere');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', error_description: 'no route for POST /nowhere' });
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({ route: 'unmatched', status: 404 });
  });
});

describe('errorHandler', () => {
  it('answers a known error as the app maps it', async () => {
    const { http, lines } = app();
    const res = await http.get('/teapot');
    expect(res.status).toBe(418);
    expect(res.headers['x-pot']).toBe('1');
    expect(res.body).toEqual({ error: 'teapot' });
    expect(lines.some((l) => l.level === 50)).toBe(false);
  });

  it('turns anything else into a logged server_error with nothing of the error in the body', async () => {
    const { http, lines } = app();
    const res = await http.get('/boom').set('X-Request-Id', 'boom-1');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'server_error', error_description: 'the server could not handle the request' });
    expect(res.text).not.toContain('secret internals');
    expect(lines.find((l) => l.msg === 'unexpected error')).toMatchObject({ level: 50, req_id: 'boom-1', path: '/boom', err: { message: expect.stringContaining('secret internals') } });
  });
});

describe('securityHeaders', () => {
  it('sets exactly the headers helmet() sets, on every response', async () => {
    const { default: helmet } = await import('helmet');
    const { securityHeaders } = await import('../src/index.js');
    const answer = (a: express.Express) => {
      a.get('/x', (_req, res) => void res.json({ ok: true }));
      return supertest(a).get('/x');
    };
    const withHelmet = express();
    withHelmet.use(helmet());
    const withKit = express();
    withKit.use(securityHeaders());
    const [expected, actual] = await Promise.all([answer(withHelmet), answer(withKit)]);
    const strip = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
    expect(strip(actual.headers)).toEqual(strip(expected.headers));
    expect(actual.headers['content-security-policy']).toContain("default-src 'self'");
    expect(actual.headers['x-powered-by']).toBeUndefined();
  });
});

describe('chain', () => {
  const answer = (a: express.Express) => {
    a.get('/x', (_req, res) => void res.json({ steps: res.locals.steps }));
    a.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ failed: (error as Error).message, steps: res.locals.steps });
    });
    return supertest(a).get('/x');
  };
  const step = (name: string): express.RequestHandler => (_req, res, next) => {
    res.locals.steps = [...((res.locals.steps as string[] | undefined) ?? []), name];
    next();
  };

  it('runs the handlers in order, as one middleware, then the routes', async () => {
    const a = express();
    a.use(chain(step('a'), (req, res, next) => void setImmediate(() => step('b')(req, res, next)), step('c')));
    expect((await answer(a).expect(200)).body).toEqual({ steps: ['a', 'b', 'c'] });
  });

  it('hands next(error), a thrown error and a rejected promise to the error handler, skipping the rest', async () => {
    const failing: express.RequestHandler[] = [
      (_req, _res, next) => next(new Error('passed')),
      () => {
        throw new Error('thrown');
      },
      async () => {
        await Promise.resolve();
        throw new Error('rejected');
      },
    ];
    for (const [i, handler] of failing.entries()) {
      const a = express();
      a.use(chain(step('a'), handler, step('never')));
      const res = await answer(a).expect(500);
      expect(res.body).toEqual({ failed: ['passed', 'thrown', 'rejected'][i], steps: ['a'] });
    }
  });
});
