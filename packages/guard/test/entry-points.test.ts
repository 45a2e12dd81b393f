import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/** Every bare module specifier the built file and its relative imports load at runtime. */
function runtimeImports(file: string, seen = new Set<string>()): Set<string> {
  const bare = new Set<string>();
  if (seen.has(file)) return bare;
  seen.add(file);
  const code = readFileSync(file, 'utf8');
  const pattern = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const match of code.matchAll(pattern)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier === undefined) continue;
    if (specifier.startsWith('.')) for (const dep of runtimeImports(join(dirname(file), specifier), seen)) bare.add(dep);
    else bare.add(specifier);
  }
  return bare;
}

describe('entry points (built)', () => {
  it('the main entry, express and node:http glue load no framework at runtime', () => {
    for (const entry of ['index.js', 'express.js', 'node.js']) {
      const modules = [...runtimeImports(join(dist, entry))].filter((m) => !m.startsWith('node:'));
      expect(modules, entry).toEqual(['jose']);
    }
  });

  it('the fastify glue does not need fastify at runtime either (types only)', () => {
    expect([...runtimeImports(join(dist, 'fastify.js'))].filter((m) => !m.startsWith('node:'))).toEqual(['jose']);
  });

  it('package.json exports the subpaths', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown>; peerDependenciesMeta: unknown };
    expect(Object.keys(pkg.exports)).toEqual(['.', './express', './fastify', './node']);
    expect(pkg.peerDependenciesMeta).toEqual({ fastify: { optional: true } });
  });
});
