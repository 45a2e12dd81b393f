// Tessera benchmark (issues 7, 16): Tessera's auth server and collector against node-oidc-provider,
// express-oauth2-jwt-bearer and a bare express route, each in its own process, under the same wrk load
// (bench/wrk.mjs; autocannon only fills Redis for the memory figure). Prints one table with the targets
// and writes bench/results/<timestamp>.json.
//
// Usage: npm run bench   (builds first; this file itself needs no build)
// Env:
//   REDIS_URL            use this Redis; else a private redis-server on a free port when one is on the
//                        PATH (isolated memory numbers), else redis://127.0.0.1:6379
//   BENCH_CONNECTIONS    wrk connections per run (32, one wrk thread)
//   BENCH_RATE_LIMIT     RATE_LIMIT of the auth server (100000000: on, never reached)
//   BENCH_WARMUP         warm-up seconds per scenario, not measured (2)
//   BENCH_DURATION       measured seconds per scenario (8), split over BENCH_ROUNDS interleaved rounds (4)
//   BENCH_FAMILIES       families created for the Redis memory measurement (5000)
//   BENCH_LOG_LEVEL      LOG_LEVEL of Tessera's servers (info, the production default: access log on)
//   BENCH_ONLY           comma list of scenario ids to run (e.g. tessera-cc,oidc-cc), for profiling
//   BENCH_PROF           comma list of auth,collector,forward-auth: run them with --cpu-prof into bench/results/prof
//   BENCH_HEAP_PROF      with BENCH_PROF: --heap-prof (live sampled allocations at exit) instead of --cpu-prof
//   BENCH_ALLOC_PROF     with BENCH_PROF: every allocation, collected ones included (bench/alloc-prof.mjs);
//                        read with node bench/heap-top.mjs
//   BENCH_AUTH_ENTRY     script to start the auth server with (default apps/auth-server/dist/main.js)
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { cpuSeconds, freePort } from './proc.mjs';
import { wrk, wrkVersion } from './wrk.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
// ioredis is the auth server's dependency; resolve it from there rather than adding it to the bench.
const { Redis } = createRequire(join(root, 'apps/auth-server/package.json'))('ioredis');

const env = process.env;
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const WARMUP = Number(env.BENCH_WARMUP ?? 2);
const DURATION = Number(env.BENCH_DURATION ?? 8);
const FAMILIES = Number(env.BENCH_FAMILIES ?? 5000);
/** MAX_FAMILIES_PER_CLIENT's default, for the "client at its cap" figure */
const FAMILY_CAP = 1000;
const LOG_LEVEL = env.BENCH_LOG_LEVEL ?? 'info';
const ONLY = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(',')) : undefined;
const PROF = new Set((env.BENCH_PROF ?? '').split(',').filter(Boolean));
const HOST = '127.0.0.1';
const WRK_DIR = join(here, 'results', 'wrk');
/** far above any load here: the limiter runs (a Redis counter per request) but never refuses */
const RATE_LIMIT = env.BENCH_RATE_LIMIT ?? '100000000';
const AUDIENCE = 'collector';
const SCOPE = 'collect';
/**
 * NODE_OPTIONS of the production image (the Dockerfile's `ENV ... NODE_OPTIONS=...`): Tessera's servers run
 * with them here as they do in production (added to any NODE_OPTIONS of the bench's own); the peers run on
 * Node's defaults.
 */
