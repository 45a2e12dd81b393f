import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serialize, sendRaw } from '../../../../test/support/fuzz.js';
import { dpopKey, proof, type DpopKey } from '../../../../test/support/dpop.js';
import { createVerifier, type Verifier } from '../../src/index.js';
import { badTokens } from './attacks.js';
import { TestIssuer } from './issuer.js';

/**
 * The one table of request cases every adapter (express, fastify, node:http) must answer alike.
 * Each adapter test mounts the guard on a real server and calls {@link runAdapterCases}.
 */

/** What an adapter test provides: a listening server whose routes use the given verifiers. */
export interface Mount {
  /**
   * Starts a server on 127.0.0.1:0 with
   * - `/collect`: the guard with `verifier`, scopes `collect`, realm `collector`;
   * - `/down`: the guard with `down` (no keys can be fetched), realm `collector`.
   * A passing request is answered 200 with JSON `{ claims, tokenLength }`.
   */
  (verifiers: { verifier: Verifier; down: Verifier }): Promise<Server>;
}

interface Ctx {
  issuer: TestIssuer;
  attacker: TestIssuer;
  /** A client's DPoP key. */
  key: DpopKey;
}

/** The URL the server sees for `path` (the raw requests carry `Host: 127.0.0.1`). */
const seen = (path = '/collect') => `http://127.0.0.1${path}`;

/** The challenge parameters every 401 carries for the DPoP scheme (default `dpop: "allowed"`). */
const DPOP_CHALLENGE = 'DPoP algs="ES256 ES384 EdDSA RS256 PS256"';

interface Case {
  name: string;
  method?: string;
  path?: string;
  headers: (ctx: Ctx) => Promise<[string, string][]>;
  body?: string;
  /** Send the same request once before (it must pass), then check the second answer: a replay. */
  replay?: boolean;
  /** The adapter must parse bodies (express.json, fastify) for this case. */
  parsesBody?: boolean;
  status: number;
  error?: string;
  /** The exact WWW-Authenticate, or a pattern. */
  challenge?: string | RegExp | null;
  check?: (body: Record<string, unknown>, ctx: Ctx, response: Parsed) => void;
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

const bearer = (token: string): [string, string][] => [['Authorization', `Bearer ${token}`]];

/** The shared table. */
export const adapterCases: Case[] = [
  {
    name: 'a valid token: 200 with the claims',
    headers: async ({ issuer }) => bearer(await issuer.sign({ jti: 'j-shared' })),
    status: 200,
    check: (body) => expect(body).toMatchObject({ claims: { jti: 'j-shared', client_id: 'client-1', sub: 'client-1', scope: 'collect' } }),
  },
  {
    name: 'the scheme in any case',
    headers: async ({ issuer }) => [['Authorization', `bEaReR ${await issuer.sign()}`]],
    status: 200,
  },
  {
    name: 'no token: 401 with a bare challenge',
    headers: async () => [],
    status: 401,
    error: 'unauthorized',
    challenge: `Bearer realm="collector", ${DPOP_CHALLENGE}`,
  },
  {
    name: 'an expired token: 401 invalid_token',
    headers: async ({ issuer }) => bearer(await issuer.sign({ exp: Math.floor(Date.now() / 1000) - 60 })),
    status: 401,
    error: 'invalid_token',
    challenge: `Bearer realm="collector", error="invalid_token", error_description="the access token has expired", ${DPOP_CHALLENGE}`,
  },
  {
    name: 'a token for another audience: 401 invalid_token',
    headers: async ({ issuer }) => bearer(await issuer.sign({}, { audience: 'billing' })),
    status: 401,
    error: 'invalid_token',
    challenge: /error_description="the access token is not intended for this audience", DPoP algs="[^"]+"$/,
  },
  ...badTokens.slice(0, 6).map(
    (bad): Case => ({
      name: `a bad token (${bad.name}): 401 invalid_token`,
      headers: async ({ issuer, attacker }) => bearer(await bad.make(issuer, attacker)),
      status: 401,
      error: 'invalid_token',
      challenge: /^Bearer realm="collector", error="invalid_token", error_description="[^"]+", DPoP algs="[^"]+"$/,
      check: (body) => expect(String(body.error_description)).toMatch(bad.description),
    }),
  ),
  {
    name: 'a missing scope: 403 insufficient_scope naming the scope',
    headers: async ({ issuer }) => bearer(await issuer.sign({ scope: 'read' })),
    status: 403,
    error: 'insufficient_scope',
    challenge: /^Bearer realm="collector", error="insufficient_scope", error_description="[^"]+", scope="collect", DPoP algs="[^"]+"$/,
  },
  ...(
    [
      ['another scheme', 'Basic Y2xpZW50OnNlY3JldA=='],
      ['the scheme alone', 'Bearer'],
      ['two tokens', 'Bearer abc.def.ghi jkl.mno.pqr'],
      ['a token with a quote', 'Bearer "abc"'],
    ] as const
  ).map(
    ([what, header]): Case => ({
      name: `a malformed header (${what}): 400 invalid_request`,
      headers: async () => [['Authorization', header]],
      status: 400,
      error: 'invalid_request',
      challenge: /^Bearer realm="collector", error="invalid_request", error_description="/,
    }),
  ),
  {
    name: 'two Authorization headers: 400 invalid_request',
    headers: async ({ issuer }) => [...bearer(await issuer.sign()), ['Authorization', 'Bearer other']],
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'the token also in the query: 400 invalid_request',
    path: '/collect?access_token=abc',
    headers: async ({ issuer }) => bearer(await issuer.sign()),
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'the token in a JSON body: 400 invalid_request',
    method: 'POST',
    headers: async ({ issuer }) => [...bearer(await issuer.sign()), ['Content-Type', 'application/json']],
    body: JSON.stringify({ access_token: 'abc' }),
    parsesBody: true,
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'DPoP: a bound token with a proof for this request: 200',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: seen(), accessToken: token })]];
    },
    status: 200,
    check: (body, { key }) => expect(body).toMatchObject({ claims: { cnf: { jkt: key.jkt } } }),
  },
  {
    name: 'DPoP: the same proof replayed: 401 invalid_dpop_proof on the DPoP challenge',
    replay: true,
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: seen(), accessToken: token })]];
    },
    status: 401,
    error: 'invalid_dpop_proof',
    challenge: /^Bearer realm="collector", DPoP algs="[^"]+", error="invalid_dpop_proof", error_description="[^"]+"$/,
  },
  {
    name: 'DPoP: a proof for another URL: 401 invalid_dpop_proof',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: seen('/elsewhere'), accessToken: token })]];
    },
    status: 401,
    error: 'invalid_dpop_proof',
    check: (body) => expect(body.error_description).toMatch(/htu/),
  },
  {
    name: 'DPoP: a proof for another method: 401 invalid_dpop_proof',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'POST', htu: seen(), accessToken: token })]];
    },
    status: 401,
    error: 'invalid_dpop_proof',
  },
  {
    name: 'DPoP: a proof by another key: 401 invalid_dpop_proof',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt } });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(await dpopKey(), { htm: 'GET', htu: seen(), accessToken: token })]];
    },
    status: 401,
    error: 'invalid_dpop_proof',
  },
  {
    name: 'DPoP: the scheme without a proof: 401 invalid_dpop_proof',
    headers: async ({ issuer, key }) => [['Authorization', `DPoP ${await issuer.sign({ cnf: { jkt: key.jkt } })}`]],
    status: 401,
    error: 'invalid_dpop_proof',
  },
  {
    name: 'DPoP: a bound token presented as Bearer: 401 invalid_token',
    headers: async ({ issuer, key }) => [['Authorization', `Bearer ${await issuer.sign({ cnf: { jkt: key.jkt } })}`]],
    status: 401,
    error: 'invalid_token',
    challenge: /^Bearer realm="collector", error="invalid_token", error_description="[^"]+", DPoP algs="[^"]+"$/,
  },
  {
    name: 'DPoP: an unbound token under the DPoP scheme: 401 invalid_token',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign();
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: seen(), accessToken: token })]];
    },
    status: 401,
    error: 'invalid_token',
  },
  {
    name: 'DPoP: a bound token with a proof but a missing scope: 403 insufficient_scope',
    headers: async ({ issuer, key }) => {
      const token = await issuer.sign({ cnf: { jkt: key.jkt }, scope: 'read' });
      return [['Authorization', `DPoP ${token}`], ['DPoP', await proof(key, { htm: 'GET', htu: seen(), accessToken: token })]];
    },
    status: 403,
    error: 'insufficient_scope',
  },
  {
    name: 'no keys ever fetched: 503 with Retry-After and no challenge',
    path: '/down',
    headers: async ({ issuer }) => bearer(await issuer.sign()),
    status: 503,
    error: 'temporarily_unavailable',
    challenge: null,
    check: (_body, _ctx, response) => expect(response.headers['retry-after']).toMatch(/^\d+$/),
  },
];

