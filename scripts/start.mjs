// `npm start`: the auth server (port 4000) and the collector (port 4001) as two processes.
// Stops both when either exits or on Ctrl-C / SIGTERM.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { PORT: _port, ...shared } = process.env;

const authPort = process.env.PORT ?? '4000';
const collectorPort = process.env.COLLECTOR_PORT ?? '4001';
// Swagger UI (/docs on the auth server) calls the collector from the browser: the auth server names the
// collector (COLLECTOR_URL, for the OpenAPI document and the page's CSP) and the collector allows the docs
// origin (CORS_ORIGINS). Either can be overridden; CORS_ORIGINS= (empty) turns CORS off.
const docsOrigin = new URL(process.env.ISSUER || `http://localhost:${authPort}`).origin;

const children = [
  spawn(process.execPath, ['apps/auth-server/dist/main.js'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...shared, PORT: authPort, COLLECTOR_URL: process.env.COLLECTOR_URL ?? `http://localhost:${collectorPort}` },
  }),
  spawn(process.execPath, ['apps/collector/dist/main.js'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...shared, PORT: collectorPort, CORS_ORIGINS: process.env.CORS_ORIGINS ?? docsOrigin },
  }),
];

let exiting = false;
const stop = (code) => {
  if (exiting) return;
  exiting = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
};
for (const child of children) child.on('exit', (code) => stop(code ?? 1));
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