const IMAGE_NODE_OPTIONS = (/^ENV\b.*\sNODE_OPTIONS=("[^"]*"|\S+)/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1] ?? '').replace(/^"|"$/g, '');
const tesseraNodeOptions = () => {
  const options = [env.NODE_OPTIONS, IMAGE_NODE_OPTIONS].filter(Boolean).join(' ');
  return options ? { NODE_OPTIONS: options } : {};
};

const children = [];
const log = (line) => process.stderr.write(`bench: ${line}\n`);

function start(name, args, extraEnv, { profile = false } = {}) {
  const nodeArgs = !profile
    ? []
    : env.BENCH_ALLOC_PROF
      ? ['--import', join(here, 'alloc-prof.mjs')]
      : env.BENCH_HEAP_PROF
      ? ['--heap-prof', `--heap-prof-dir=${join(here, 'results/prof')}`, `--heap-prof-name=${name}-${Date.now()}.heapprofile`]
      : ['--cpu-prof', `--cpu-prof-dir=${join(here, 'results/prof')}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`];
  const child = spawn(args[0] === 'node' ? process.execPath : args[0], [...(args[0] === 'node' ? nodeArgs : []), ...args.slice(1)], {
    cwd: root,
    env: { ...env, ...(profile ? { ALLOC_PROF_FILE: join(here, 'results/prof', `${name}-${Date.now()}.alloc.heapprofile`) } : {}), ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.on('exit', (code, signal) => {
    if (!child.stopping) log(`${name} exited early (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  });
  const entry = { name, child, stderr: () => stderr };
  children.push(entry);
  return entry;
}

async function stop(entry) {
  if (entry.child.exitCode !== null || entry.child.signalCode !== null) return;
  entry.child.stopping = true;
  const exited = new Promise((resolve) => entry.child.once('exit', resolve));
  entry.child.kill('SIGTERM');
  const timer = setTimeout(() => entry.child.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(timer);
}

async function stopAll() {
  await Promise.all(children.map(stop));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url, name, { ok = (s) => s < 500, timeout = 30_000, init } = {}) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, init);
      if (ok(res.status)) return res;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error.cause?.code ?? error.message;
    }
    await sleep(150);
  }
  throw new Error(`${name} did not get ready at ${url}: ${last}`);
}

const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function postForm(url, authorization, form) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// ---------------------------------------------------------------- Redis

async function redisUp(url) {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function startRedis() {
  if (env.REDIS_URL) return { url: env.REDIS_URL, private: false };
  const which = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (which.status === 0) {
    const port = await freePort();
    const redis = start('redis', ['redis-server', '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {});
    const url = `redis://${HOST}:${port}`;
    for (let i = 0; i < 100 && !(await redisUp(url)); i++) await sleep(100);
    return { url, private: true, pid: redis.child.pid };
  }
  const url = 'redis://127.0.0.1:6379';
  if (!(await redisUp(url))) throw new Error('no Redis: set REDIS_URL, put redis-server on the PATH, or run one on 127.0.0.1:6379');
  return { url, private: false };
}

async function usedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function deletePrefix(redis, prefix) {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

// ---------------------------------------------------------------- process memory

function procStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
    return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/** RSS of a process plus that of any children it started. */
function treeRss(pid) {
  let total = procStatus(pid).rss;
  let peak = procStatus(pid).hwm;
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const kid of kids) {
      const s = procStatus(kid);
      total += s.rss;
      peak += s.hwm;
    }
  } catch {
    /* no children file */
  }
  return { rss: total, hwm: peak };
}

function sampleRss(pid) {
  let max = 0;
  const timer = setInterval(() => {
    const { rss } = treeRss(pid);
    if (rss > max) max = rss;
  }, 100);
  return () => {
    clearInterval(timer);
    return max;
  };
}

// ---------------------------------------------------------------- load

/** autocannon, only to create and rotate families for the Redis memory figure (not measured). */
function cannon(opts) {
  return autocannon({ connections: CONNECTIONS, pipelining: 1, timeout: 10, ...opts });
}

const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 4));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Redis counters for the per-request figures: commandstats calls, reads processed, network bytes. */
async function redisCounters(redis) {
  const [commands, stats] = await Promise.all([redis.info('commandstats'), redis.info('stats')]);
  const calls = {};
  for (const [, name, n] of commands.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) if (name !== 'info') calls[name] = Number(n);
  const stat = (f) => Number(new RegExp(`${f}:(\\d+)`).exec(stats)?.[1] ?? NaN);
  return { calls, reads: stat('total_reads_processed'), netIn: stat('total_net_input_bytes'), netOut: stat('total_net_output_bytes') };
}

function counterDelta(a, b) {
  const calls = {};
  for (const [k, v] of Object.entries(b.calls)) if (v - (a.calls[k] ?? 0) > 0) calls[k] = v - (a.calls[k] ?? 0);
  return { calls, reads: b.reads - a.reads, netIn: b.netIn - a.netIn, netOut: b.netOut - a.netOut };
}

/**
 * Warms every scenario up (discarded), then measures them interleaved: BENCH_ROUNDS rounds, each running
 * every scenario for DURATION / ROUNDS seconds, so a burst of unrelated load on this machine hits all of
 * them alike instead of skewing one ratio. Per scenario: median req/s, p50 and p99 of the rounds, summed
 * non-2xx and errors, the CPU time of its server processes (and private Redis) per request, and wrk's own
 * CPU per request. A scenario's `opts` may be an async function of the seconds it will run (pools are made
 * fresh for each run); `redis` scenarios also get the Redis counter deltas per request.
 */
async function measureAll(scenarios, redis) {
  const rate = new Map();
  const optsFor = async (sc, seconds) => (typeof sc.opts === 'function' ? sc.opts(seconds, rate.get(sc.id)) : sc.opts);
  for (const sc of scenarios) {
    log(`${sc.id}: warm-up ${WARMUP}s`);
    if (WARMUP > 0) {
      const w = await wrk(await optsFor(sc, WARMUP), { seconds: WARMUP, connections: CONNECTIONS, dir: WRK_DIR, name: sc.id });
      rate.set(sc.id, w.rps);
    }
  }
  const rounds = new Map(scenarios.map((sc) => [sc.id, []]));
  const roundSeconds = Math.max(1, Math.round(DURATION / ROUNDS));
  for (let i = 0; i < ROUNDS; i++) {
    for (const sc of scenarios) {
      const opts = await optsFor(sc, roundSeconds);
      const cpuBefore = sc.pids.map(cpuSeconds);
      const counters = sc.redis ? await redisCounters(redis) : undefined;
      const r = await wrk(opts, { seconds: roundSeconds, connections: CONNECTIONS, dir: WRK_DIR, name: sc.id });
      const cpu = sc.pids.map((pid, j) => cpuSeconds(pid) - cpuBefore[j]);
      const redisDelta = counters ? counterDelta(counters, await redisCounters(redis)) : undefined;
      rate.set(sc.id, r.rps);
      rounds.get(sc.id).push({ ...r, cpu, redisDelta });
    }
    log(`round ${i + 1}/${ROUNDS}: ${scenarios.map((sc) => `${sc.id} ${rounds.get(sc.id).at(-1).rps.toFixed(0)}`).join(', ')}`);
  }
  const results = {};
  for (const sc of scenarios) {
    const rs = rounds.get(sc.id);
    const total = rs.reduce((a, r) => a + r.requests, 0);
    const sum = (f) => rs.reduce((a, r) => a + f(r), 0);
    let redisPerRequest;
    if (sc.redis) {
      const calls = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.redisDelta.calls)) calls[k] = (calls[k] ?? 0) + v;
      redisPerRequest = {
        calls: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, Number((v / total).toFixed(3))])),
        scriptCalls: Number(((calls.evalsha ?? 0) + (calls.eval ?? 0)) / total).toFixed(3) * 1,
        reads: Number((sum((r) => r.redisDelta.reads) / total).toFixed(3)),
        bytesIn: Math.round(sum((r) => r.redisDelta.netIn) / total),
        bytesOut: Math.round(sum((r) => r.redisDelta.netOut) / total),
      };
    }
    const result = {
      id: sc.id,
      label: sc.label,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      p99Max: Math.max(...rs.map((r) => r.p99)),
      total,
      non2xx: sum((r) => r.non2xx),
      errors: sum((r) => r.errors),
      timeouts: sum((r) => r.timeouts),
      starved: sum((r) => r.starved),
      cpuUsPerRequest: sc.pids.map((_, j) => Math.round((sum((r) => r.cpu[j]) * 1e6) / Math.max(1, total))),
      loadGeneratorCpuUsPerRequest: Math.round((sum((r) => r.genCpu) * 1e6) / Math.max(1, total)),
      ...(redisPerRequest ? { redisPerRequest } : {}),
      rounds: rs.map(({ rps, p50, p99, non2xx, starved }) => ({ rps, p50, p99, non2xx, starved })),
    };
    log(
      `${sc.id}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms (max ${result.p99Max}), non-2xx ${result.non2xx}, ` +
        `errors ${result.errors}, starved ${result.starved}, CPU µs/req ${result.cpuUsPerRequest.join(' + ')}, wrk ${result.loadGeneratorCpuUsPerRequest}` +
        (redisPerRequest ? `, redis/req ${JSON.stringify(redisPerRequest)}` : ''),
    );
    results[sc.key] = result;
  }
  return results;
}

