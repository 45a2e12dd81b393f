import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, configVar, isHttpUrl, loadEnv, parseDuration, parsePort, parseTrustProxy } from '../src/index.js';

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['900s', 900],
    ['15m', 900],
    ['12h', 43200],
    ['14d', 1209600],
    [' 15m ', 900],
    ['0', 0],
  ])('%j is %d seconds', (value, seconds) => {
    expect(parseDuration(value)).toBe(seconds);
  });

  it.each(['15 m', '1.5m', '-5', '15M', '15w', 'm', '', '5mm', '9'.repeat(20)])('refuses %j', (value) => {
    expect(parseDuration(value)).toBeUndefined();
  });
});

describe('parsePort', () => {
  it('takes 0-65535 only', () => {
    expect(parsePort('0')).toBe(0);
    expect(parsePort('65535')).toBe(65535);
    for (const bad of ['65536', '-1', '80a', '', '8 0', '1e3']) expect(parsePort(bad)).toBeUndefined();
  });
});

describe('isHttpUrl', () => {
  it.each(['http://localhost:4000', 'https://auth.example.com/tenant', 'https://auth.example.com/tenant/'])('takes %s', (url) => {
    expect(isHttpUrl(url)).toBe(true);
  });
  it.each(['ftp://x', 'localhost:4000', '/relative', 'http://x/?q=1', 'http://x/#f', 'http://user:pw@x/', 'http://user@x/', ''])('refuses %s', (url) => {
    expect(isHttpUrl(url)).toBe(false);
  });
});

describe('parseTrustProxy', () => {
  it('maps true, false and hop counts, keeps address lists', () => {
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('false')).toBe(false);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy('loopback, 10.0.0.0/8, ::1')).toBe('loopback, 10.0.0.0/8, ::1');
  });
  it.each(['yes', '10.0.0.0/33', 'example.com', '10.0.0.1/8/8', 'loopback/8', '1.2.3'])('refuses %j', (value) => {
    expect(parseTrustProxy(value)).toBeUndefined();
  });
});

describe('loadEnv', () => {
  const shape = {
    PORT: configVar.port().default(4000),
    TTL: configVar.duration({ min: 1, max: 3600 }).default(900),
    ISSUER: configVar.httpUrl({ trimTrailingSlash: true }).default('http://localhost:4000'),
    EXACT: configVar.httpUrl().optional(),
    TRUST_PROXY: configVar.trustProxy().default(false),
    LOG_LEVEL: configVar.logLevel().default('info'),
    SECRET: z.string().min(4, 'at least 4 characters').optional(),
  };

  it('applies defaults for unset and empty values and parses the rest', () => {
    expect(loadEnv(shape, { PORT: '', TTL: '15m', ISSUER: 'https://a.example/t/', TRUST_PROXY: ' 1 ', LOG_LEVEL: 'debug', SECRET: ' pad ', EXACT: 'https://idp.example/' })).toEqual({
      PORT: 4000,
      TTL: 900,
      ISSUER: 'https://a.example/t',
      TRUST_PROXY: 1,
      LOG_LEVEL: 'debug',
      SECRET: ' pad ',
      EXACT: 'https://idp.example/',
    });
  });

  it.each([
    ['PORT', '70000', 'a port number 0-65535'],
    ['TTL', '15 m', 'a duration from 1s to 3600s'],
    ['TTL', '0', 'a duration from 1s to 3600s'],
    ['TTL', '2h', 'a duration from 1s to 3600s'],
    ['ISSUER', 'http://x/?a=1', 'an absolute http(s) URL'],
    ['TRUST_PROXY', 'yes', 'true, false, a hop count'],
    ['LOG_LEVEL', 'loud', 'fatal, error, warn, info, debug, trace, silent'],
    ['SECRET', 'abc', 'at least 4 characters'],
  ])('%s=%j: one line naming the variable and what it accepts', (name, value, accepts) => {
    let error: unknown;
    try {
      loadEnv(shape, { [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as ConfigError).message).toMatch(new RegExp(`^${name}: invalid value; expected ${accepts.replace(/[()]/g, '\\$&')}[^\\n]*$`));
  });
});

describe('configVar.host and configVar.scopeList', () => {
  const shape = { HOST: configVar.host().default('127.0.0.1'), SCOPE: configVar.scopeList().default('collect') };

  it('take a listen host and a scope list, and fall back to their defaults', () => {
    expect(loadEnv(shape, { HOST: ' 0.0.0.0 ', SCOPE: 'read write' })).toEqual({ HOST: '0.0.0.0', SCOPE: 'read write' });
    expect(loadEnv(shape, {})).toEqual({ HOST: '127.0.0.1', SCOPE: 'collect' });
  });

  it.each([
    [{ HOST: 'local host' }, 'HOST: invalid value; expected a host name or IP address to listen on'],
    [{ HOST: 'http://x' }, 'HOST: invalid value; expected a host name or IP address to listen on'],
    [{ SCOPE: 'read "write"' }, 'SCOPE: invalid value; expected one or more space-separated scope tokens, e.g. collect'],
  ])('refuse %j with one line naming the variable', (env, message) => {
    expect(() => loadEnv(shape, env)).toThrow(ConfigError);
    expect(() => loadEnv(shape, env)).toThrow(message);
  });
});
