import { describe, expect, it } from 'vitest';
import { BadPathError, matchRoute, normalizePath, parseRoutes, RoutesFileError } from '../src/routes.js';

describe('normalizePath', () => {
  it.each([
    ['/api/x', '/api/x'],
    ['/api/x?q=1#f', '/api/x'],
    ['/api/%78', '/api/x'],
    ['/api/../admin', '/admin'],
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/./x/.', '/api/x/'],
    ['/a/b/..', '/a/'],
    ['/../../x', '/x'],
    ['//api//x', '/api/x'],
    ['/api/%252F', '/api/%2F'],
    ['/', '/'],
  ])('%s → %s', (raw, normalized) => {
    expect(normalizePath(raw)).toBe(normalized);
  });

  it.each([
    ['an encoded slash', '/api%2Fx'],
    ['an encoded slash in lower case', '/api%2fx'],
    ['a backslash', '/api\\x'],
    ['an encoded backslash', '/api%5Cx'],
    ['malformed percent-encoding', '/api/%zz'],
    ['an encoded NUL', '/api/%00'],
    ['a relative path', 'api/x'],
    ['an absolute URI', 'http://evil/x'],
  ])('refuses %s', (_name, raw) => {
    expect(() => normalizePath(raw)).toThrow(BadPathError);
  });
});

describe('parseRoutes', () => {
  const ok = parseRoutes({ routes: [{ prefix: '/api/', methods: ['get'], audience: 'svc-a', scopes: ['read'] }, { prefix: '/' }] }, 'default-aud');

  it('normalizes prefixes and methods and fills in AUDIENCE', () => {
    expect(ok).toEqual([
      { prefix: '/api', methods: ['GET'], audience: 'svc-a', scopes: ['read'] },
      { prefix: '/', methods: undefined, audience: 'default-aud', scopes: [] },
    ]);
  });

  it.each([
    ['not an object', [], /must be a JSON object with a "routes" array/],
    ['no routes', { routes: [] }, /must not be empty/],
    ['an extra member', { routes: [{ prefix: '/' }], other: 1 }, /only have a "routes"/],
    ['a prefix without slash', { routes: [{ prefix: 'api' }] }, /^routes\[0\]: "prefix"/],
    ['a prefix with dot segments', { routes: [{ prefix: '/a/../b' }] }, /routes\[0\]: "prefix" must not contain/],
    ['an encoded prefix', { routes: [{ prefix: '/a%2Fb' }] }, /decoded path/],
    ['a prefix with a query', { routes: [{ prefix: '/a?x' }] }, /decoded path/],
    ['empty methods', { routes: [{ prefix: '/', methods: [] }] }, /"methods"/],
    ['a bad method', { routes: [{ prefix: '/', methods: ['GE T'] }] }, /"methods"/],
    ['scopes as a string', { routes: [{ prefix: '/', scopes: 'read' }] }, /"scopes"/],
    ['a bad scope', { routes: [{ prefix: '/', scopes: ['a b'] }] }, /"scopes"/],
    ['an unknown member', { routes: [{ prefix: '/', scope: ['read'] }] }, /unknown member "scope"/],
    ['no audience anywhere', { routes: [{ prefix: '/', audience: undefined }] }, /"audience"/],
    ['two rules for one prefix and method', { routes: [{ prefix: '/a', methods: ['GET'] }, { prefix: '/a/', methods: ['POST', 'GET'] }] }, /routes\[1\]: a rule for \/a GET comes earlier/],
    ['two catch-all rules for one prefix', { routes: [{ prefix: '/a' }, { prefix: '/a' }] }, /without methods/],
  ])('refuses %s', (_name, document, message) => {
    const audience = _name === 'no audience anywhere' ? undefined : 'aud';
    expect(() => parseRoutes(document, audience)).toThrow(RoutesFileError);
    expect(() => parseRoutes(document, audience)).toThrow(message);
  });
});

describe('matchRoute', () => {
  const rules = parseRoutes(
    {
      routes: [
        { prefix: '/', audience: 'root' },
        { prefix: '/api', audience: 'api' },
        { prefix: '/api/admin', methods: ['GET'], audience: 'admin-read' },
        { prefix: '/api/admin', methods: ['POST', 'DELETE'], audience: 'admin-write' },
        { prefix: '/files', methods: ['GET'], audience: 'files' },
      ],
    },
    undefined,
  );
  const audience = (method: string, path: string) => matchRoute(rules, method, path)?.audience;

  it('lets the longest matching prefix win', () => {
    expect(audience('GET', '/api/admin/users')).toBe('admin-read');
    expect(audience('GET', '/api/x')).toBe('api');
    expect(audience('GET', '/other')).toBe('root');
  });

  it('matches prefixes at a segment boundary only', () => {
    expect(audience('GET', '/api')).toBe('api');
    expect(audience('GET', '/api/')).toBe('api');
    expect(audience('GET', '/apix')).toBe('root');
    expect(audience('GET', '/api/administrator')).toBe('api');
  });

  it('picks the rule of the method, never a shorter prefix', () => {
    expect(audience('POST', '/api/admin')).toBe('admin-write');
    expect(audience('PUT', '/api/admin')).toBeUndefined();
    expect(audience('POST', '/files/a')).toBeUndefined();
    expect(audience('get', '/api/admin')).toBeUndefined();
  });

  it('matches nothing without a catch-all rule', () => {
    expect(matchRoute(rules.slice(1), 'GET', '/other')).toBeUndefined();
  });
});