const formBody = (form) => new URLSearchParams(form).toString();

// ---------------------------------------------------------------- two instances, one Redis

/**
 * Correctness under load, not a scaling claim: a second auth server on the same Redis and prefix; 32
 * workers (fetch, in this process) each rotate a family, alternating instances on every rotation, so every
 * family's chain crosses between them. Every 16th step a worker sends the same current token to both
 * instances at once: exactly one may get a new pair (the other is a reuse: the family is revoked and the
 * worker starts a new one). Legitimate rotations must all succeed (no reuse false positives).
 */
async function twoInstanceRow({ authEnv, authEntry, authUrl, clientAuth, mintFamilies, seconds = 6 }) {
  const port = await freePort();
  const second = start('auth-server-2', ['node', authEntry], { ...authEnv, PORT: String(port) });
  const urls = [authUrl, `http://${HOST}:${port}`];
  await waitFor(`${urls[1]}/readyz`, 'second auth server', { ok: (s) => s === 200 });
  log(`two instances: ${seconds}s of rotations across ${urls.join(' and ')}`);
  const refresh = async (url, token) => {
    const res = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { authorization: clientAuth, 'content-type': 'application/x-www-form-urlencoded' },
      body: formBody({ grant_type: 'refresh_token', refresh_token: token }),
    });
    const body = await res.json();
    return { status: res.status, token: body.refresh_token, error: body.error };
  };
  const stats = { rotations: 0, rotationFailures: 0, races: 0, raceExactlyOne: 0, raceViolations: 0, failures: [] };
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, w) => {
      let [token] = await mintFamilies(1, `${urls[w % 2]}/token`);
      for (let step = 1; Date.now() < deadline; step++) {
        if (step % 16 === 0) {
          const answers = await Promise.all(urls.map((url) => refresh(url, token)));
          const winners = answers.filter((a) => a.status === 200);
          stats.races++;
          if (winners.length === 1 && answers.some((a) => a.status === 400 && a.error === 'invalid_grant')) stats.raceExactlyOne++;
          else stats.raceViolations++;
          // the loser presented a spent token: reuse detection revokes the family, so start a new one
          [token] = await mintFamilies(1, `${urls[step % 2]}/token`);
          continue;
        }
        const r = await refresh(urls[step % 2], token);
        stats.rotations++;
        if (r.status !== 200) {
          stats.rotationFailures++;
          if (stats.failures.length < 5) stats.failures.push(`${r.status} ${r.error}`);
          [token] = await mintFamilies(1, `${urls[step % 2]}/token`);
        } else token = r.token;
      }
    }),
  );
  const metric = async (url) => Number(/refresh_token_reuse_detected_total(?:\{[^}]*\})? (\d+)/.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
  stats.reuseDetected = (await Promise.all(urls.map(metric))).reduce((a, b) => a + b, 0);
  await stop(second);
  log(`two instances: ${JSON.stringify(stats)}`);
  return stats;
}

// ---------------------------------------------------------------- main

