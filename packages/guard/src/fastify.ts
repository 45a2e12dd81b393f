import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { GuardError } from './errors.js';
import type { AuthResult } from './authenticate.js';
import { absoluteUrl, createRequestGuard, type GuardOptions } from './request.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Tessera guard once the bearer token is verified. */
    auth?: AuthResult | null;
  }
}

/**
 * Options of {@link fastifyGuard} and {@link accessTokenHook}: verifier options or a `verifier`, plus `scopes`,
 * `realm` and the DPoP options. The proof's `htu` is compared with `request.protocol://request.host` +
 * `request.url`, so fastify's `trustProxy` decides whether `X-Forwarded-Proto`/`X-Forwarded-Host` count.
 */
export type FastifyGuardOptions = GuardOptions;

function hook(options: FastifyGuardOptions): preHandlerAsyncHookHandler {
  const guard = createRequestGuard(options);
  return async function tesseraGuard(request: FastifyRequest, reply: FastifyReply) {
    try {
      request.auth = await guard.authenticate({
        method: request.method,
        rawHeaders: request.raw.rawHeaders,
        url: () => absoluteUrl(request.protocol, request.host, request.url),
        query: request.query,
        body: request.body,
      });
    } catch (error) {
      if (!(error instanceof GuardError)) throw error;
      return reply.code(error.status).headers(guard.errorHeaders(error)).send(error.toJSON());
    }
  };
}

/**
 * A fastify `preHandler` hook for one route (`{ preHandler: accessTokenHook(options) }`): same checks,
 * errors and claims as the express glue. On success `request.auth` holds {@link AuthResult}; on failure
 * it answers with the status, `WWW-Authenticate` (or `Retry-After`) and `{ error, error_description }`.
 * Options are checked here, once (TypeError naming the option).
 */
export function accessTokenHook(options: FastifyGuardOptions): preHandlerAsyncHookHandler {
  return hook(options);
}

/**
 * A fastify plugin that requires a valid access token on every route of the context it is
 * registered in (it is not encapsulated: routes beside it are protected). Register it inside
 * `app.register(async (scope) => …)` to protect only some routes.
 * @example
 * await app.register(async (api) => {
 *   await api.register(fastifyGuard, { issuer, audience: 'billing', scopes: 'read' });
 *   api.get('/invoices', async (request) => request.auth?.claims);
 * });
 */
export const fastifyGuard: FastifyPluginAsync<FastifyGuardOptions> = Object.assign(
  async function tesseraGuardPlugin(instance: Parameters<FastifyPluginAsync<FastifyGuardOptions>>[0], options: FastifyGuardOptions) {
    const handler = hook(options);
    if (!instance.hasRequestDecorator('auth')) instance.decorateRequest('auth', null);
    instance.addHook('preHandler', handler);
  },
  {
    // What fastify-plugin sets: the hook applies to the registering context, not a child of it.
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@tessera/guard',
  },
);
