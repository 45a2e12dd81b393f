import type supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

/** The part of JSON Schema the request schemas use. */
interface Schema {
  type?: string;
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  default?: unknown;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  contains?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  $ref?: string;
}

type Doc = { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } };
interface Operation {
  tags?: string[];
  parameters?: { name: string; in: string; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}

const resolve = (doc: Doc, schema: Schema): Schema => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').at(-1)!]! : schema);

/** A value the schema allows: its example, else the smallest value of its type; objects get their required properties. */
function example(schema: Schema): unknown {
  if (schema.examples?.length) return schema.examples[0];
  if ('const' in schema) return schema.const;
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case 'string':
      if (schema.pattern) throw new Error(`a string with a pattern needs an example: ${JSON.stringify(schema)}`);
      return 'x'.repeat(Math.max(schema.minLength ?? 1, 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: Math.max(schema.minItems ?? 1, 1) }, () => ('const' in (schema.contains ?? {}) ? schema.contains!.const : example(schema.items!)));
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((name) => [name, example(schema.properties![name]!)]));
  }
  throw new Error(`no example for ${JSON.stringify(schema)}`);
}

const NON_MATCHING = ['', ' ', 'a b', '"', '\\', '\u00e9', '-', 'x', '1'];

/**
 * Values the schema forbids, one per constraint it states, each otherwise as close to valid as possible.
 * `form`: the value travels form-encoded, where every value is a string and a wrong type is a repeated parameter.
 */
function violations(schema: Schema, form: boolean): { constraint: string; value: unknown }[] {
  const out: { constraint: string; value: unknown }[] = [];
  const add = (constraint: string, value: unknown) => out.push({ constraint, value });
  const valid = example(schema);
  if (schema.enum) add('enum', 'not-one-of-the-values');
  if ('const' in schema) add('const', 'not-the-constant');
  switch (schema.type) {
    case 'string':
      add('type', form ? ['a', 'b'] : 42);
      if (schema.minLength) add('minLength', 'x'.repeat(schema.minLength - 1));
      if (schema.maxLength !== undefined) add('maxLength', String(valid).padEnd(schema.maxLength + 1, String(valid).at(-1) ?? 'x'));
      if (schema.pattern) {
        const pattern = new RegExp(schema.pattern, 'u');
        const bad = NON_MATCHING.find((s) => !pattern.test(s) && s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? Infinity));
        expect(bad, `a string outside ${schema.pattern}`).toBeDefined();
        add('pattern', bad);
      }
      break;
    case 'integer':
    case 'number':
      add('type', form ? ['1', '2'] : 'one');
      if (schema.type === 'integer') add('integer', Number(valid) + 0.5);
      if (schema.minimum !== undefined) add('minimum', schema.minimum - 1);
      if (schema.maximum !== undefined) add('maximum', schema.maximum + 1);
      break;
    case 'boolean':
      add('type', 'yes');
      break;
    case 'array': {
      const items = valid as unknown[];
      add('type', form ? 'x' : 'not-an-array');
      if (schema.minItems) add('minItems', items.slice(0, schema.minItems - 1));
      if (schema.maxItems !== undefined) add('maxItems', Array.from({ length: schema.maxItems + 1 }, () => items[0]));
      if (schema.contains && 'const' in schema.contains) {
        const other = schema.items?.enum?.find((v) => v !== schema.contains!.const);
        if (other !== undefined) add('contains', [other]);
      }
      for (const v of violations(schema.items!, form)) add(`[]: ${v.constraint}`, [v.value, ...items.slice(1)]);
      break;
    }
    case 'object': {
      const base = valid as Record<string, unknown>;
      if (schema.additionalProperties === false) add('additionalProperties', { ...base, not_a_documented_property: 'x' });
      for (const name of schema.required ?? []) {
        const { [name]: _omitted, ...rest } = base;
        add(`required ${name}`, rest);
      }
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        for (const v of violations(property, form)) add(`${name}: ${v.constraint}`, { ...base, [name]: v.value });
      }
      break;
    }
  }
  return out;
}

interface Case {
  label: string;
  send(h: Harness): Promise<supertest.Response>;
}

