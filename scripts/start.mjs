// `npm start`: the auth server (port 4000) and the collector (port 4001) as two processes.
// The collector starts once the auth server answers /healthz (or after 10 s). Stops both when either
// exits or on Ctrl-C / SIGTERM.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { PORT: _port, ...shared } = process.env;

const authPort = process.env.PORT ?? '4000';
const collectorPort = process.env.COLLECTOR_PORT ?? '4001';
const authHost = process.env.HOST && process.env.HOST !== '0.0.0.0' ? process.env.HOST : '127.0.0.1';
// Swagger UI (/docs on the auth server) calls the collector from the browser: the auth server names the
// collector (COLLECTOR_URL, for the OpenAPI document and the page's CSP) and the collector allows the docs
// origin (CORS_ORIGINS). Either can be overridden; CORS_ORIGINS= (empty) turns CORS off.
const docsOrigin = new URL(process.env.ISSUER || `http://localhost:${authPort}`).origin;

const children = [];
let exiting = false;
const stop = (code) => {
  if (exiting) return;
  exiting = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
};
const start = (script, env) => {
  const child = spawn(process.execPath, [script], { cwd: root, stdio: 'inherit', env });
  child.on('exit', (code) => stop(code ?? 1));
  children.push(child);
};
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

start('apps/auth-server/dist/main.js', { ...shared, PORT: authPort, COLLECTOR_URL: process.env.COLLECTOR_URL ?? `http://localhost:${collectorPort}` });
for (let i = 0; i < 100 && !exiting; i++) {
  const up = await fetch(`http://${authHost}:${authPort}/healthz`).then((r) => r.ok, () => false);
  if (up) break;
  await sleep(100);
}
if (!exiting) start('apps/collector/dist/main.js', { ...shared, PORT: collectorPort, CORS_ORIGINS: process.env.CORS_ORIGINS ?? docsOrigin });
