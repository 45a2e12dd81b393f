import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
}

let counter = 0;

/** Generates a signing key pair with a unique kid. */
export async function makeKey(alg = 'ES256', kid = `key-${++counter}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, privateJwk };
}

/**
 * A small real issuer: serves RFC 8414 metadata and a JWKS over node:http on a free
 * port, counts requests, and can swap keys, hang, or be stopped and started again.
 */
export class TestIssuer {
  keys: TestKey[] = [];
  /** What the JWKS endpoint serves; defaults to the public JWKs of `keys`. */
  jwksBody: (() => unknown) | undefined;
  /** What the metadata endpoint serves; defaults to issuer + jwks_uri. */
  metadataBody: (() => unknown) | undefined;
  jwksCacheControl: string | undefined = 'public, max-age=300';
  /** When true, requests are accepted but never answered. */
  hang = false;
  requests = { metadata: 0, jwks: 0 };
  #server: Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get jwksUri(): string {
    return `${this.url}/jwks.json`;
  }

  static async start(keyCount = 1): Promise<TestIssuer> {
    const issuer = new TestIssuer();
    for (let i = 0; i < keyCount; i++) issuer.keys.push(await makeKey());
    await issuer.start();
    return issuer;
  }

  get key(): TestKey {
    const key = this.keys[0];
    if (!key) throw new Error('the test issuer has no key');
    return key;
  }

  async addKey(alg = 'ES256'): Promise<TestKey> {
    const key = await makeKey(alg);
    this.keys.push(key);
    return key;
  }

  /** Starts listening, on the same port as before when restarted. */
  start(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        this.#port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Signs an access token with `key` (default: the first key) and sensible claims. */
  sign(claims: JWTPayload = {}, options: { key?: TestKey; header?: Record<string, unknown>; audience?: string } = {}): Promise<string> {
    const key = options.key ?? this.key;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: this.url,
      sub: 'client-1',
      aud: options.audience ?? 'collector',
      iat: now,
      exp: now + 300,
      jti: `jti-${++counter}`,
      client_id: 'client-1',
      scope: 'collect',
      ...claims,
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...options.header })
      .sign(key.privateKey);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.hang) return;
    if (req.url === '/.well-known/oauth-authorization-server') {
      this.requests.metadata++;
      this.#json(res, this.metadataBody?.() ?? { issuer: this.url, jwks_uri: this.jwksUri });
    } else if (req.url === '/jwks.json') {
      this.requests.jwks++;
      const headers: Record<string, string> = {};
      if (this.jwksCacheControl) headers['cache-control'] = this.jwksCacheControl;
      this.#json(res, this.jwksBody?.() ?? { keys: this.keys.map((key) => key.publicJwk) }, headers);
    } else {
      res.writeHead(404).end();
    }
  }

  #json(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(text);
  }
}

/** Encodes a JSON value as base64url. */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}
