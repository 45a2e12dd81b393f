import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

function capture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('writes JSON lines with an ISO time, the service and the level, and redacts credentials', () => {
    const out = capture();
    const log = createLogger({ service: 'test-svc', level: 'debug', destination: out.stream });
    log.child({ req_id: 'r-1' }).debug(
      { req: { headers: { authorization: 'Bearer abc.def.ghi' } }, client_secret: 's3cret-value', body: { refresh_token: 'rt-value', token: 'tk-value' } },
      'hello',
    );
    const line = JSON.parse(out.text().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 20, service: 'test-svc', req_id: 'r-1', msg: 'hello', client_secret: '[redacted]' });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
    expect(line).not.toHaveProperty('pid');
    expect(out.text()).not.toMatch(/abc\.def\.ghi|s3cret-value|rt-value|tk-value/);
  });

  it('honours the level', () => {
    const out = capture();
    createLogger({ service: 's', level: 'warn', destination: out.stream }).info('quiet');
    expect(out.text()).toBe('');
  });

  it('prints readable lines, not JSON, when pretty (what a TTY gets)', () => {
    const out = capture();
    createLogger({ service: 'test-svc', destination: out.stream, pretty: true }).info({ client_secret: 's3cret-value' }, 'listening');
    const text = out.text();
    expect(text).toContain('listening');
    expect(text).toContain('test-svc');
    expect(text).not.toContain('s3cret-value');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('loads pino-pretty only for a pretty logger: a JSON-writing service never holds its code', () => {
    // a fresh process, so the module cache shows what createLogger itself loaded (the built kit, as the apps run it)
    const kit = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const probe = (pretty: boolean) =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { createRequire } from 'node:module';
           const { createLogger } = await import(${JSON.stringify(kit)});
           createLogger({ service: 's', destination: process.stderr, pretty: ${pretty} });
           process.stdout.write(String(Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/pino-pretty/'))));`,
        ],
        { encoding: 'utf8' },
      );
    expect(probe(false)).toBe('false');
    expect(probe(true)).toBe('true');
  });
});
