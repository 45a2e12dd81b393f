import { Writable } from 'node:stream';
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
});
