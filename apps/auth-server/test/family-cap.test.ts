import { afterEach, describe, expect, it } from 'vitest';
import { STORE_KINDS, startHarness, type Harness } from './harness.js';

describe.each(STORE_KINDS)('MAX_FAMILIES_PER_CLIENT: %s', (kind) => {
  let h: Harness;
  afterEach(() => h.close());

  const counter = async (name: string) => (await h.deps.metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;

  it('revokes the oldest families beyond the cap: invalid_grant, logged and counted as evictions, not as reuse', async () => {
    h = await startHarness(kind, { MAX_FAMILIES_PER_CLIENT: '5' });
    const client = await h.createClient();
    const reuseBefore = await counter('refresh_token_reuse_detected_total');
    const tokens: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await h.clientCredentials(client);
      expect(res.status).toBe(200);
      tokens.push(res.body.refresh_token);
      h.clock.ms += 1;
    }
    for (const token of tokens.slice(0, 3)) {
      const res = await h.refresh(client, token);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_grant');
    }
    for (const token of tokens.slice(3)) expect((await h.refresh(client, token)).status).toBe(200);
    expect(await counter('refresh_token_reuse_detected_total')).toBe(reuseBefore);
    expect(await counter('refresh_families_evicted_total')).toBe(3);
    const evictions = h.logs.lines.filter((l) => l.event === 'refresh_family_evicted');
    expect(evictions.map((l) => [l.client_id, l.family_id])).toEqual(tokens.slice(0, 3).map((t) => [client.client_id, t.split('.')[0]]));
    expect(h.logs.lines.filter((l) => l.event === 'refresh_token_reuse')).toEqual([]);
    expect(h.logs.raw.join('\n')).not.toContain(tokens[0]!.split('.')[1]);
  });

  it('leaves exactly the cap live after 20 concurrent grants', async () => {
    h = await startHarness(kind, { MAX_FAMILIES_PER_CLIENT: '5' });
    const client = await h.createClient();
    const grants = await Promise.all(Array.from({ length: 20 }, () => h.clientCredentials(client)));
    expect(grants.map((g) => g.status)).toEqual(Array(20).fill(200));
    const refreshed = await Promise.all(grants.map((g) => h.refresh(client, g.body.refresh_token)));
    expect(refreshed.filter((r) => r.status === 200)).toHaveLength(5);
    expect(refreshed.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(15);
    expect(await counter('refresh_families_evicted_total')).toBe(15);
  });
});
