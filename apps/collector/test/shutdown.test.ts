import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess, idleKeepAlive } from '../../../test/support/app-process.js';

const started: AppProcess[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
});

describe('collector graceful shutdown on SIGTERM', () => {
  it('exits 0 promptly with an idle keep-alive connection open', async () => {
    const collector = await AppProcess.start('collector', { ISSUER: 'http://127.0.0.1:9', JWKS_URI: 'http://127.0.0.1:9/jwks.json' });
    started.push(collector);
    await idleKeepAlive(collector.url);
    const signalled = Date.now();
    expect(await collector.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(collector.logLines().some((l) => l.msg === 'stopped')).toBe(true);
  });
});
