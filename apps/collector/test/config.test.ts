import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 4001,
      host: '127.0.0.1',
      issuer: 'http://localhost:4000',
      jwksUri: undefined,
      audience: 'collector',
      requiredScope: 'collect',
      clockTolerance: 5,
      logLevel: 'info',
      trustProxy: false,
      corsOrigins: [],
      dpop: 'allowed',
      maxDelegationDepth: Infinity,
    });
  });

  it('reads every variable', () => {
    expect(
      loadConfig({
        PORT: '8080',
        HOST: '0.0.0.0',
        ISSUER: 'https://auth.example.com',
        JWKS_URI: 'https://auth.example.com/.well-known/jwks.json',
        AUDIENCE: 'metrics',
        REQUIRED_SCOPE: 'collect write',
        CLOCK_TOLERANCE: '1m',
        LOG_LEVEL: 'debug',
        TRUST_PROXY: 'loopback, 10.0.0.0/8',
        CORS_ORIGINS: 'http://localhost:4000, https://docs.example.com',
        DPOP: 'required',
        MAX_DELEGATION_DEPTH: '1',
      }),
    ).toEqual({
      port: 8080,
      host: '0.0.0.0',
      issuer: 'https://auth.example.com',
      jwksUri: 'https://auth.example.com/.well-known/jwks.json',
      audience: 'metrics',
      requiredScope: 'collect write',
      clockTolerance: 60,
      logLevel: 'debug',
      trustProxy: 'loopback, 10.0.0.0/8',
      corsOrigins: ['http://localhost:4000', 'https://docs.example.com'],
      dpop: 'required',
      maxDelegationDepth: 1,
    });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', JWKS_URI: '' })).toMatchObject({ port: 4001, jwksUri: undefined });
  });

  it.each([
    ['true', true],
    ['false', false],
    ['2', 2],
    ['loopback', 'loopback'],
    ['10.0.0.1, fd00::/8', '10.0.0.1, fd00::/8'],
  ])('parses TRUST_PROXY=%s', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toBe(expected);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['HOST', 'a b'],
    ['ISSUER', 'localhost:4000'],
    ['ISSUER', 'http://localhost:4000/?x=1'],
    ['JWKS_URI', 'jwks.json'],
    ['REQUIRED_SCOPE', 'a"b'],
    ['CLOCK_TOLERANCE', '5 minutes'],
    ['CLOCK_TOLERANCE', '1h'],
    ['CLOCK_TOLERANCE', '-5'],
    ['CLOCK_TOLERANCE', '1 m'],
    ['LOG_LEVEL', 'verbose'],
    ['TRUST_PROXY', 'yes please'],
    ['TRUST_PROXY', 'proxy.internal'],
    ['TRUST_PROXY', '10.0.0.0/99'],
    ['CORS_ORIGINS', '*'],
    ['CORS_ORIGINS', 'localhost:4000'],
    ['CORS_ORIGINS', 'http://localhost:4000/'],
    ['CORS_ORIGINS', 'http://localhost:4000/docs'],
    ['CORS_ORIGINS', 'http://localhost:4000,,https://a.example'],
    ['CORS_ORIGINS', 'ftp://files.example'],
    ['DPOP', 'sometimes'],
    ['DPOP', 'disabled'],
    ['MAX_DELEGATION_DEPTH', '-1'],
    ['MAX_DELEGATION_DEPTH', 'two'],
    ['MAX_DELEGATION_DEPTH', '1.5'],
  ])('refuses %s=%s with one line naming the variable', (name, value) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, variable } = error as ConfigError;
    expect(variable).toBe(name);
    expect(message).toMatch(new RegExp(`^${name}: invalid value; expected \\S`));
    expect(message).not.toContain('\n');
  });
});
