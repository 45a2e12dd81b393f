import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess } from '../../../test/support/app-process.js';
import { RedisCluster, type ClusterNodeInfo } from '../../../test/support/redis-cluster.js';
import { uniquePrefix } from '../../../test/support/redis.js';
import { RotationLoad, type LoadClient } from '../../../test/support/rotation-load.js';
import { clientSlotTag } from '../src/tokens/refresh-token-format.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ADMIN = { id: 'failover-admin', secret: 'failover-admin-secret-0123456789abcdef-0123' };

/** the test starts its own cluster (with replicas), so it needs redis-server */
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

let cluster: RedisCluster;
const servers: AppProcess[] = [];

beforeAll(async () => {
  if (!hasRedisServer) return;
  cluster = await RedisCluster.start({ replicas: 1, nodeTimeout: 1000 });
  const prefix = uniquePrefix();
  for (let i = 0; i < 2; i++) {
    servers.push(
      await AppProcess.start('auth-server', {
        REDIS_CLUSTER_NODES: cluster.spec,
        REDIS_PREFIX: prefix,
        REDIS_COMMAND_TIMEOUT: '1',
        ISSUER: 'http://auth.test',
        KEY_ENCRYPTION_SECRET: 'failover-key-encryption-secret-0123456789abcdef',
        ADMIN_CLIENT_ID: ADMIN.id,
        ADMIN_CLIENT_SECRET: ADMIN.secret,
        RATE_LIMIT: '0',
        AUTH_FAILURE_LIMIT: '0',
        LOG_LEVEL: 'warn',
      }),
    );
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await cluster?.stop();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function createClient(name: string): Promise<LoadClient> {
  const admin = await fetch(`${servers[0]!.url}/token`, {
    method: 'POST',
    headers: { Authorization: basic(ADMIN.id, ADMIN.secret), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  }).then((r) => r.json() as Promise<{ access_token: string }>);
  const res = await fetch(`${servers[0]!.url}/admin/clients`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin.access_token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, scopes: ['collect'], audiences: ['collector'] }),
  });
  if (res.status !== 201) throw new Error(`create client: ${res.status}`);
  return (await res.json()) as LoadClient;
}

const owner = (nodes: ClusterNodeInfo[], slot: number) =>
  nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));

/** Waits until another node serves `slot` than `victim` (its replica was promoted); the time it saw that. */
async function promotion(victim: ClusterNodeInfo, slot: number): Promise<number> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const now = owner(await cluster.topology([victim.port]), slot);
    if (now && now.id !== victim.id) return Date.now();
    await sleep(100);
  }
  throw new Error(`no replica of ${victim.port} was promoted within 20 s`);
}

describe.runIf(hasRedisServer)('Redis Cluster failover under rotation load (two auth servers)', () => {
  it('follows a hung master and a killed one once their replicas are promoted, rotating every token at most once', async () => {
    const nodes = await cluster.topology();
    // a client's families all live in the slot of its tag: two clients on different masters
    const clients: { client: LoadClient; slot: number; master: ClusterNodeInfo }[] = [];
    for (let i = 0; i < 12 && new Set(clients.map((c) => c.master.id)).size < 2; i++) {
      const client = await createClient(`failover-${i}`);
      const slot = await cluster.keySlot(`{${clientSlotTag(client.client_id)}}`);
      const master = owner(nodes, slot)!;
      if (!clients.some((c) => c.master.id === master.id)) clients.push({ client, slot, master });
    }
    expect(clients).toHaveLength(2);
    const [hung, killed] = clients as [(typeof clients)[0], (typeof clients)[0]];

    const load = new RotationLoad(
      servers.map((s) => s.url),
      clients.map((c) => c.client),
      3,
    );
    load.start();
    const windows: Record<string, number> = {};
    const failures: { failedAt: number; promotedAt: number }[] = [];
    try {
      expect(await load.recovered(hung.client.client_id, Date.now(), 10_000)).toBe(true);
      expect(await load.recovered(killed.client.client_id, Date.now(), 10_000)).toBe(true);

      const frozen = cluster.server(hung.master.port);
      const hungAt = Date.now();
      frozen.pause();
      const promoted = await promotion(hung.master, hung.slot);
      windows.hangToPromotion = promoted - hungAt;
      failures.push({ failedAt: hungAt, promotedAt: promoted });
      const recovered = await load.recovered(hung.client.client_id, promoted, 5000);
      servers.forEach((_, i) => (windows[`hungServer${i}`] = (load.firstRotation(hung.client.client_id, i, promoted) ?? NaN) - promoted));
      expect(recovered, `after a hang: ${JSON.stringify(windows)}`).toBe(true);
      // the old master is still frozen: the servers followed the promotion, not the node's death
      expect(owner(await cluster.topology([hung.master.port]), hung.slot)!.id).not.toBe(hung.master.id);
      frozen.resume();

      const killedAt = Date.now();
      await cluster.server(killed.master.port).kill('SIGKILL');
      const promoted2 = await promotion(killed.master, killed.slot);
      windows.killToPromotion = promoted2 - killedAt;
      failures.push({ failedAt: killedAt, promotedAt: promoted2 });
      const recovered2 = await load.recovered(killed.client.client_id, promoted2, 5000);
      servers.forEach((_, i) => (windows[`killedServer${i}`] = (load.firstRotation(killed.client.client_id, i, promoted2) ?? NaN) - promoted2));
      expect(recovered2, `after a kill: ${JSON.stringify(windows)}`).toBe(true);
    } finally {
      await load.stop();
    }
    console.info(`cluster failover windows (ms): ${JSON.stringify(windows)}; answers ${JSON.stringify(Object.fromEntries(load.seen))}; races ${load.races}, without a winner ${JSON.stringify(load.racesWithoutWinner)}`);
    expect(load.violations).toEqual([]);
    expect(load.unexplainedRacesWithoutWinner(failures)).toEqual([]);
    expect(load.races).toBeGreaterThan(2);
  }, 90_000);
});
