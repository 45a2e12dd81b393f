import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tessera/service-kit';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-forward-auth-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const base = { AUDIENCE: 'collector', REQUIRED_SCOPE: 'collect' };

describe('forward-auth config', () => {
  it('has the documented defaults', () => {
    expect(loadConfig(base)).toEqual({
      port: 4002,
      host: '127.0.0.1',
      issuer: 'http://localhost:4000',
      jwksUri: undefined,
      audience: 'collector',
      requiredScopes: ['collect'],
      clockTolerance: 5,
      dpop: 'allowed',
      trustProxy: false,
      routes: undefined,
      routesFile: undefined,
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      ...base,
      PORT: '5002',
      HOST: '0.0.0.0',
      ISSUER: 'https://auth.example.com',
      JWKS_URI: 'http://auth-server:4000/.well-known/jwks.json',
      REQUIRED_SCOPE: 'collect read',
      CLOCK_TOLERANCE: '1m',
      DPOP: 'required',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      LOG_LEVEL: 'warn',
    });
    expect(config).toMatchObject({ dpop: 'required', port: 5002, host: '0.0.0.0', requiredScopes: ['collect', 'read'], clockTolerance: 60, trustProxy: 'loopback, 10.0.0.0/8', logLevel: 'warn' });
  });

  it('needs AUDIENCE and REQUIRED_SCOPE without ROUTES_FILE', () => {
    expect(() => loadConfig({ REQUIRED_SCOPE: 'collect' })).toThrow(/^AUDIENCE: .*required unless ROUTES_FILE is set/);
    expect(() => loadConfig({ AUDIENCE: 'collector' })).toThrow(/^REQUIRED_SCOPE: .*required unless ROUTES_FILE is set/);
  });

  it.each([
    ['PORT', '70000'],
    ['ISSUER', 'ftp://x'],
    ['JWKS_URI', 'not a url'],
    ['REQUIRED_SCOPE', 'a "b'],
    ['CLOCK_TOLERANCE', '1h'],
    ['DPOP', 'sometimes'],
    ['TRUST_PROXY', 'everyone'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses a bad %s in one line naming it', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ ...base, [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(new RegExp(`^${name}: `));
    expect((error as Error).message).not.toContain('\n');
  });

  it('loads and validates ROUTES_FILE, with AUDIENCE as the default audience', () => {
    const path = file('ok.json', JSON.stringify({ routes: [{ prefix: '/api/', methods: ['GET'], scopes: ['read'] }, { prefix: '/svc', audience: 'svc-b' }] }));
    const config = loadConfig({ ROUTES_FILE: path, AUDIENCE: 'svc-a' });
    expect(config.routes).toEqual([
      { prefix: '/api', methods: ['GET'], audience: 'svc-a', scopes: ['read'] },
      { prefix: '/svc', methods: undefined, audience: 'svc-b', scopes: [] },
    ]);
    expect(() => loadConfig({ ROUTES_FILE: path, AUDIENCE: 'svc-a', REQUIRED_SCOPE: 'read' })).toThrow(/^REQUIRED_SCOPE: not used with ROUTES_FILE/);
  });

  it.each([
    ['a missing file', () => join(dir, 'missing.json'), /^ROUTES_FILE: cannot read .*missing\.json \(ENOENT\)$/],
    ['a file that is not JSON', () => file('bad.json', '{routes: ['), /^ROUTES_FILE: .*bad\.json is not valid JSON$/],
    ['a bad rule', () => file('rule.json', JSON.stringify({ routes: [{ prefix: 'api', audience: 'a' }] })), /^ROUTES_FILE: .*rule\.json: routes\[0\]: "prefix" must be a path/],
  ])('stops at %s with one line', (_name, path, message) => {
    expect(() => loadConfig({ ROUTES_FILE: path() })).toThrow(message);
  });
});
