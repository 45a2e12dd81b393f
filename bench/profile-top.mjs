// Reads a .cpuprofile (node --cpu-prof) and prints the top frames by self time, and self time by package.
// Usage: node bench/profile-top.mjs <file.cpuprofile> [rows]
import { readFileSync } from 'node:fs';

const [file, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const frames = new Map();
const packages = new Map();
const where = (url) => {
  if (!url) return '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const app = /\/(apps\/[^/]+|packages\/[^/]+)\//.exec(url);
  return app ? app[1] : url;
};
for (const [id, us] of self) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'} ${cf.url ? cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(apps|packages)\//, '$1/') : ''}:${cf.lineNumber + 1}`;
  frames.set(key, (frames.get(key) ?? 0) + us);
  const pkg = where(cf.url);
  packages.set(pkg, (packages.get(pkg) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(1)} s`);
console.log('\nself time by frame:');
for (const [k, us] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, rows)) console.log(`${pct(us)}  ${k}`);
console.log('\nself time by package:');
for (const [k, us] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${k}`);

// Inclusive time of frames whose "function url" matches any BENCH_INCLUSIVE regex (comma-separated).
if (process.env.BENCH_INCLUSIVE) {
  const patterns = process.env.BENCH_INCLUSIVE.split(',').map((p) => new RegExp(p));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur).callFrame;
      const label = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(apps|packages)\//, '$1/')}:${cf.lineNumber + 1}`;
      for (const p of patterns) {
        if (p.test(label) && !seen.has(label)) {
          seen.add(label);
          inclusive.set(label, (inclusive.get(label) ?? 0) + us);
        }
      }
    }
  }
  console.log('\ninclusive time:');
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${pct(us)}  ${k}`);
}