describe('/openapi.json describes what the app accepts and refuses', () => {
  let h: Harness;
  let doc: Doc;
  let oauthClient: { client_id: string; client_secret: string };
  const cases: { allowed: Case; forbidden: (Case & { constraint: string })[] }[] = [];

  beforeAll(async () => {
    h = await startHarness('memory');
    doc = (await h.http.get('/openapi.json')).body as Doc;
    const { client, secret } = await h.deps.clients.create({ name: 'conformance', scopes: ['collect', 'introspect'], audiences: ['collector'] });
    oauthClient = { client_id: client.client_id, client_secret: secret };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (!['get', 'post', 'delete'].includes(method) || path.includes('{')) continue;
        const request = async (query: object, type: string | undefined, body: unknown) => {
          if (path === '/admin/keys/rotate') h.clock.advance(h.deps.config.jwksMaxAge + 1);
          const auth = operation.tags?.includes('admin')
            ? { Authorization: `Bearer ${await h.adminToken()}` }
            : { Authorization: `Basic ${Buffer.from(`${oauthClient.client_id}:${oauthClient.client_secret}`).toString('base64')}` };
          const req = (h.http as unknown as Record<string, (p: string) => supertest.Test>)[method]!(path).set(auth).query(query as Record<string, string>);
          return type === undefined ? req : req.type(type).send(body as object);
        };
        const query = (operation.parameters ?? []).filter((p) => p.in === 'query');
        if (query.length) {
          const querySchema: Schema = { type: 'object', properties: Object.fromEntries(query.map((p) => [p.name, p.schema])), required: [] };
          cases.push({
            allowed: { label: `${method} ${path} ?query`, send: () => request(example(querySchema) as object, undefined, undefined) },
            forbidden: violations(querySchema, true).map((v) => ({
              label: `${method} ${path} ?query`,
              constraint: v.constraint,
              send: () => request(v.value as object, undefined, undefined),
            })),
          });
        }
        for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
          const schema = resolve(doc, media.schema);
          const form = type === 'application/x-www-form-urlencoded';
          const label = `${method.toUpperCase()} ${path} (${type})`;
          cases.push({
            allowed: { label, send: () => request({}, type, example(schema)) },
            forbidden: violations(schema, form).map((v) => ({ label, constraint: v.constraint, send: () => request({}, type, v.value) })),
          });
        }
      }
    }
  });
  afterAll(() => h.close());

  it('states the limits the client registration enforces', () => {
    const newClient = doc.components.schemas.NewClient!;
    expect(newClient.properties!.scopes!.items!.pattern).toBeDefined();
    expect(newClient.properties!.scopes!.maxItems).toBe(100);
    expect(newClient.properties!.audiences!.maxItems).toBe(50);
    expect(newClient.properties!.access_token_ttl).toMatchObject({ minimum: 1, maximum: h.deps.config.accessTokenTtl });
    expect(newClient.additionalProperties).toBe(false);
  });

  it('has request schemas for every body and query the app validates', () => {
    const labels = cases.map((c) => c.allowed.label);
    for (const path of ['/token', '/token/refresh', '/revoke', '/introspect', '/admin/clients', '/admin/keys/rotate']) {
      expect(labels.some((l) => l.includes(` ${path} (application/json)`)), path).toBe(true);
    }
    for (const path of ['/token', '/token/refresh', '/revoke', '/introspect']) {
      expect(labels).toContain(`POST ${path} (application/x-www-form-urlencoded)`);
    }
    expect(labels).toContain('get /admin/clients ?query');
    expect(cases.flatMap((c) => c.forbidden).length).toBeGreaterThan(60);
  });

  it('accepts the example of each request schema', async () => {
    for (const { allowed } of cases) {
      const res = await allowed.send(h);
      // the refresh token example is well-formed but unknown: the schema lets it through, the grant refuses it
      const ok = res.status < 300 || (allowed.label.includes('/token/refresh') && res.body.error === 'invalid_grant');
      expect(ok, `${allowed.label}: ${res.status} ${JSON.stringify(res.body)}`).toBe(true);
    }
  });

  it('refuses, with a 4xx in the OAuth error shape, every request that breaks one constraint of the document', async () => {
    for (const forbidden of cases.flatMap((c) => c.forbidden)) {
      const res = await forbidden.send(h);
      const where = `${forbidden.label} ${forbidden.constraint}: ${res.status} ${JSON.stringify(res.body)}`;
      expect(res.status >= 400 && res.status < 500, where).toBe(true);
      expect(res.body, where).toEqual(expect.objectContaining({ error: expect.any(String), error_description: expect.any(String) }));
      expect(res.body.error, where).not.toBe('invalid_grant');
    }
  });
});
