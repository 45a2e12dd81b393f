import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** The Redis the test run found or started (see test/global-setup.ts). */
export const redisUrl = (): string => inject('redisUrl');

/** A key prefix of its own for each test, so test files can share one Redis in parallel. */
export const uniquePrefix = (): string => `tessera-test:${randomBytes(6).toString('hex')}:`;
