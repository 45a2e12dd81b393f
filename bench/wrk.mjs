// Load through wrk (Debian package `wrk`): a C load generator, so the servers keep their CPU. One request
// shape per run, described like an autocannon request ({ url, method, headers, body }) plus one optional pool:
//   bodies: [...]         request i sends bodies[i] (pre-signed client assertions, each used once)
//   headerPool: {name, values}   request i sends header `name: values[i]` (pre-signed DPoP proofs)
//   rotate: {prefix, tokens}     refresh rotation: request sends `prefix + token` from a queue; every 200
//                                answer's refresh_token joins the back of the queue (parsed in Lua)
// A pool that runs dry is counted as `starved` (the request then reuses the last entry and fails).
// wrk runs as a child of bash, whose `times` gives wrk's CPU time (the load generator's cost).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function wrkVersion() {
  const out = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (out.error) return undefined;
  return `${out.stdout}${out.stderr}`.split('\n')[0].trim();
}

const lua = (s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;

function script(opts, poolFile) {
  const headers = Object.entries(opts.headers ?? {})
    .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
    .join(', ');
  const lines = [
    `wrk.method = ${lua(opts.method ?? 'GET')}`,
    `wrk.headers = { ${headers} }`,
    ...(opts.body !== undefined ? [`wrk.body = ${lua(opts.body)}`] : []),
    'starved = 0',
    'local threads = {}',
    'function setup(thread) table.insert(threads, thread) end',
  ];
  if (poolFile) {
    lines.push(
      'local pool, head, tail = {}, 1, 0',
      `for line in io.lines(${lua(poolFile)}) do tail = tail + 1; pool[tail] = line end`,
      'local last = pool[1]',
      'local function take()',
      '  local v = pool[head]',
      '  if v == nil then starved = starved + 1; return last end',
      '  pool[head] = nil; head = head + 1; last = v; return v',
      'end',
    );
    if (opts.bodies) lines.push('function request() return wrk.format(nil, nil, nil, take()) end');
    if (opts.headerPool) {
      lines.push(
        `local name = ${lua(opts.headerPool.name)}`,
        'function request() wrk.headers[name] = take(); return wrk.format() end',
      );
    }
    if (opts.rotate) {
      lines.push(
        `local prefix = ${lua(opts.rotate.prefix)}`,
        'function request() return wrk.format(nil, nil, nil, prefix .. take()) end',
        'function response(status, headers, body)',
        '  if status == 200 then',
        '    local t = string.match(body, \'"refresh_token":"([^"]+)"\')',
        '    if t then tail = tail + 1; pool[tail] = t end',
        '  end',
        'end',
      );
    }
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local s = 0',
    '  for _, t in ipairs(threads) do s = s + (t:get("starved") or 0) end',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"starved":%d}\\n\',',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, s))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Runs wrk -t1 -c<connections> for `seconds` against opts.url; resolves to
 * { requests, duration (s), rps, p50/p90/p99/max (ms), non2xx, errors, timeouts, starved, genCpu (s) }.
 */
export function wrk(opts, { seconds, connections, dir, name }) {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${name}-${process.pid}`);
  let poolFile;
  const pool = opts.bodies ?? opts.headerPool?.values ?? opts.rotate?.tokens;
  if (pool) {
    poolFile = `${base}.pool`;
    writeFileSync(poolFile, `${pool.join('\n')}\n`);
  }
  const scriptFile = `${base}.lua`;
  writeFileSync(scriptFile, script(opts, poolFile));
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', scriptFile, opts.url];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'wrk "$@"; rc=$?; times; exit $rc', 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const json = /WRKJSON (\{.*\})/.exec(out);
      if (code !== 0 || !json) return reject(new Error(`wrk ${name} failed (${code}): ${(err || out).trim().slice(-500)}`));
      const r = JSON.parse(json[1]);
      // `times`: the shell's own user/sys, then its children's (wrk): "0m1.234s 0m0.567s"
      const times = out.trim().split('\n').slice(-1)[0].match(/(\d+)m([\d.]+)s/g) ?? [];
      const genCpu = times.map((t) => {
        const [, m, s] = /(\d+)m([\d.]+)s/.exec(t);
        return Number(m) * 60 + Number(s);
      }).reduce((a, b) => a + b, 0);
      const duration = r.duration_us / 1e6;
      resolve({
        requests: r.requests,
        duration,
        rps: r.requests / duration,
        p50: r.p50 / 1000,
        p90: r.p90 / 1000,
        p99: r.p99 / 1000,
        max: r.max / 1000,
        non2xx: r.status,
        errors: r.connect + r.read + r.write,
        timeouts: r.timeout,
        starved: r.starved,
        genCpu,
      });
    });
  });
}
