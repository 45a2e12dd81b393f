// Peer: this machine's latency floor for a given CPU cost per request. A node:http route that only burns
// BUSY_US microseconds in a busy loop per request (no I/O, no store, next to no garbage) and answers a JSON
// of a token response's size. Env: PORT, HOST, BUSY_US.
import { createServer } from 'node:http';

const busyNs = BigInt(Math.round(Number(process.env.BUSY_US ?? 180) * 1000));
const body = JSON.stringify({ access_token: 'x'.repeat(560), token_type: 'Bearer', expires_in: 900, refresh_token: 'y'.repeat(64), scope: 'collect' });
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const until = process.hrtime.bigint() + busyNs;
    while (process.hrtime.bigint() < until);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
  });
}).listen(Number(process.env.PORT ?? 4107), process.env.HOST ?? '127.0.0.1', () => process.stdout.write('busy floor listening\n'));
process.on('SIGTERM', () => process.exit(0));