async function main() {
  mkdirSync(join(here, 'results', 'prof'), { recursive: true });
  const wrkName = wrkVersion();
  if (!wrkName) throw new Error('wrk not found: the bench drives its load with wrk (Debian: apt-get install wrk)');
  const startedAt = new Date();
  const redisInfo = await startRedis();
  const redis = new Redis(redisInfo.url);
  const prefix = `bench-${startedAt.getTime()}-${randomBytes(3).toString('hex')}:`;
  log(`redis ${redisInfo.url} (${redisInfo.private ? 'private' : 'shared'}), prefix ${prefix}`);

  const [authPort, collectorPort, oidcPort, barePort, bearerPort, forwardAuthPort, bareTokenPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const issuer = `http://${HOST}:${authPort}`;
  const adminId = 'bench-admin';
  const adminSecret = randomBytes(32).toString('base64url');
  const run = (id) => !ONLY || ONLY.has(id);

  const authEnv = {
      NODE_ENV: 'production',
      PORT: String(authPort),
      HOST,
      ISSUER: issuer,
      REDIS_URL: redisInfo.url,
      REDIS_PREFIX: prefix,
      KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url'),
      ADMIN_CLIENT_ID: adminId,
      ADMIN_CLIENT_SECRET: adminSecret,
      RATE_LIMIT,
      // one bench client starts tens of thousands of families and the refresh scenario rotates the oldest
      // first: unbounded here, and the memory step below works out what the cap bounds a client to
      MAX_FAMILIES_PER_CLIENT: '0',
      LOG_LEVEL,
      ...tesseraNodeOptions(),
  };
  const authEntry = env.BENCH_AUTH_ENTRY ?? 'apps/auth-server/dist/main.js';
  const auth = start('auth-server', ['node', authEntry], authEnv, { profile: PROF.has('auth') });
  await waitFor(`${issuer}/readyz`, 'auth server', { ok: (s) => s === 200 });

  // A bench client as any operator would create it: scope collect, audience collector, refresh enabled.
  const admin = await postForm(`${issuer}/token`, basic(adminId, adminSecret), { grant_type: 'client_credentials', scope: 'admin' });
  const created = await fetch(`${issuer}/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', scopes: [SCOPE], audiences: [AUDIENCE] }),
  });
  if (created.status !== 201) throw new Error(`create client: ${created.status} ${await created.text()}`);
  const client = await created.json();
  const clientAuth = basic(client.client_id, client.client_secret);
  const first = await postForm(`${issuer}/token`, clientAuth, { grant_type: 'client_credentials', scope: SCOPE });
  const accessToken = first.access_token;

  // the collector and forward-auth verify the same tokens with the same settings
  const resourceServerEnv = (port) => ({
    NODE_ENV: 'production',
    PORT: String(port),
    HOST,
    ISSUER: issuer,
    JWKS_URI: `${issuer}/.well-known/jwks.json`,
    AUDIENCE,
    REQUIRED_SCOPE: SCOPE,
    LOG_LEVEL,
    ...tesseraNodeOptions(),
  });
  const collector = start(
    'collector',
    ['node', 'apps/collector/dist/main.js'],
    resourceServerEnv(collectorPort),
    { profile: PROF.has('collector') },
  );
  // forward-auth answers the question nginx's auth_request asks on every request (README "Forward auth").
  const forwardAuth = start(
    'forward-auth',
    ['node', 'apps/forward-auth/dist/main.js'],
    resourceServerEnv(forwardAuthPort),
    { profile: PROF.has('forward-auth') },
  );
  const oidcSecret = randomBytes(32).toString('base64url');
  const oidc = start('oidc-provider', ['node', 'bench/peers/oidc-provider.mjs'], {
    NODE_ENV: 'production',
    PORT: String(oidcPort),
    HOST,
    CLIENT_ID: 'bench',
    CLIENT_SECRET: oidcSecret,
    AUDIENCE,
    SCOPE,
  });
  const bare = start('bare-express', ['node', 'bench/peers/bare-express.mjs'], { NODE_ENV: 'production', PORT: String(barePort), HOST });
  const bareToken = start('bare-token', ['node', 'bench/peers/bare-token.mjs'], { NODE_ENV: 'production', PORT: String(bareTokenPort), HOST });
  const bearer = start('jwt-bearer', ['node', 'bench/peers/jwt-bearer.mjs'], {
    NODE_ENV: 'production',
    PORT: String(bearerPort),
    HOST,
    ISSUER: issuer,
    JWKS_URI: `${issuer}/.well-known/jwks.json`,
    AUDIENCE,
    SCOPE,
  });
  const bearerHeaders = { authorization: `Bearer ${accessToken}` };
  await Promise.all([
    waitFor(`http://${HOST}:${collectorPort}/collect`, 'collector', { ok: (s) => s === 200, init: { headers: bearerHeaders } }),
    waitFor(`http://${HOST}:${forwardAuthPort}/verify`, 'forward-auth', { ok: (s) => s === 200, init: { headers: bearerHeaders } }),
    waitFor(`http://${HOST}:${bearerPort}/collect`, 'jwt-bearer', { ok: (s) => s === 200, init: { headers: bearerHeaders } }),
    waitFor(`http://${HOST}:${barePort}/collect`, 'bare express', { ok: (s) => s === 200 }),
    waitFor(`http://${HOST}:${bareTokenPort}/token`, 'bare token', {
      ok: (s) => s === 200,
      init: { method: 'POST', headers: { authorization: basic('bench', 'x'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=collect' },
    }),
    waitFor(`http://${HOST}:${oidcPort}/token`, 'oidc-provider', {
      ok: (s) => s === 200,
      init: { method: 'POST', headers: { authorization: basic('bench', oidcSecret), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=collect' },
    }),
  ]);
  log('all servers ready');

  // Sanity: the peers do what the comparison assumes. oidc-provider answers an ES256 at+jwt; both
  // resource servers refuse a token whose signature was tampered with.
  const oidcToken = await postForm(`http://${HOST}:${oidcPort}/token`, basic('bench', oidcSecret), { grant_type: 'client_credentials', scope: SCOPE });
  const oidcHeader = JSON.parse(Buffer.from(oidcToken.access_token.split('.')[0], 'base64url').toString());
  if (oidcHeader.alg !== 'ES256' || oidcHeader.typ !== 'at+jwt') throw new Error(`oidc-provider issued ${JSON.stringify(oidcHeader)}, not an ES256 at+jwt`);
  const sig = accessToken.split('.')[2];
  const tampered = `${accessToken.slice(0, -sig.length)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
  for (const [name, url] of [['collector', `http://${HOST}:${collectorPort}/collect`], ['jwt-bearer', `http://${HOST}:${bearerPort}/collect`], ['forward-auth', `http://${HOST}:${forwardAuthPort}/verify`]]) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${tampered}` } });
    if (res.status !== 401) throw new Error(`${name} answered ${res.status} to a tampered token`);
  }

  const get = (url) => ({ url, method: 'GET', headers: bearerHeaders });

  // DPoP /collect: a DPoP-bound token and a fresh proof (jti, iat, ath) on every request. wrk's Lua cannot
  // sign ES256, so before each run the proofs it will need (the last run's rate times its seconds, with a
  // margin) are signed here with jose, each with its own jti, and the Lua script sends each one once.
  const collectUrl = `http://${HOST}:${collectorPort}/collect`;
  const dpopKeys = await generateKeyPair('ES256');
  const dpopJwk = await exportJWK(dpopKeys.publicKey);
  const sign = (claims) =>
    new SignJWT({ jti: randomBytes(16).toString('base64url'), iat: Math.floor(Date.now() / 1000), ...claims })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: dpopJwk })
      .sign(dpopKeys.privateKey);
  const boundRes = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: clientAuth, 'content-type': 'application/x-www-form-urlencoded', dpop: await sign({ htm: 'POST', htu: `${issuer}/token` }) },
    body: formBody({ grant_type: 'client_credentials', scope: SCOPE }),
  });
  const bound = await boundRes.json();
  if (bound.token_type !== 'DPoP') throw new Error(`DPoP token request: ${boundRes.status} ${JSON.stringify(bound)}`);
  const ath = createHash('sha256').update(bound.access_token).digest('base64url');
  /** how many single-use entries a run of `seconds` needs: twice the higher of the rate last seen and `guess` */
  const poolSize = (seconds, lastRate, guess) => Math.ceil(Math.max(lastRate ?? 0, guess) * seconds * 2) + 4 * CONNECTIONS;
  const signMany = async (n, make) => {
    const out = [];
    for (let i = 0; i < n; i += 256) out.push(...(await Promise.all(Array.from({ length: Math.min(256, n - i) }, make))));
    return out;
  };
  const dpopCheck = await fetch(collectUrl, { headers: { authorization: `DPoP ${bound.access_token}`, dpop: await sign({ htm: 'GET', htu: collectUrl, ath }) } });
  if (dpopCheck.status !== 200) throw new Error(`collector answered ${dpopCheck.status} to a DPoP request`);
  const dpopCollect = async (seconds, lastRate) => ({
    url: collectUrl,
    method: 'GET',
    headers: { authorization: `DPoP ${bound.access_token}` },
    headerPool: { name: 'DPoP', values: await signMany(poolSize(seconds, lastRate, 12000), () => sign({ htm: 'GET', htu: collectUrl, ath })) },
  });

  // private_key_jwt: a second client registered with an ES256 public key; each request carries its own
  // pre-signed assertion (distinct jti, exp 5 minutes ahead), sent once.
  const pkKeys = await generateKeyPair('ES256', { extractable: true });
  const pkJwk = { ...(await exportJWK(pkKeys.publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  const pkCreated = await fetch(`${issuer}/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-pkjwt', scopes: [SCOPE], audiences: [AUDIENCE], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pkJwk] } }),
  });
  if (pkCreated.status !== 201) throw new Error(`create private_key_jwt client: ${pkCreated.status} ${await pkCreated.text()}`);
  const pkClient = await pkCreated.json();
  const assertion = () =>
    new SignJWT({ jti: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench-1' })
      .setIssuer(pkClient.client_id)
      .setSubject(pkClient.client_id)
      .setAudience(`${issuer}/token`)
      .setIssuedAt()
      .setExpirationTime('280s')
      .sign(pkKeys.privateKey);
  const pkBody = async () =>
    formBody({ grant_type: 'client_credentials', scope: SCOPE, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() });
  const pkCheck = await fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: await pkBody() });
  if (pkCheck.status !== 200) throw new Error(`private_key_jwt token request: ${pkCheck.status} ${await pkCheck.text()}`);

  // Token exchange (RFC 8693): a third client, registered for the exchange grant alone, trades the bench
  // client's access token (aud collector) for one of its own for the same audience. Each run gets a fresh
  // subject token, so none expires mid-run.
  const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
  const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
  const exCreated = await fetch(`${issuer}/admin/clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench-exchange', scopes: [SCOPE], audiences: [AUDIENCE], grant_types: [EXCHANGE], exchange_audiences: [AUDIENCE], exchange_accepts: [AUDIENCE] }),
  });
  if (exCreated.status !== 201) throw new Error(`create token-exchange client: ${exCreated.status} ${await exCreated.text()}`);
  const exClient = await exCreated.json();
  const exchangeBody = async () =>
    formBody({
      grant_type: EXCHANGE,
      subject_token: (await postForm(`${issuer}/token`, clientAuth, { grant_type: 'client_credentials', scope: SCOPE })).access_token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      audience: AUDIENCE,
    });
  const exchangeAuth = basic(exClient.client_id, exClient.client_secret);
  const exCheck = await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: exchangeAuth, 'content-type': 'application/x-www-form-urlencoded' }, body: await exchangeBody() });
  if (exCheck.status !== 200) throw new Error(`token exchange request: ${exCheck.status} ${await exCheck.text()}`);

  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const tesseraPids = [auth.child.pid, ...(redisInfo.pid ? [redisInfo.pid] : [])];
  const tokenUrl = `http://${HOST}:${authPort}/token`;
  const ccBody = formBody({ grant_type: 'client_credentials', scope: SCOPE });
  const ccRequest = { url: tokenUrl, method: 'POST', headers: { ...form, authorization: clientAuth }, body: ccBody };
  const pkRequest = async (seconds, lastRate) => ({
    url: tokenUrl,
    method: 'POST',
    headers: form,
    bodies: await signMany(poolSize(seconds, lastRate, 5000), pkBody),
  });

  /** `n` refresh tokens of new families of the bench client (client_credentials at `url`, 16 at a time) */
  const mintFamilies = async (n, url = tokenUrl) => {
    const tokens = [];
    for (let i = 0; i < n; i += 16) {
      const batch = await Promise.all(Array.from({ length: Math.min(16, n - i) }, () => postForm(url, clientAuth, { grant_type: 'client_credentials', scope: SCOPE })));
      tokens.push(...batch.map((b) => b.refresh_token));
    }
    return tokens;
  };
  // Refresh grant: each run starts from 8 fresh families per connection; the Lua script sends each queued
  // token once and queues the new token of every 200 answer (a client rotating its family), so every request
  // spends a current refresh token. A reuse or any other refusal shows as non-2xx.
  const refreshRequest = async () => ({
    url: tokenUrl,
    method: 'POST',
    headers: { ...form, authorization: clientAuth },
    rotate: { prefix: 'grant_type=refresh_token&refresh_token=', tokens: await mintFamilies(8 * CONNECTIONS) },
  });

  const scenarios = [
    { id: 'bare', key: 'bare', label: 'bare express 5 GET /collect (ceiling)', opts: get(`http://${HOST}:${barePort}/collect`), pids: [bare.child.pid] },
    { id: 'collector', key: 'collector', label: 'Tessera collector GET /collect (guard)', opts: get(`http://${HOST}:${collectorPort}/collect`), pids: [collector.child.pid] },
    { id: 'collector-dpop', key: 'collectorDpop', label: 'Tessera collector GET /collect (DPoP, fresh proof)', opts: dpopCollect, pids: [collector.child.pid] },
    { id: 'forward-auth', key: 'forwardAuth', label: 'Tessera forward-auth GET /verify', opts: get(`http://${HOST}:${forwardAuthPort}/verify`), pids: [forwardAuth.child.pid] },
    { id: 'jwt-bearer', key: 'jwtBearer', label: 'express-oauth2-jwt-bearer GET /collect (strict)', opts: get(`http://${HOST}:${bearerPort}/collect`), pids: [bearer.child.pid] },
    {
      id: 'oidc-cc',
      key: 'oidcCc',
      label: 'node-oidc-provider /token client_credentials',
      opts: {
        url: `http://${HOST}:${oidcPort}/token`,
        method: 'POST',
        headers: { ...form, authorization: basic('bench', oidcSecret) },
        body: ccBody,
      },
      pids: [oidc.child.pid],
    },
    {
      id: 'bare-token',
      key: 'bareToken',
      label: 'bare express 5 POST /token (form + 1 ES256 sig: floor)',
      opts: { url: `http://${HOST}:${bareTokenPort}/token`, method: 'POST', headers: { ...form, authorization: basic('bench', 'x') }, body: ccBody },
      pids: [bareToken.child.pid],
    },
    { id: 'tessera-cc', key: 'tesseraCc', label: 'Tessera /token client_credentials (Redis family)', opts: ccRequest, pids: tesseraPids, redis: true },
    { id: 'tessera-refresh', key: 'tesseraRefresh', label: 'Tessera /token refresh_token (rotation)', opts: refreshRequest, pids: tesseraPids, redis: true },
    { id: 'tessera-pkjwt', key: 'tesseraPkjwt', label: 'Tessera /token private_key_jwt (cc, Redis family)', opts: pkRequest, pids: tesseraPids, redis: true },
    {
      id: 'tessera-exchange',
      key: 'tesseraExchange',
      label: 'Tessera /token token exchange (RFC 8693)',
      opts: async () => ({ url: tokenUrl, method: 'POST', headers: { ...form, authorization: exchangeAuth }, body: await exchangeBody() }),
      pids: tesseraPids,
      redis: true,
    },
  ].filter((sc) => run(sc.id));

  const stopRss = sampleRss(auth.child.pid);
  const results = await measureAll(scenarios, redis);
  const rssMax = stopRss();
  const twoInstances = run('two-instances') ? await twoInstanceRow({ authEnv, authEntry, authUrl: `http://${HOST}:${authPort}`, clientAuth, mintFamilies }) : undefined;

  // Redis memory per live family: used_memory before/after N new families (all of one client, as in
  // production), then after rotating each once (the target's figure) and twice (each later rotation adds a spent hash).
  let familyMemory;
  if (run('memory')) {
    log(`redis memory: creating ${FAMILIES} families`);
    const fresh = [];
    // used_memory jumps when Redis doubles its keyspace tables (at powers of two keys): create padding
    // families first so that no doubling of the main or expires table falls inside the measured window.
    const margin = 64;
    // the client's family index (a sorted set) has a hash table of its own that doubles too
    const probe = await postForm(tokenUrl, clientAuth, { grant_type: 'client_credentials', scope: SCOPE });
    const probeTag = probe.refresh_token.slice(0, 4);
    const probeIndex = `${prefix}client-families:{${probeTag}}:${client.client_id}`;
    const keyCounts = async () => {
      const line = /db0:keys=(\d+),expires=(\d+)/.exec(await redis.info('keyspace'));
      return [...(line ? [Number(line[1]), Number(line[2])] : [0, 0]), await redis.zcard(probeIndex)];
    };
    const crossing = (n) => {
      const largest = 2 ** Math.floor(Math.log2(n + FAMILIES + margin));
      return largest > n ? largest : undefined;
    };
    for (let counts = await keyCounts(), i = 0; i < 20; i++, counts = await keyCounts()) {
      const power = Math.max(...counts.map((n) => crossing(n) ?? 0));
      if (!power) break;
      const pad = power - Math.min(...counts.filter((n) => crossing(n) === power)) + margin;
      log(`redis memory: ${pad} padding families, past a hash table doubling at ${power} entries`);
      await cannon({ ...ccRequest, amount: pad });
    }
    await sleep(200);
    const before = await usedMemory(redis);
    await cannon({ ...ccRequest, amount: FAMILIES, requests: [{ onResponse: (s, b) => s === 200 && fresh.push(JSON.parse(b).refresh_token) }] });
    const afterCreate = await usedMemory(redis);
    // Rotates every family once; the new tokens replace the old ones in `fresh`.
    const rotateAll = async () => {
      let i = 0;
      const next = [];
      await cannon({
        url: ccRequest.url,
        method: 'POST',
        headers: ccRequest.headers,
        amount: fresh.length,
        requests: [
          {
            setupRequest: (req) => ({ ...req, body: formBody({ grant_type: 'refresh_token', refresh_token: fresh[i++] ?? 'x' }) }),
            onResponse: (s, b) => s === 200 && next.push(JSON.parse(b).refresh_token),
          },
        ],
      });
      if (next.length !== fresh.length) throw new Error(`rotated ${next.length} of ${fresh.length} families`);
      fresh.splice(0, fresh.length, ...next);
    };
    await rotateAll();
    const afterRotate = await usedMemory(redis);
    await rotateAll();
    const afterRotate2 = await usedMemory(redis);
    const familyId = fresh[0].split('.')[0];
    // a client's families and its index share its slot tag, the first 4 characters of every family id
    const tag = familyId.slice(0, 4);
    const indexKey = `${prefix}client-families:{${tag}}:${client.client_id}`;
    const sample = {
      familyHash: await redis.memory('USAGE', `${prefix}family:{${tag}}:${familyId}`, 'SAMPLES', 0),
      clientIndex: await redis.memory('USAGE', indexKey, 'SAMPLES', 0),
      clientIndexEntries: await redis.zcard(indexKey),
    };
    // A client at the default cap: its index holds the 1000 newest entries (a copy of them, measured
    // exactly), and each of its families costs what one costs after a rotation.
    const capCopy = `${prefix}client-families:{${tag}}:cap-sample`;
    await redis.zrangestore(capCopy, indexKey, -FAMILY_CAP, -1);
    const atCapIndex = await redis.memory('USAGE', capCopy, 'SAMPLES', 0);
    await redis.del(capCopy);
    familyMemory = {
      families: fresh.length,
      redisPrivate: redisInfo.private,
      perFamilyCreated: (afterCreate - before) / fresh.length,
      perFamilyRotated: (afterRotate - before) / fresh.length,
      perFamilyRotatedTwice: (afterRotate2 - before) / fresh.length,
      memoryUsageSample: sample,
      memoryUsagePerFamily: (sample.familyHash ?? 0) + (sample.clientIndexEntries ? sample.clientIndex / sample.clientIndexEntries : 0),
      atCap: {
        cap: FAMILY_CAP,
        indexBytes: atCapIndex,
        // used_memory per rotated family already includes its index entry
        clientBytes: Math.round(FAMILY_CAP * ((afterRotate - before) / fresh.length)),
      },
    };
    log(
      `redis memory: ${familyMemory.perFamilyCreated.toFixed(0)} B/family created, ${familyMemory.perFamilyRotated.toFixed(0)} B after one rotation, ` +
        `${familyMemory.perFamilyRotatedTwice.toFixed(0)} B after two`,
    );
  }
  const authHwm = treeRss(auth.child.pid).hwm;

  const deleted = redisInfo.private ? 0 : await deletePrefix(redis, prefix);
  redis.disconnect();
  await stopAll();
  if (deleted) log(`removed ${deleted} bench keys`);

  report({ startedAt, results, familyMemory, rssMax, authHwm, redisInfo, twoInstances, wrkName });
}

