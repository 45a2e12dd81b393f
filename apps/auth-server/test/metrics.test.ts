import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

/** The value of one sample of the Prometheus text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const line = text.split('\n').find((l) => {
    if (!l.startsWith(`${name}{`) && !l.startsWith(`${name} `)) return false;
    return Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`));
  });
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('GET /metrics', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness('redis');
  });
  afterEach(() => h.close());

  const scrape = async () => {
    const res = await h.http.get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    return res.text;
  };

  it('exposes process metrics and the series move with the events they count', async () => {
    const client = await h.createClient();
    const before = await scrape();
    expect(before).toMatch(/^process_cpu_user_seconds_total /m);
    expect(before).toMatch(/^nodejs_heap_size_used_bytes /m);

    const first = await h.clientCredentials(client);
    await h.refresh(client, first.body.refresh_token);
    await h.refresh(client, first.body.refresh_token);
    await h.clientCredentials({ client_id: client.client_id, client_secret: 'wrong' });
    await h.http.post('/admin/keys/rotate').set('Authorization', `Bearer ${await h.adminToken()}`).send({ force: true });

    const after = await scrape();
    const delta = (name: string, labels?: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('tokens_issued_total', { grant: 'client_credentials' })).toBeGreaterThanOrEqual(2);
    expect(delta('tokens_issued_total', { grant: 'refresh_token' })).toBe(1);
    expect(delta('refresh_token_rotations_total')).toBe(1);
    expect(delta('refresh_token_reuse_detected_total')).toBe(1);
    expect(delta('client_authentication_failures_total')).toBe(1);
    expect(delta('signing_key_rotations_total', { reason: 'forced' })).toBe(1);
    expect(delta('http_requests_total', { route: '/token', method: 'POST', status: '200' })).toBeGreaterThanOrEqual(3);
    expect(delta('http_requests_total', { route: '/token', method: 'POST', status: '400' })).toBe(1);
    expect(delta('http_request_duration_seconds_count', { route: '/token', method: 'POST', status: '401' })).toBe(1);
    for (const name of ['rate_limited_requests_total', 'store_errors_total']) expect(after).toContain(`# TYPE ${name} counter`);
  });
});
