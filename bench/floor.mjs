// The p99 floor of this machine: `node bench/floor.mjs [µs ...]` (default 180 120 80) serves a POST /token
// body on a node:http route that only burns that many microseconds of CPU per request (peers/busy-floor.mjs)
// and loads it as `npm run bench` loads /token (wrk -t1 -c32, BENCH_ROUNDS rounds of BENCH_DURATION /
// BENCH_ROUNDS seconds after a BENCH_WARMUP warm-up). It prints req/s, p50 and p99 of every round and the
// server's CPU per request: what latency a route of that cost gets here with no I/O, store or GC of its own.
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort } from './proc.mjs';
import { wrk, wrkVersion } from './wrk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const WARMUP = Number(env.BENCH_WARMUP ?? 2);
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 4));
const ROUND_SECONDS = Math.max(1, Math.round(Number(env.BENCH_DURATION ?? 8) / ROUNDS));
const costs = process.argv.slice(2).map(Number);
if (!wrkVersion()) {
  process.stderr.write('bench/floor: wrk is missing: apt-get install wrk\n');
  process.exit(1);
}

console.log(`bench/floor ${new Date().toISOString()}  node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); wrk -t1 -c${CONNECTIONS}, ${ROUNDS} rounds of ${ROUND_SECONDS}s`);
for (const us of costs.length ? costs : [180, 120, 80]) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(here, 'peers/busy-floor.mjs')], { env: { ...env, PORT: String(port), HOST: '127.0.0.1', BUSY_US: String(us) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const opts = {
    url: `http://127.0.0.1:${port}/token`,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=collect',
  };
  const run = (seconds, name) => wrk(opts, { seconds, connections: CONNECTIONS, dir: join(here, 'results', 'wrk'), name });
  if (WARMUP > 0) await run(WARMUP, `floor-${us}`);
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) {
    const before = cpuSeconds(child.pid);
    const r = await run(ROUND_SECONDS, `floor-${us}`);
    rounds.push({ ...r, cpu: cpuSeconds(child.pid) - before });
  }
  child.kill('SIGTERM');
  const total = rounds.reduce((a, r) => a + r.requests, 0);
  const cpu = Math.round((rounds.reduce((a, r) => a + r.cpu, 0) * 1e6) / total);
  console.log(
    `busy loop ${us} µs (server CPU ${cpu} µs/req): ` +
      rounds.map((r) => `${r.rps.toFixed(0)} req/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms`).join(' | '),
  );
}
