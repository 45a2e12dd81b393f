import { describe, expect, it, vi } from 'vitest';
import { ClientRegistry } from '../src/clients/client-registry.js';
import { MemoryStore } from '../src/store/memory-store.js';

describe('client registry cache', () => {
  const setup = (cacheTtl = 2000) => {
    const store = new MemoryStore();
    const getClient = vi.spyOn(store, 'getClient');
    return { store, getClient, registry: new ClientRegistry(store, Date.now, { cacheTtl }) };
  };

  it('authenticates from the cache within the TTL and reads the store again after it', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const { registry, getClient } = setup(2000);
      const { client, secret } = await registry.create({ name: 'c', scopes: ['collect'], audiences: ['collector'] });
      expect(await registry.authenticate(client.client_id, secret)).toMatchObject({ client_id: client.client_id });
      expect(await registry.authenticate(client.client_id, secret)).toBeDefined();
      expect(getClient).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(2001);
      expect(await registry.authenticate(client.client_id, secret)).toBeDefined();
      expect(getClient).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('forgets a client deleted or given a new secret through it at once', async () => {
    const { registry } = setup();
    const { client, secret } = await registry.create({ name: 'c', scopes: ['collect'], audiences: ['collector'] });
    expect(await registry.authenticate(client.client_id, secret)).toBeDefined();
    const rotated = await registry.rotateSecret(client.client_id);
    expect(await registry.authenticate(client.client_id, secret)).toBeUndefined();
    expect(await registry.authenticate(client.client_id, rotated!.secret)).toBeDefined();
    await registry.delete(client.client_id);
    expect(await registry.authenticate(client.client_id, rotated!.secret)).toBeUndefined();
  });

  it('accepts a secret replaced by another instance at once, and drops a client deleted there within the TTL', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const { registry, store } = setup(2000);
      const other = new ClientRegistry(store);
      const { client, secret } = await registry.create({ name: 'c', scopes: ['collect'], audiences: ['collector'] });
      expect(await registry.authenticate(client.client_id, secret)).toBeDefined();
      const rotated = await other.rotateSecret(client.client_id);
      expect(await registry.authenticate(client.client_id, rotated!.secret)).toBeDefined();
      await other.delete(client.client_id);
      vi.advanceTimersByTime(2001);
      expect(await registry.authenticate(client.client_id, rotated!.secret)).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it('never caches an unknown client', async () => {
    const { registry, getClient } = setup();
    expect(await registry.authenticate('nobody', 'x')).toBeUndefined();
    expect(await registry.authenticate('nobody', 'x')).toBeUndefined();
    expect(getClient).toHaveBeenCalledTimes(2);
  });
});
