/**
 * The runtime-neutral gateway: a Hono app over the farm and store ports. Adapters
 * (gateway/adapters/node, gateway/adapters/deno) only wire ports and serve it.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { KilnError } from '../protocol/errors.ts';
import type { GatewayDeps, GatewayEnv } from './context.ts';
import { errorResponse } from './errors.ts';
import { createMetrics } from './metrics.ts';
import { actionRoutes } from './routes/actions.ts';
import { blobRoutes } from './routes/blobs.ts';
import { dashboardRoutes } from './dashboard/routes.ts';
import { builderRoutes } from './routes/builders.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { logRoutes } from './routes/logs.ts';
import { signerRoutes } from './routes/signers.ts';
import { toolchainRoutes } from './routes/toolchains.ts';

export function createApp(deps: GatewayDeps): Hono<GatewayEnv> {
  const metrics = deps.metrics ?? createMetrics();
  const app = new Hono<GatewayEnv>();
  app.use('*', async (c, next) => {
    await next();
    metrics.inc('kiln_http_requests_total', { method: c.req.method, status: String(c.res.status) });
  });
  app.use('*', async (c, next) => {
    const url = c.req.url;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    if (start >= 0 && url.length - start > deps.limits.maxUrlBytes)
      throw new KilnError(
        'ERR_URL_TOO_LONG',
        `request URL over ${deps.limits.maxUrlBytes} bytes (limits.maxUrlBytes): send long lists in a JSON body`,
      );
    await next();
  });
  const max = deps.limits.maxJsonBytes;
  const tooLarge = (): never => {
    throw new KilnError('ERR_TOO_LARGE', `request body over ${max} bytes`);
  };
  const streamedLimit = bodyLimit({ maxSize: max, onError: tooLarge });
  // A body with a Content-Length (and no chunked encoding) is judged by its header alone: the HTTP
  // parser never delivers more than it says, and not touching `raw.body` here spares the Node
  // adapter a web stream per request. Chunked bodies are counted as they arrive.
  const jsonLimit: MiddlewareHandler<GatewayEnv> = async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined)
      return streamedLimit(c, next);
    if (Number.parseInt(length, 10) > max) tooLarge();
    await next();
  };
  app.use('/api/v1/jobs/*', jsonLimit);
  app.use('/api/v1/jobs', jsonLimit);
  app.use('/api/v1/blobs/missing', jsonLimit);
  app.route('/', healthRoutes(deps, metrics));
  app.route('/', dashboardRoutes(deps, metrics));
  app.route('/api/v1/jobs', jobRoutes(deps));
  app.route('/api/v1/jobs', logRoutes(deps));
  app.route('/api/v1/blobs', blobRoutes(deps));
  app.route('/api/v1/actions', actionRoutes(deps));
  app.route('/api/v1/builders', builderRoutes(deps));
  app.route('/api/v1/signers', signerRoutes(deps));
  app.route('/api/v1', toolchainRoutes(deps));
  app.notFound((c) =>
    c.json({ error: { code: 'ERR_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404),
  );
  app.onError((err, c) => errorResponse(err, c, deps.log));
  return app;
}
