import { Socket } from 'node:net';

/** mulberry32: a small seeded PRNG, so every generated request can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

export interface RawRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer;
}

/** Serializes a request exactly as given (no validation), with Connection: close and a Content-Length unless one is set. */
export function serialize(request: RawRequest): Buffer {
  const headers = [...request.headers];
  if (!headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n)) && request.body.length) {
    headers.push(['Content-Length', String(request.body.length)]);
  }
  const head = [`${request.method} ${request.path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers.map(([n, v]) => `${n}: ${v}`)].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), request.body]);
}

/** Sends raw bytes and resolves with the status code of the first response (0 when the server closed without one). */
export function sendRaw(port: number, bytes: Buffer, timeoutMs = 10_000): Promise<{ status: number; response: string }> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolve({ status: status ? Number(status[1]) : 0, response });
    };
    socket.on('data', (d: Buffer) => (response += d.toString('latin1')));
    socket.once('close', done);
    socket.once('error', () => socket.destroy());
    socket.connect(port, '127.0.0.1', () => socket.write(bytes));
  });
}
