import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { registerResourceServerMetrics } from '../src/metrics.js';

describe('registerResourceServerMetrics', () => {
  it('counts requests by method, route and status and mirrors the key set counters at scrape time', async () => {
    const registry = new Registry();
    const stats = { fetches: 1, fetchErrors: 0, cacheMisses: 0, keys: 2 };
    const observe = registerResourceServerMetrics(registry, { keyset: { stats }, methods: ['GET'] });
    observe({ method: 'GET', route: '/verify', status: 200 }, 0.002);
    observe({ method: 'BREW', route: '/verify', status: 401 }, 0.001);
    stats.fetches = 3;
    stats.cacheMisses = 1;
    const text = await registry.metrics();
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/verify",status="200"\} 1$/m);
    expect(text).toMatch(/^http_requests_total\{method="other",route="\/verify",status="401"\} 1$/m);
    expect(text).not.toContain('BREW');
    expect(text).toMatch(/^jwks_fetches_total 3$/m);
    expect(text).toMatch(/^jwks_cache_misses_total 1$/m);
    expect(text).toMatch(/^jwks_keys 2$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('keeps every method without a list', async () => {
    const registry = new Registry();
    const observe = registerResourceServerMetrics(registry, { keyset: { stats: { fetches: 0, fetchErrors: 0, cacheMisses: 0, keys: 0 } } });
    observe({ method: 'PROPFIND', route: 'unmatched', status: 404 }, 0.001);
    expect(await registry.metrics()).toMatch(/http_requests_total\{method="PROPFIND",route="unmatched",status="404"\} 1/);
  });
});
