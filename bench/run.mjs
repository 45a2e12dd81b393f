// Tessera benchmark (issue 7): Tessera's auth server and collector against node-oidc-provider,
// express-oauth2-jwt-bearer and a bare express route, each in its own process, under the same
// autocannon load. Prints one table with the targets and writes bench/results/<timestamp>.json.
//
// Usage: npm run bench   (builds first; this file itself needs no build)
// Env:
//   REDIS_URL            use this Redis; else a private redis-server on a free port when one is on the
//                        PATH (isolated memory numbers), else redis://127.0.0.1:6379
//   BENCH_CONNECTIONS    connections per run (32)
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
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

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
const AUDIENCE = 'collector';
const SCOPE = 'collect';

const children = [];
const log = (line) => process.stderr.write(`bench: ${line}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

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

/** CPU seconds (user + system) of a process and its children so far. */
function cpuSeconds(pid) {
  const one = (p) => {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0;
    }
  };
  let total = one(pid);
  try {
    for (const kid of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += one(kid);
  } catch {
    /* no children file */
  }
  return total;
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

function cannon(opts) {
  return autocannon({ connections: CONNECTIONS, pipelining: 1, timeout: 10, ...opts });
}

function summarize(id, label, result) {
  return {
    id,
    label,
    rps: result.requests.total / (result.duration || DURATION),
    rpsAverage: result.requests.average,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    total: result.requests.total,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 4));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Warms every scenario up (discarded), then measures them interleaved: BENCH_ROUNDS rounds, each running
 * every scenario for DURATION / ROUNDS seconds, so a burst of other load on this machine hits all of them
 * alike instead of skewing one ratio. Per scenario: median req/s, p50 and p99 of the rounds, summed
 * non-2xx and errors, and the CPU time of its server processes (and private Redis) per request. A scenario's
 * optional `before`/`after` run around each of its runs (the DPoP row fills its proof pool only while it runs).
 */
async function measureAll(scenarios) {
  for (const sc of scenarios) {
    log(`${sc.id}: warm-up ${WARMUP}s`);
    await sc.before?.();
    if (WARMUP > 0) await cannon({ ...sc.opts, duration: WARMUP });
    sc.after?.();
  }
  const rounds = new Map(scenarios.map((sc) => [sc.id, []]));
  const roundSeconds = Math.max(1, Math.round(DURATION / ROUNDS));
  for (let i = 0; i < ROUNDS; i++) {
    for (const sc of scenarios) {
      await sc.before?.();
      const cpuBefore = sc.pids.map(cpuSeconds);
      const genBefore = process.cpuUsage();
      const r = await cannon({ ...sc.opts, duration: roundSeconds });
      const gen = process.cpuUsage(genBefore);
      sc.after?.();
      const cpu = sc.pids.map((pid, j) => cpuSeconds(pid) - cpuBefore[j]);
      rounds.get(sc.id).push({ ...summarize(sc.id, sc.label, r), cpu, gen: (gen.user + gen.system) / 1e6 });
    }
    log(`round ${i + 1}/${ROUNDS}: ${scenarios.map((sc) => `${sc.id} ${rounds.get(sc.id).at(-1).rps.toFixed(0)}`).join(', ')}`);
  }
  const results = {};
  for (const sc of scenarios) {
    const rs = rounds.get(sc.id);
    const total = rs.reduce((a, r) => a + r.total, 0);
    const result = {
      id: sc.id,
      label: sc.label,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      p99Max: Math.max(...rs.map((r) => r.p99)),
      total,
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      timeouts: rs.reduce((a, r) => a + r.timeouts, 0),
      cpuUsPerRequest: sc.pids.map((_, j) => Math.round((rs.reduce((a, r) => a + r.cpu[j], 0) * 1e6) / Math.max(1, total))),
      loadGeneratorCpuUsPerRequest: Math.round((rs.reduce((a, r) => a + r.gen, 0) * 1e6) / Math.max(1, total)),
      rounds: rs.map(({ rps, p50, p99, non2xx }) => ({ rps, p50, p99, non2xx })),
    };
    log(
      `${sc.id}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms (max ${result.p99Max}), non-2xx ${result.non2xx}, ` +
        `errors ${result.errors}, CPU µs/req ${result.cpuUsPerRequest.join(' + ')}`,
    );
    results[sc.key] = result;
  }
  return results;
}

const formBody = (form) => new URLSearchParams(form).toString();

// ---------------------------------------------------------------- main

async function main() {
  mkdirSync(join(here, 'results', 'prof'), { recursive: true });
  const startedAt = new Date();
  const redisInfo = await startRedis();
  const redis = new Redis(redisInfo.url);
  const prefix = `bench-${startedAt.getTime()}-${randomBytes(3).toString('hex')}:`;
  log(`redis ${redisInfo.url} (${redisInfo.private ? 'private' : 'shared'}), prefix ${prefix}`);

  const [authPort, collectorPort, oidcPort, barePort, bearerPort, forwardAuthPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  const issuer = `http://${HOST}:${authPort}`;
  const adminId = 'bench-admin';
  const adminSecret = randomBytes(32).toString('base64url');
  const run = (id) => !ONLY || ONLY.has(id);

  const auth = start(
    'auth-server',
    ['node', env.BENCH_AUTH_ENTRY ?? 'apps/auth-server/dist/main.js'],
    {
      NODE_ENV: 'production',
      PORT: String(authPort),
      HOST,
      ISSUER: issuer,
      REDIS_URL: redisInfo.url,
      REDIS_PREFIX: prefix,
      KEY_ENCRYPTION_SECRET: randomBytes(32).toString('base64url'),
      ADMIN_CLIENT_ID: adminId,
      ADMIN_CLIENT_SECRET: adminSecret,
      RATE_LIMIT: '0',
      AUTH_FAILURE_LIMIT: '0',
      // one bench client starts tens of thousands of families and the refresh scenario rotates the oldest
      // first: unbounded here, and the memory step below works out what the cap bounds a client to
      MAX_FAMILIES_PER_CLIENT: '0',
      LOG_LEVEL,
    },
    { profile: PROF.has('auth') },
  );
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

  const collector = start(
    'collector',
    ['node', 'apps/collector/dist/main.js'],
    {
      NODE_ENV: 'production',
      PORT: String(collectorPort),
      HOST,
      ISSUER: issuer,
      JWKS_URI: `${issuer}/.well-known/jwks.json`,
      AUDIENCE,
      REQUIRED_SCOPE: SCOPE,
      LOG_LEVEL,
    },
    { profile: PROF.has('collector') },
  );
  // forward-auth answers the question nginx's auth_request asks on every request (SPEC §13).
  const forwardAuth = start(
    'forward-auth',
    ['node', 'apps/forward-auth/dist/main.js'],
    {
      NODE_ENV: 'production',
      PORT: String(forwardAuthPort),
      HOST,
      ISSUER: issuer,
      JWKS_URI: `${issuer}/.well-known/jwks.json`,
      AUDIENCE,
      REQUIRED_SCOPE: SCOPE,
      LOG_LEVEL,
    },
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

  // DPoP /collect: a DPoP-bound token and a fresh proof (jti, iat, ath) on every request. autocannon's
  // setupRequest is synchronous while jose signs asynchronously, so proofs are made ahead into a pool that a
  // background loop keeps topped up with proofs at most a few seconds old; a request finding the pool empty is
  // counted as starved (and sends a replayed proof: a 401).
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
  const proofs = [];
  let lastProof = '';
  let proofStarved = 0;
  let filling = false;
  const fillProofs = async () => {
    if (filling) return;
    filling = true;
    try {
      const cutoff = Math.floor(Date.now() / 1000) - 20;
      while (proofs.length && proofs[0].iat < cutoff) proofs.shift();
      while (proofs.length < CONNECTIONS * 200) proofs.push({ iat: Math.floor(Date.now() / 1000), proof: await sign({ htm: 'GET', htu: collectUrl, ath }) });
    } finally {
      filling = false;
    }
  };
  let proofRefill;
  const startProofs = async () => {
    await fillProofs();
    proofRefill = setInterval(() => void fillProofs(), 20);
  };
  const stopProofs = () => clearInterval(proofRefill);
  await fillProofs();
  const dpopCheck = await fetch(collectUrl, { headers: { authorization: `DPoP ${bound.access_token}`, dpop: proofs.shift().proof } });
  if (dpopCheck.status !== 200) throw new Error(`collector answered ${dpopCheck.status} to a DPoP request`);
  const dpopCollect = {
    url: collectUrl,
    method: 'GET',
    requests: [
      {
        setupRequest: (req) => {
          const next = proofs.shift();
          if (next === undefined) proofStarved++;
          else lastProof = next.proof;
          return { ...req, headers: { authorization: `DPoP ${bound.access_token}`, dpop: lastProof } };
        },
      },
    ],
  };
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const tesseraPids = [auth.child.pid, ...(redisInfo.pid ? [redisInfo.pid] : [])];

  // Tessera client_credentials: every response carries a refresh token of a new family; they become the
  // refresh grant's pool.
  const pool = [];
  const collectRefreshToken = (status, body) => {
    if (status === 200) pool.push(JSON.parse(body).refresh_token);
  };
  const ccRequest = {
    url: `http://${HOST}:${authPort}/token`,
    method: 'POST',
    headers: { ...form, authorization: clientAuth },
    body: formBody({ grant_type: 'client_credentials', scope: SCOPE }),
  };
  // Refresh grant: each request spends one pooled token exactly once; its response's new token of the same
  // family goes to the back of the queue (a client rotating its family), so the pool never runs dry.
  let head = 0;
  let starved = 0;
  const refreshRequest = {
    url: `http://${HOST}:${authPort}/token`,
    method: 'POST',
    headers: { ...form, authorization: clientAuth },
    requests: [
      {
        setupRequest: (req) => {
          let token = pool[head];
          if (token === undefined) {
            starved++;
            token = 'x';
          } else {
            pool[head++] = undefined;
          }
          return { ...req, body: formBody({ grant_type: 'refresh_token', refresh_token: token }) };
        },
        onResponse: collectRefreshToken,
      },
    ],
  };

  const scenarios = [
    { id: 'bare', key: 'bare', label: 'bare express 5 GET /collect (ceiling)', opts: get(`http://${HOST}:${barePort}/collect`), pids: [bare.child.pid] },
    { id: 'collector', key: 'collector', label: 'Tessera collector GET /collect (guard)', opts: get(`http://${HOST}:${collectorPort}/collect`), pids: [collector.child.pid] },
    { id: 'collector-dpop', key: 'collectorDpop', label: 'Tessera collector GET /collect (DPoP, fresh proof)', opts: dpopCollect, pids: [collector.child.pid], before: startProofs, after: stopProofs },
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
        body: formBody({ grant_type: 'client_credentials', scope: SCOPE }),
      },
      pids: [oidc.child.pid],
    },
    { id: 'tessera-cc', key: 'tesseraCc', label: 'Tessera /token client_credentials (Redis family)', opts: { ...ccRequest, requests: [{ onResponse: collectRefreshToken }] }, pids: tesseraPids },
    { id: 'tessera-refresh', key: 'tesseraRefresh', label: 'Tessera /token refresh_token (rotation)', opts: refreshRequest, pids: tesseraPids },
  ].filter((sc) => run(sc.id));
  if (run('tessera-refresh') && !run('tessera-cc')) await cannon({ ...ccRequest, duration: 1, requests: [{ onResponse: collectRefreshToken }] });

  const stopRss = sampleRss(auth.child.pid);
  const results = await measureAll(scenarios);
  const rssMax = stopRss();
  stopProofs();
  if (results.collectorDpop) results.collectorDpop.starved = proofStarved;
  if (results.tesseraRefresh) results.tesseraRefresh.starved = starved;

  // Redis memory per live family: used_memory before/after N new families (all of one client, as in
  // production), then after rotating each once (the target's figure) and twice (each later rotation adds a spent hash).
  let familyMemory;
  if (run('memory')) {
    log(`redis memory: creating ${FAMILIES} families`);
    const fresh = [];
    // used_memory jumps when Redis doubles its keyspace tables (at powers of two keys): create padding
    // families first so that no doubling of the main or expires table falls inside the measured window.
    const margin = 64;
    const keyCounts = async () => {
      const line = /db0:keys=(\d+),expires=(\d+)/.exec(await redis.info('keyspace'));
      return line ? [Number(line[1]), Number(line[2])] : [0, 0];
    };
    const crossing = (n) => {
      const largest = 2 ** Math.floor(Math.log2(n + FAMILIES + margin));
      return largest > n ? largest : undefined;
    };
    for (let counts = await keyCounts(), i = 0; i < 20; i++, counts = await keyCounts()) {
      const power = Math.max(crossing(counts[0]) ?? 0, crossing(counts[1]) ?? 0);
      if (!power) break;
      const pad = power - Math.min(...counts) + margin;
      log(`redis memory: ${pad} padding families, past a keyspace table doubling at ${power} keys`);
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

  await stopAll();
  const deleted = redisInfo.private ? 0 : await deletePrefix(redis, prefix);
  redis.disconnect();
  if (deleted) log(`removed ${deleted} bench keys`);

  report({ startedAt, results, familyMemory, rssMax, authHwm, redisInfo });
}

// ---------------------------------------------------------------- report

function report({ startedAt, results, familyMemory, rssMax, authHwm, redisInfo }) {
  const r = results;
  const ratio = (a, b) => (a && b ? a.rps / b.rps : undefined);
  const MB = 1024 * 1024;
  const targets = [
    { name: '/token client_credentials vs oidc-provider', value: ratio(r.tesseraCc, r.oidcCc), want: '>= 1.5x', pass: (v) => v >= 1.5, fmt: (v) => `${v.toFixed(2)}x` },
    { name: '/token client_credentials p99 (32 conn)', value: r.tesseraCc?.p99, want: '<= 20 ms', pass: (v) => v <= 20, fmt: (v) => `${v} ms` },
    { name: 'refresh_token grant vs oidc-provider cc', value: ratio(r.tesseraRefresh, r.oidcCc), want: '>= 1.0x', pass: (v) => v >= 1.0, fmt: (v) => `${v.toFixed(2)}x` },
    { name: '/collect vs bare express', value: ratio(r.collector, r.bare), want: '>= 0.9x', pass: (v) => v >= 0.9, fmt: (v) => `${v.toFixed(2)}x` },
    { name: '/collect vs express-oauth2-jwt-bearer', value: ratio(r.collector, r.jwtBearer), want: '>= 1.5x', pass: (v) => v >= 1.5, fmt: (v) => `${v.toFixed(2)}x` },
    {
      name: 'Redis memory per live family (rotated)',
      value: familyMemory?.perFamilyRotated,
      want: '<= 512 B',
      pass: (v) => v <= 512,
      fmt: (v) => `${v.toFixed(0)} B`,
    },
    { name: 'auth-server RSS under load (peak)', value: rssMax ? Math.max(rssMax, 0) : undefined, want: '<= 150 MB', pass: (v) => v <= 150 * MB, fmt: (v) => `${(v / MB).toFixed(0)} MB` },
  ].map((t) => ({ ...t, result: t.value === undefined || Number.isNaN(t.value) ? 'SKIP' : t.pass(t.value) ? 'PASS' : 'FAIL' }));

  const rows = [r.tesseraCc, r.oidcCc, r.tesseraRefresh, r.collector, r.collectorDpop, r.forwardAuth, r.jwtBearer, r.bare].filter(Boolean);
  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  const lines = [];
  lines.push(`Tessera bench ${startedAt.toISOString()}  node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
  lines.push(`${CONNECTIONS} connections, ${WARMUP}s warm-up + ${DURATION}s measured per scenario in ${ROUNDS} interleaved rounds (medians), LOG_LEVEL=${LOG_LEVEL}, Redis ${redisInfo.private ? 'private' : 'shared'}`);
  lines.push('');
  lines.push(`| ${pad('scenario', 48)} | ${lpad('req/s', 7)} | ${lpad('p50 ms', 6)} | ${lpad('p99 ms', 6)} | ${lpad('non-2xx', 7)} | ${lpad('errors', 6)} | ${pad('CPU µs/req (server + redis)', 27)} |`);
  lines.push(`| ${'-'.repeat(48)} | ${'-'.repeat(6)}: | ${'-'.repeat(5)}: | ${'-'.repeat(5)}: | ${'-'.repeat(6)}: | ${'-'.repeat(5)}: | ${'-'.repeat(26)}: |`);
  for (const row of rows) {
    lines.push(`| ${pad(row.label, 48)} | ${lpad(row.rps.toFixed(0), 7)} | ${lpad(row.p50, 6)} | ${lpad(row.p99, 6)} | ${lpad(row.non2xx, 7)} | ${lpad(row.errors + row.timeouts, 6)} | ${lpad(row.cpuUsPerRequest.join(' + '), 27)} |`);
  }
  lines.push(`load generator (autocannon, in the bench process) CPU µs/req: ${rows.map((row) => `${row.id} ${row.loadGeneratorCpuUsPerRequest}`).join(', ')}`);
  lines.push('');
  lines.push(`| ${pad('target', 44)} | ${lpad('measured', 9)} | ${pad('goal', 9)} | result |`);
  lines.push(`| ${'-'.repeat(44)} | ${'-'.repeat(8)}: | ${'-'.repeat(9)} | ------ |`);
  for (const t of targets) {
    lines.push(`| ${pad(t.name, 44)} | ${lpad(t.value === undefined ? '-' : t.fmt(t.value), 9)} | ${pad(t.want, 9)} | ${pad(t.result, 6)} |`);
  }
  if (familyMemory) {
    const s = familyMemory.memoryUsageSample;
    lines.push('');
    lines.push(
      `Redis per family: ${familyMemory.perFamilyCreated.toFixed(0)} B created, ${familyMemory.perFamilyRotated.toFixed(0)} B after one rotation, ` +
        `${familyMemory.perFamilyRotatedTwice.toFixed(0)} B after two (no keyspace table doubling in the window; amortized, those tables add 16-32 B a family) ` +
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
        settings: { connections: CONNECTIONS, warmup: WARMUP, duration: DURATION, logLevel: LOG_LEVEL, families: FAMILIES },
        results,
        familyMemory,
        authServerRss: { peakSampled: rssMax, vmHwm: authHwm },
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
