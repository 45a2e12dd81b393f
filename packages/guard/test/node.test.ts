import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createAuthenticator, GuardError, sendGuardError } from '../src/index.js';
import { runAdapterCases } from './helpers/cases.js';

// node:http never has a parsed body: the adapter does not read the request stream.
runAdapterCases(
  'node:http',
  async ({ verifier, down }) => {
    const collect = createAuthenticator({ verifier, scopes: 'collect', realm: 'collector' });
    const unavailable = createAuthenticator({ verifier: down, realm: 'collector' });
    const server = createServer(async (req, res) => {
      const authenticate = req.url?.startsWith('/down') ? unavailable : collect;
      try {
        const claims = await authenticate(req);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ claims }));
      } catch (error) {
        if (!(error instanceof GuardError)) throw error;
        sendGuardError(res, error, authenticate);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  },
  { parsesBody: false },
);

describe('createAuthenticator', () => {
  it('checks its options at construction', () => {
    expect(() => createAuthenticator({ issuer: 'nope', audience: 'a' })).toThrow(/"issuer" must be an absolute http\(s\) URL/);
    expect(() => createAuthenticator({ issuer: 'http://localhost:4000', audience: 'a', scopes: ['has space'] })).toThrow(/"scopes"/);
  });
});
