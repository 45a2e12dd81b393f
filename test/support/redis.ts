import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** The Redis the test run found or started (see test/global-setup.ts). */
export const redisUrl = (): string => inject('redisUrl');

/** The Redis Cluster nodes the test run started, as `{host, port}`; empty when none is available. */
export const redisClusterNodes = (): { host: string; port: number }[] =>
  inject('redisClusterNodes')
    .split(',')
    .filter(Boolean)
    .map((node) => {
      const i = node.lastIndexOf(':');
      return { host: node.slice(0, i), port: Number(node.slice(i + 1)) };
    });

/** A key prefix of its own for each test, so test files can share one Redis in parallel. */
export const uniquePrefix = (): string => `tessera-test:${randomBytes(6).toString('hex')}:`;
