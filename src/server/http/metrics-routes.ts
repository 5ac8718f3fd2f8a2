/**
 * `GET /metrics` (Prometheus text format, src/server/server-metrics.ts) and the hooks that feed it:
 * every answered request by route template and status, and the long-polls open. Unauthenticated,
 * like /v1/health: it names no user, path or hash (route templates only); an operator who does not
 * want it public blocks it at the proxy.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerMetrics } from '../server-metrics.js';

export const METRICS_PATH = '/metrics';
/** The long-poll route (journal-routes.ts). */
const LONG_POLL_ROUTE = '/v1/changes/wait';
/** The label of requests that matched no route: one series, however many URLs are probed. */
const NO_ROUTE = 'none';

export function registerMetricsRoutes(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.url !== LONG_POLL_ROUTE) return;
    metrics.longPollOpened();
    // 'close' comes once whether the poll was answered or its client went away.
    reply.raw.once('close', () => metrics.longPollClosed());
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.request(
      request.method,
      request.routeOptions.url ?? NO_ROUTE,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  app.get(METRICS_PATH, async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.header('content-type', contentType).send(body);
  });
}
