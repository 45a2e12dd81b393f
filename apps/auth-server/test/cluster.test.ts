import { describe, expect, it } from 'vitest';
import { parseWorkers } from '../src/cluster.js';

describe('WORKERS', () => {
  it('is one process unless asked for more, one per CPU with auto, and refuses anything else', () => {
    expect(parseWorkers(undefined)).toBe(1);
    expect(parseWorkers('')).toBe(1);
    expect(parseWorkers('1')).toBe(1);
    expect(parseWorkers('4')).toBe(4);
    expect(parseWorkers('auto', 6)).toBe(6);
    for (const bad of ['0', '65', '-1', '2.5', 'two', ' 2']) expect(() => parseWorkers(bad), bad).toThrow(/^WORKERS: /);
  });
});
