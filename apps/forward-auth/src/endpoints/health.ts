import type { RequestHandler } from 'express';

/** `GET /healthz`: the process answers. */
export const healthEndpoint: RequestHandler = (_req, res) => {
  res.set('Cache-Control', 'no-store').json({ status: 'ok' });
};