function parse(raw: string): Parsed {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let text = raw.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let out = '';
    for (let rest = text; ; ) {
      const eol = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, eol), 16);
      if (!size) break;
      out += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 4 + size);
    }
    text = out;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Runs {@link adapterCases} against the server `mount` starts (raw HTTP, so repeated headers reach it). */
export function runAdapterCases(adapter: string, mount: Mount, { parsesBody = true } = {}): void {
  describe(`${adapter}: the shared adapter cases`, () => {
    const ctx = {} as Ctx;
    let server: Server;
    let down: TestIssuer;

    beforeAll(async () => {
      ctx.issuer = await TestIssuer.start();
      ctx.attacker = await TestIssuer.start();
      ctx.key = await dpopKey();
      down = await TestIssuer.start();
      await down.stop();
      server = await mount({
        verifier: createVerifier({ issuer: ctx.issuer.url, audience: 'collector', cooldown: 3600 }),
        down: createVerifier({ issuer: down.url, audience: 'collector' }),
      });
    });

    afterAll(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([ctx.issuer.stop(), ctx.attacker.stop()]);
    });

    const cases = adapterCases.filter((c) => parsesBody || !c.parsesBody);
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      const { port } = server.address() as AddressInfo;
      const raw = serialize({
        method: c.method ?? 'GET',
        path: c.path ?? '/collect',
        headers: await c.headers(ctx),
        body: Buffer.from(c.body ?? ''),
      });
      if (c.replay) expect(parse((await sendRaw(port, raw)).response).status).toBe(200);
      const response = parse((await sendRaw(port, raw)).response);
      expect(response.status).toBe(c.status);
      if (c.error !== undefined) expect(response.body).toEqual({ error: c.error, error_description: expect.any(String) });
      if (c.challenge === null) expect(response.headers['www-authenticate']).toBeUndefined();
      else if (typeof c.challenge === 'string') expect(response.headers['www-authenticate']).toBe(c.challenge);
      else if (c.challenge) expect(response.headers['www-authenticate']).toMatch(c.challenge);
      c.check?.(response.body, ctx, response);
    });
  });
}
