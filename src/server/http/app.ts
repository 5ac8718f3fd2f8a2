/**
 * The HTTP API on fastify: authentication, namespace access checks and error mapping here; the
 * routes, by concern, in the *-routes.ts files beside it (docs/PROTOCOL.md documents each).
 * Handlers are thin: they validate, check access and call one MetadataStore / BlockStore operation.
 *
 * Error contract: every failure is `{"error": {"code", "message", …details}}` with a 4xx for the
 * caller's mistakes; a 5xx means a bug or a storage failure and is logged once.
 */
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { nativeBlockHasher, type BlockHasher } from '../../blockstore/block-body.js';
import type { BlockStore } from '../../blockstore/block-store.js';
import { MeteredBlockStore } from '../../blockstore/metered-block-store.js';
import type { Actor, MetadataStore, Principal, Role } from '../../metastore/metadata-store.js';
import type { Clock } from '../../shared/clock.js';
import { LoftError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { MAX_BLOCK_SIZE } from '../../shared/protocol.js';
import type { JournalHub } from '../journal-hub.js';
import { ServerMetrics } from '../server-metrics.js';
import { bearerToken, hashToken } from '../tokens.js';
import { checkCsrf, CSRF_HEADER, sessionToken } from '../web/session.js';
import { registerBatchRoutes } from './batch-routes.js';
import { registerBlockBodyParser, registerBlockRoutes } from './block-routes.js';
import { registerContentSearchRoutes } from './content-search-routes.js';
import { registerDeviceRoutes } from './device-routes.js';
import { registerLinkRoutes } from './link-routes.js';
import { registerPublicLinkRoutes } from './public-link-routes.js';
import { QuotaGate } from './quota.js';
import { PasswordThrottle } from '../link-secrets.js';
import { throttleStateFor } from '../throttle-state.js';
import { registerHistoryRoutes } from './history-routes.js';
import { MAX_WAIT_S, registerJournalRoutes } from './journal-routes.js';
import { METRICS_PATH, registerMetricsRoutes } from './metrics-routes.js';
import { oneLine } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { registerShareRoutes } from './share-routes.js';
import { registerTreeRoutes } from './tree-routes.js';
import { registerWebFolderRoutes } from './web-folder-routes.js';
import { isPublicWebRoute, registerWebRoutes } from './web-routes.js';

export { parseRange } from './block-routes.js';
export { oneLine } from './request-fields.js';

/** Largest JSON body: a commit of a ~300 GB file at 1 MiB average chunks. */
export const MAX_JSON_BODY = 32 * 1024 * 1024;

export interface AppOptions {
  meta: MetadataStore;
  blocks: BlockStore;
  hub: JournalHub;
  clock: Clock;
  /** The server's logger (the process's one, src/shared/log.ts); default: silent. */
  logger?: Logger;
  /** What GET /metrics reports (default: a registry of its own, without process metrics). */
  metrics?: ServerMetrics;
  /** Serve HTTPS with this certificate chain and key (PEM); default: plain HTTP. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** Balancers whose X-Forwarded-For gives `request.ip` (src/server/trust-proxy.ts). */
  trustProxy?: string[];
  /**
   * How block PUTs are hashed (block-body.ts): on the thread pool by this hasher once a body has
   * arrived, or, with null, on this thread as it arrives. Default: the binding's, where it is built
   * (`LOFT_SERVER_NATIVE=0`: null). The deterministic simulation passes null: when a thread-pool job
   * ends is not the simulation's to schedule.
   */
  blockHasher?: BlockHasher | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** The web session token when the request was authenticated by the session cookie. */
    session: string | null;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { meta, hub, clock } = options;
  const metrics = options.metrics ?? new ServerMetrics({ processMetrics: false });
  const logger = options.logger ?? silentLogger();
  const blocks = new MeteredBlockStore(options.blocks, metrics);
  // With TLS fastify's instance is typed for an https.Server; the routes use nothing that differs.
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    loggerInstance: logger,
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_JSON_BODY,
    // Long-polls answer within MAX_WAIT_S; anything slower than this is a stuck client.
    requestTimeout: (MAX_WAIT_S + 60) * 1000,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
    return503OnClosing: true,
    // Router errors (bad percent-encoding, over-long parameters) in the documented error shape.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      void reply.code(400).send({ error: { code: 'BAD_REQUEST', message: oneLine(error.message) } });
    },
    // Errors of Node's HTTP parser (header too large, invalid bytes in the request line): answer in
    // the documented shape and close, so a keep-alive client does not reuse a poisoned connection.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const status = tooLarge ? 431 : 400;
      const body = JSON.stringify({
        error: {
          code: tooLarge ? 'TOO_LARGE' : 'BAD_REQUEST',
          message: tooLarge ? 'request headers too large' : 'malformed HTTP request',
        },
      });
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
            `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      } else {
        socket.destroy();
      }
    },
  }) as unknown as FastifyInstance;

  // A block PUT's body is kept in pooled slabs as it arrives, and hashed (block-routes.ts).
  registerBlockBodyParser(
    app,
    MAX_BLOCK_SIZE,
    options.blockHasher !== undefined
      ? options.blockHasher
      : process.env.LOFT_SERVER_NATIVE === '0'
        ? null
        : nativeBlockHasher(),
  );

  app.setErrorHandler((err: unknown, request, reply) => sendError(app, request, reply, err));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    }),
  );

  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('session', null);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    if (route === '/v1/health' || route === METRICS_PATH || isPublicWebRoute(route)) return;
    // Share links are served to anyone holding their URL (public-link-routes.ts checks them).
    if (route?.startsWith('/s/')) return;
    // A bearer token (drive, API, CLI); without an Authorization header, the web session cookie.
    const cookie = request.headers.authorization ? null : sessionToken(request.headers.cookie);
    const token = cookie ?? bearerToken(request.headers.authorization);
    if (!token)
      throw new LoftError('UNAUTHORIZED', 'missing or malformed "Authorization: Bearer <token>" header');
    const principal = await meta.authenticate(hashToken(token), clock.now());
    if (!principal) throw new LoftError('UNAUTHORIZED', 'unknown, revoked or expired token');
    if (cookie && request.method !== 'GET' && request.method !== 'HEAD')
      checkCsrf(cookie, request.headers[CSRF_HEADER]);
    request.principal = principal;
    request.session = cookie;
  });
  // At debug level, one line per request: method, URL (a link's secret cut out), status, time.
  // Never a header or a body: tokens, cookies and passwords travel there.
  app.addHook('onResponse', async (request, reply) => {
    if (!logger.isLevelEnabled('debug')) return;
    logger.debug(
      {
        method: request.method,
        url: loggedUrl(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  // After authentication: a refused long-poll is never counted as open.
  registerMetricsRoutes(app, metrics);

  /** The namespace a request names (default: the caller's own), after checking the caller's role. */
  async function namespace(
    request: FastifyRequest,
    ns: number | string | undefined,
    need: 'read' | 'write',
  ): Promise<number> {
    const id = ns === undefined ? request.principal.homeNs : Number(ns);
    const role: Role | null = await meta.role(request.principal.userId, id);
    // Same answer for "no such namespace" and "not yours": nothing leaks about other namespaces.
    if (!role) throw new LoftError('FORBIDDEN', `no access to namespace ${id}`);
    if (need === 'write' && role === 'read')
      throw new LoftError('FORBIDDEN', `namespace ${id} is read-only for you`);
    return id;
  }

  function actor(request: FastifyRequest): Actor {
    return { userId: request.principal.userId, deviceId: request.principal.deviceId, now: clock.now() };
  }

  async function changed(ns: number): Promise<void> {
    metrics.treeChanged();
    hub.notify(ns, await meta.headSeq(ns));
  }

  app.get('/v1/health', async () => ({ ok: true }));

  app.get('/v1/whoami', async (request) => {
    const p = request.principal;
    const root = await meta.getNode(p.homeNs, { path: '/' });
    return {
      user: p.userName,
      device: p.deviceName,
      ns: p.homeNs,
      rootId: root?.id,
      installation: await meta.installationId(),
    };
  });

  const quota = new QuotaGate(meta, clock);
  const ctx: RouteContext = { meta, blocks, hub, clock, quota, namespace, actor, changed };
  registerBlockRoutes(app, ctx);
  registerTreeRoutes(app, ctx);
  registerHistoryRoutes(app, ctx);
  registerJournalRoutes(app, ctx);
  registerBatchRoutes(app, ctx);
  registerLinkRoutes(app, ctx);
  registerDeviceRoutes(app, ctx);
  registerShareRoutes(app, ctx);
  registerPublicLinkRoutes(app, ctx, new PasswordThrottle(clock, throttleStateFor(meta)));
  registerWebRoutes(app, ctx);
  registerWebFolderRoutes(app, ctx);
  registerContentSearchRoutes(app, ctx);

  // preClose, not onClose: in-flight long-polls must be released before fastify waits for them.
  app.addHook('preClose', async () => hub.close());
  await app.ready();
  return app;
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
  validation?: unknown;
}

/** A URL as logs may show it: a share link's secret (`/s/SECRET…`) is never written to a log. */
export function loggedUrl(url: string): string {
  return url.replace(/^\/s\/[^/?#]*/, '/s/<secret>');
}

function sendError(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
): FastifyReply {
  if (err instanceof LoftError) {
    if (err.status >= 500) app.log.error({ err, url: loggedUrl(request.url) }, 'request failed');
    if (err.code === 'UNAUTHORIZED' && !request.headers.cookie) reply.header('www-authenticate', 'Bearer');
    if (typeof err.details?.retryAfter === 'number')
      reply.header('retry-after', String(err.details.retryAfter));
    return reply
      .code(err.status)
      .send({ error: { ...err.details, code: err.code, message: oneLine(err.message) } });
  }
  const e = (err ?? {}) as FastifyLikeError;
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code =
      status === 413
        ? 'TOO_LARGE'
        : status === 415
          ? 'UNSUPPORTED_MEDIA_TYPE'
          : status === 404
            ? 'NOT_FOUND'
            : 'BAD_REQUEST';
    const message = oneLine(e.message ?? 'bad request');
    return reply.code(status).send({ error: { code, message } });
  }
  app.log.error({ err, url: loggedUrl(request.url) }, 'request failed');
  return reply
    .code(500)
    .send({ error: { code: 'INTERNAL', message: 'internal error (logged on the server)' } });
}
