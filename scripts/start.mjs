// `npm start`: the auth server (port 4000) and the collector (port 4001) as two processes.
// Stops both when either exits or on Ctrl-C / SIGTERM.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { PORT: _port, ...shared } = process.env;

const children = [
  spawn(process.execPath, ['apps/auth-server/dist/main.js'], { cwd: root, stdio: 'inherit', env: { ...shared, PORT: process.env.PORT ?? '4000' } }),
  spawn(process.execPath, ['apps/collector/dist/main.js'], { cwd: root, stdio: 'inherit', env: { ...shared, PORT: process.env.COLLECTOR_PORT ?? '4001' } }),
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
