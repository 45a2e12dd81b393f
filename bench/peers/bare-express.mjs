// Peer: the framework ceiling, a bare express 5 route answering a small JSON. Env: PORT, HOST.
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/collect', (_req, res) => {
  res.set('Cache-Control', 'no-store').json({ message: 'collected', claims: { sub: 'bench', scope: 'collect' } });
});
app.listen(Number(process.env.PORT ?? 4102), process.env.HOST ?? '127.0.0.1', () => process.stdout.write('bare express listening\n'));
process.on('SIGTERM', () => process.exit(0));