// ---------------------------------------------------------------- report

function report({ startedAt, results, familyMemory, rssMax, authHwm, redisInfo, twoInstances, wrkName }) {
  const r = results;
  const ratio = (a, b) => (a && b ? a.rps / b.rps : undefined);
  /** a ratio counts only when both rows answered every request 2xx (a starved pool's refusals are fast) */
  const clean = (...rows) => rows.every((row) => row && row.non2xx + row.errors + (row.starved ?? 0) === 0);
  const MB = 1024 * 1024;
  const x = (v) => `${v.toFixed(2)}x`;
  const targets = [
    { name: '/token cc (limiter on) vs oidc-provider cc', value: ratio(r.tesseraCc, r.oidcCc), want: '>= 1.2x', pass: (v) => v >= 1.2 && clean(r.tesseraCc, r.oidcCc), fmt: x },
    { name: 'refresh_token grant vs oidc-provider cc', value: ratio(r.tesseraRefresh, r.oidcCc), want: '>= 1.0x', pass: (v) => v >= 1.0 && clean(r.tesseraRefresh, r.oidcCc), fmt: x },
    { name: '/collect vs bare express', value: ratio(r.collector, r.bare), want: '>= 0.9x', pass: (v) => v >= 0.9 && clean(r.collector, r.bare), fmt: x },
    { name: '/collect vs express-oauth2-jwt-bearer', value: ratio(r.collector, r.jwtBearer), want: '>= 1.5x', pass: (v) => v >= 1.5 && clean(r.collector, r.jwtBearer), fmt: x },
    { name: 'DPoP /collect vs jwt-bearer (Bearer)', value: ratio(r.collectorDpop, r.jwtBearer), want: '>= 1.0x', pass: (v) => v >= 1.0 && clean(r.collectorDpop, r.jwtBearer), fmt: x },
    { name: '/token cc p99 (32 conn)', value: r.tesseraCc?.p99, want: '<= 10 ms', pass: (v) => v <= 10, fmt: (v) => `${v.toFixed(2)} ms` },
    { name: 'Redis script calls per /token cc', value: r.tesseraCc?.redisPerRequest?.scriptCalls, want: '1', pass: (v) => v <= 1.01, fmt: (v) => v.toFixed(2) },
    {
      name: 'Redis memory per live family (rotated)',
      value: familyMemory?.perFamilyRotated,
      want: '<= 512 B',
      pass: (v) => v <= 512,
      fmt: (v) => `${v.toFixed(0)} B`,
    },
    { name: 'auth-server RSS under load (peak)', value: rssMax ? Math.max(rssMax, 0) : undefined, want: '<= 120 MB', pass: (v) => v <= 120 * MB, fmt: (v) => `${(v / MB).toFixed(0)} MB` },
    {
      name: 'rotation: non-2xx / starved',
      value: r.tesseraRefresh ? r.tesseraRefresh.non2xx + r.tesseraRefresh.errors + r.tesseraRefresh.starved : undefined,
      want: '0',
      pass: (v) => v === 0,
      fmt: (v) => String(v),
    },
    {
      name: 'two instances: legit failures / race violations',
      value: twoInstances ? twoInstances.rotationFailures + twoInstances.raceViolations : undefined,
      want: '0',
      pass: (v) => v === 0,
      fmt: (v) => String(v),
    },
  ].map((t) => ({ ...t, result: t.value === undefined || Number.isNaN(t.value) ? 'SKIP' : t.pass(t.value) ? 'PASS' : 'FAIL' }));

  const rows = [r.tesseraCc, r.oidcCc, r.bareToken, r.tesseraRefresh, r.tesseraPkjwt, r.tesseraExchange, r.collector, r.collectorDpop, r.forwardAuth, r.jwtBearer, r.bare].filter(Boolean);
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  const lines = [];
  lines.push(`Tessera bench ${startedAt.toISOString()}  node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
  lines.push(
    `${wrkName} -t1 -c${CONNECTIONS}, ${WARMUP}s warm-up + ${DURATION}s measured per scenario in ${ROUNDS} interleaved rounds (medians), ` +
      `NODE_ENV=production LOG_LEVEL=${LOG_LEVEL} RATE_LIMIT=${RATE_LIMIT} AUTH_FAILURE_LIMIT=10 (limiter and lockout on), ` +
      `NODE_OPTIONS=${IMAGE_NODE_OPTIONS || '(none)'} (the image's), Redis ${redisInfo.private ? 'private' : 'shared'}`,
  );
  lines.push('');
  lines.push(`| ${pad('scenario', 50)} | ${lpad('req/s', 7)} | ${lpad('p50 ms', 6)} | ${lpad('p99 ms', 6)} | ${lpad('non-2xx', 7)} | ${lpad('errors', 6)} | ${pad('CPU µs/req (server + redis)', 27)} | ${lpad('wrk µs/req', 10)} |`);
  lines.push(`| ${'-'.repeat(50)} | ${'-'.repeat(6)}: | ${'-'.repeat(5)}: | ${'-'.repeat(5)}: | ${'-'.repeat(6)}: | ${'-'.repeat(5)}: | ${'-'.repeat(26)}: | ${'-'.repeat(9)}: |`);
  for (const row of rows) {
    lines.push(
      `| ${pad(row.label, 50)} | ${lpad(row.rps.toFixed(0), 7)} | ${lpad(row.p50.toFixed(2), 6)} | ${lpad(row.p99.toFixed(2), 6)} | ${lpad(row.non2xx, 7)} | ${lpad(row.errors + row.timeouts + row.starved, 6)} | ${lpad(row.cpuUsPerRequest.join(' + '), 27)} | ${lpad(row.loadGeneratorCpuUsPerRequest, 10)} |`,
    );
  }
  lines.push('');
  for (const row of rows.filter((row) => row.redisPerRequest)) {
    const p = row.redisPerRequest;
    lines.push(
      `Redis per request, ${row.id}: ${p.scriptCalls} script calls (EVALSHA), reads processed ${p.reads}, ${p.bytesIn} B in / ${p.bytesOut} B out; ` +
        `commandstats calls (script-inner included): ${Object.entries(p.calls).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  }
  if (twoInstances) {
    const t = twoInstances;
    lines.push(
      `Two auth servers, one Redis: ${t.rotations} rotations alternating instances, ${t.rotationFailures} failed; ` +
        `${t.races} races (one token at both at once): ${t.raceExactlyOne} exactly one winner, ${t.raceViolations} otherwise; reuse detected ${t.reuseDetected}`,
    );
  }
  lines.push('');
  lines.push(`| ${pad('target', 48)} | ${lpad('measured', 9)} | ${pad('goal', 9)} | result |`);
  lines.push(`| ${'-'.repeat(48)} | ${'-'.repeat(8)}: | ${'-'.repeat(9)} | ------ |`);
  for (const t of targets) {
    lines.push(`| ${pad(t.name, 48)} | ${lpad(t.value === undefined ? '-' : t.fmt(t.value), 9)} | ${pad(t.want, 9)} | ${pad(t.result, 6)} |`);
  }
  if (familyMemory) {
    const s = familyMemory.memoryUsageSample;
    lines.push('');
    lines.push(
      `Redis per family: ${familyMemory.perFamilyCreated.toFixed(0)} B created, ${familyMemory.perFamilyRotated.toFixed(0)} B after one rotation, ` +
        `${familyMemory.perFamilyRotatedTwice.toFixed(0)} B after two (no hash table doubling (keyspace, expires, the client's family index) in the window; amortized, those tables add 16-32 B a family) ` +
        `(used_memory delta over ${familyMemory.families}); MEMORY USAGE: family hash ${s.familyHash} B, ` +
        `client index ${s.clientIndex} B / ${s.clientIndexEntries} entries`,
    );
    const c = familyMemory.atCap;
    lines.push(
      `Redis for one client at MAX_FAMILIES_PER_CLIENT=${c.cap} (rotated families): ${(c.clientBytes / 1024).toFixed(0)} KiB, ` +
        `its family index ${(c.indexBytes / 1024).toFixed(0)} KiB (MEMORY USAGE of its ${c.cap} newest entries); × clients for the whole store`,
    );
  }
  lines.push(`auth-server RSS: peak sampled under load ${(rssMax / MB).toFixed(0)} MB, VmHWM ${(authHwm / MB).toFixed(0)} MB`);
  const text = lines.join('\n');
  process.stdout.write(`${text}\n`);

  const file = join(here, 'results', `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        settings: { connections: CONNECTIONS, warmup: WARMUP, duration: DURATION, logLevel: LOG_LEVEL, families: FAMILIES, nodeOptions: IMAGE_NODE_OPTIONS },
        results,
        familyMemory,
        authServerRss: { peakSampled: rssMax, vmHwm: authHwm },
        twoInstances,
        loadGenerator: wrkName,
        targets: targets.map(({ name, value, want, result }) => ({ name, value, want, result })),
        table: text,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`results: ${file}\n`);
}

let exiting = false;
async function bail(error) {
  if (exiting) return;
  exiting = true;
  log(`failed: ${error.stack ?? error}`);
  for (const c of children) if (c.stderr().trim()) log(`${c.name} stderr: ${c.stderr().trim().split('\n').slice(-5).join(' | ')}`);
  await stopAll();
  process.exit(1);
}
process.on('SIGINT', () => bail(new Error('interrupted')));
main().then(
  () => process.exit(0),
  (error) => bail(error),
);
