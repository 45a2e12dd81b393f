import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, gracefulShutdown } from '../src/index.js';

function logger() {
  const msgs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) msgs.push((JSON.parse(l) as { msg: string }).msg);
      done();
    },
  });
  return { msgs, logger: createLogger({ service: 'kit-test', destination: stream }) };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** GET over a keep-alive agent; resolves with the body once the response ends. */
function get(port: number, agent: import('node:http').Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

const until = async (check: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('gracefulShutdown', () => {
  it('finishes the request in flight, closes idle keep-alive connections, then the resources', async () => {
    let release: () => void = () => {};
    let started = false;
    const { server, port } = await listen((req, res) => {
      if (req.url === '/') {
        started = true;
        release = () => res.end('done');
      }
    });
    const { server: idleServer, port: idlePort } = await listen((_req, res) => res.end('idle'));
    const { Agent } = await import('node:http');
    const idleAgent = new Agent({ keepAlive: true });
    expect(await get(idlePort, idleAgent)).toBe('idle');
    const idleClosed = new Promise<void>((r) => Object.values(idleAgent.freeSockets).flat()[0]!.once('close', () => r()));

    const inFlight = get(port, new Agent({ keepAlive: true }));
    await until(() => started);
    const order: string[] = [];
    const { msgs, logger: log } = logger();
    const shutdown = gracefulShutdown({
      servers: [server, idleServer],
      logger: log,
      beforeClose: () => order.push('before'),
      closeResources: async () => {
        order.push(`resources (listening: ${server.listening || idleServer.listening})`);
      },
    });
    const result = shutdown('SIGTERM');
    expect(shutdown('SIGINT')).toBe(result);
    await idleClosed;
    await expect(get(idlePort, new Agent())).rejects.toThrow(/ECONNREFUSED/);
    expect(order).toEqual(['before']);
    release();
    expect(await inFlight).toBe('done');
    const released = Date.now();
    expect(await result).toBe(true);
    // the finished keep-alive connection is closed by the sweep, not after its 5 s keep-alive timeout
    expect(Date.now() - released).toBeLessThan(2000);
    expect(order).toEqual(['before', 'resources (listening: false)']);
    expect(msgs).toEqual(['shutting down', 'stopped']);
  });

  it('gives up after graceMs when a request never finishes', async () => {
    let started = false;
    const { server, port } = await listen(() => {
      started = true;
    });
    const hung = get(port, new (await import('node:http')).Agent()).catch(() => 'reset');
    await until(() => started);
    const { msgs, logger: log } = logger();
    let closed = false;
    const clean = await gracefulShutdown({ servers: [server], logger: log, graceMs: 200, closeResources: () => void (closed = true) })('SIGTERM');
    expect(clean).toBe(false);
    expect(closed).toBe(false);
    expect(msgs).toEqual(['shutting down', 'shutdown did not finish cleanly']);
    server.closeAllConnections();
    expect(await hung).toBe('reset');
  });
});
