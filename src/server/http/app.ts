/**
 * The HTTP API on fastify: authentication, namespace access checks, error mapping, and the routes
 * (docs/PROTOCOL.md documents each). Handlers are thin: they validate, check access and call one
 * MetadataStore / BlockStore operation.
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
import type { BlockStore } from '../../blockstore/block-store.js';
import type {
  Actor,
  MetadataStore,
  NodeRef,
  Place,
  Principal,
  Role,
} from '../../metastore/metadata-store.js';
import type { Clock } from '../../shared/clock.js';
import { isLoftError, LoftError } from '../../shared/errors.js';
import { assertHash } from '../../shared/hash.js';
import {
  MAX_BLOCK_SIZE,
  MAX_CHANGES_LIMIT,
  MAX_TREE_LIMIT,
  MAX_TREE_PAGE_BLOCKS,
  PIECE_HASHES_HEADER,
  type ChangesPage,
  type Revision,
} from '../../shared/protocol.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { JournalHub } from '../journal-hub.js';
import { bearerToken, hashToken } from '../tokens.js';
import {
  ChangesQuery,
  CommitBody,
  DeleteBody,
  DeletedQuery,
  HashParams,
  MissingBody,
  MkdirBody,
  MoveBody,
  NodeQuery,
  RestoreBody,
  TreeQuery,
  WaitQuery,
} from './schemas.js';

/** Largest JSON body: a commit of a ~300 GB file at 1 MiB average chunks. */
export const MAX_JSON_BODY = 32 * 1024 * 1024;
const DEFAULT_CHANGES_LIMIT = 1000;
const DEFAULT_WAIT_S = 30;
/** Long-polls are capped below common proxy idle timeouts. */
const MAX_WAIT_S = 300;
/**
 * A PUT that meets its block being garbage-collected waits and starts over (see
 * garbage-collector.ts, (d)); deleting one block takes milliseconds, so a few short waits suffice
 * before answering 503 (the client retries with backoff).
 */
const PUT_ATTEMPTS = 5;
const PUT_RETRY_MS = 50;
const DEFAULT_DELETED_LIMIT = 1000;
const DEFAULT_TREE_LIMIT = 1000;
const MAX_DELETED_LIMIT = 10_000;

export interface AppOptions {
  meta: MetadataStore;
  blocks: BlockStore;
  hub: JournalHub;
  clock: Clock;
  logLevel?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { meta, blocks, hub, clock } = options;
  const app = Fastify({
    logger: { level: options.logLevel ?? 'warn' },
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
  });

  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: MAX_BLOCK_SIZE },
    (_req, body, done) => done(null, body),
  );

  app.setErrorHandler((err: unknown, request, reply) => sendError(app, request, reply, err));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` },
    }),
  );

  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === '/v1/health') return;
    const token = bearerToken(request.headers.authorization);
    if (!token)
      throw new LoftError('UNAUTHORIZED', 'missing or malformed "Authorization: Bearer <token>" header');
    const principal = await meta.authenticate(hashToken(token), clock.now());
    if (!principal) throw new LoftError('UNAUTHORIZED', 'unknown, revoked or expired token');
    request.principal = principal;
  });

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
    hub.notify(ns, await meta.headSeq(ns));
  }

  app.get('/v1/health', async () => ({ ok: true }));

  app.get('/v1/whoami', async (request) => {
    const p = request.principal;
    const root = await meta.getNode(p.homeNs, { path: '/' });
    return { user: p.userName, device: p.deviceName, ns: p.homeNs, rootId: root?.id };
  });

  // ---- blocks ---------------------------------------------------------------------------------------

  app.post<{ Body: MissingBody }>(
    '/v1/blocks/missing',
    { schema: { body: MissingBody } },
    async (request) => {
      if (request.body.ns !== undefined) await namespace(request, request.body.ns, 'write');
      return { missing: await meta.missingBlocks(request.principal.userId, request.body.hashes) };
    },
  );

  app.put<{ Params: HashParams; Body: Buffer }>(
    '/v1/blocks/:hash',
    { schema: { params: HashParams }, bodyLimit: MAX_BLOCK_SIZE },
    async (request, reply) => {
      const { hash } = request.params;
      assertHash(hash);
      if (!Buffer.isBuffer(request.body) || !isOctetStream(request.headers['content-type'])) {
        throw new LoftError(
          'UNSUPPORTED_MEDIA_TYPE',
          'send the block as Content-Type: application/octet-stream',
        );
      }
      // Bytes first, record second; the state read first tells recordUpload whether the bytes were
      // already there (garbage-collector.ts explains why this keeps uploads safe from collection).
      for (let attempt = 1; ; attempt++) {
        const seen = await meta.blockState(hash);
        if (seen !== 'collecting') {
          const result = await blocks.put(hash, request.body);
          try {
            // "created" is about this user: whether someone else stored the bytes first is not revealed.
            const created = await meta.recordUpload(
              request.principal.userId,
              hash,
              request.body.length,
              result.storedSize,
              clock.now(),
              seen,
            );
            return reply.code(created ? 201 : 200).send({ hash, size: request.body.length, created });
          } catch (err) {
            if (!isLoftError(err, 'UNAVAILABLE') || attempt >= PUT_ATTEMPTS) throw err;
          }
        } else if (attempt >= PUT_ATTEMPTS) {
          throw new LoftError('UNAVAILABLE', `block ${hash} is being garbage-collected; send it again`);
        }
        await new Promise((r) => setTimeout(r, PUT_RETRY_MS * attempt));
      }
    },
  );

  app.get<{ Params: HashParams }>(
    '/v1/blocks/:hash',
    { schema: { params: HashParams } },
    async (request, reply) => {
      const { hash } = request.params;
      assertHash(hash);
      // "Not readable by you" and "absent" are the same 404: a hash alone reveals nothing.
      const notFound = () => new LoftError('NOT_FOUND', `no block ${hash} readable by you`);
      if (!(await meta.canReadBlock(request.principal.userId, hash))) throw notFound();
      reply
        .header('etag', `"${hash}"`)
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('accept-ranges', 'bytes');
      const range = parseRange(request.headers.range);
      if (!range) {
        const data = await blocks.get(hash);
        if (!data) throw notFound();
        return reply.header('content-type', 'application/octet-stream').send(data);
      }
      const got = await blocks.getRange(hash, range.start, range.end);
      if (!got) throw notFound();
      if (got.data.length === 0) {
        return reply
          .code(416)
          .header('content-range', `bytes */${got.size}`)
          .send({ error: { code: 'BAD_REQUEST', message: `range outside the block's ${got.size} bytes` } });
      }
      if (got.pieces) reply.header(PIECE_HASHES_HEADER, got.pieces.join(','));
      return reply
        .code(206)
        .header('content-type', 'application/octet-stream')
        .header('content-range', `bytes ${range.start}-${range.start + got.data.length - 1}/${got.size}`)
        .send(got.data);
    },
  );

  // ---- tree -----------------------------------------------------------------------------------------

  app.post<{ Body: CommitBody }>('/v1/commit', { schema: { body: CommitBody } }, async (request) => {
    const b = request.body;
    const ns = await namespace(request, b.ns, 'write');
    const rev = await meta.commitFile(actor(request), {
      ns,
      node: b.parentId !== undefined || b.name !== undefined ? place(b) : nodeRef(b),
      parentRev: b.parentRev,
      blocks: b.blocks,
      size: b.size,
      mtime: b.mtime,
      mode: b.mode ?? 0o644,
    });
    await changed(ns);
    return { rev: rev.rev, node: rev };
  });

  app.post<{ Body: MkdirBody }>('/v1/mkdir', { schema: { body: MkdirBody } }, async (request) => {
    const b = request.body;
    const ns = await namespace(request, b.ns, 'write');
    const rev = await meta.mkdir(actor(request), {
      ns,
      ...place(b),
      mtime: b.mtime ?? clock.now(),
      mode: b.mode ?? 0o755,
      parents: b.parents ?? false,
    });
    await changed(ns);
    return { rev: rev.rev, node: rev };
  });

  app.post<{ Body: MoveBody }>('/v1/move', { schema: { body: MoveBody } }, async (request) => {
    const b = request.body;
    const ns = await namespace(request, b.ns, 'write');
    const rev = await meta.move(actor(request), {
      ns,
      node: nodeRef(b),
      parentRev: b.parentRev,
      ...toPlace(b),
      overwrite: b.overwrite ?? false,
      targetRev: b.targetRev,
    });
    await changed(ns);
    return { rev: rev.rev, node: rev };
  });

  app.post<{ Body: DeleteBody }>('/v1/delete', { schema: { body: DeleteBody } }, async (request) => {
    const b = request.body;
    const ns = await namespace(request, b.ns, 'write');
    const revs = await meta.remove(actor(request), {
      ns,
      node: nodeRef(b),
      parentRev: b.parentRev,
      recursive: b.recursive ?? false,
      ...(b.expect ? { expect: b.expect } : {}),
    });
    if (revs.length) await changed(ns);
    const last = revs[revs.length - 1];
    if (!b.expect) return { rev: last!.rev, deleted: revs };
    // With `expect`, what was not expected stays (and the folders above it): the caller gets the
    // live subtree left, folders before what they hold, to put back.
    const root = await meta.getNode(ns, nodeRef(b));
    const kept: Revision[] = [];
    if (root && !root.deleted) {
      for (const queue = [root]; queue.length;) {
        const dir = queue.shift()!;
        kept.push(dir);
        if (dir.kind === 'dir') queue.push(...(await meta.listChildren(ns, dir.id)));
      }
    }
    return { rev: last?.rev ?? root!.rev, deleted: revs, kept };
  });

  app.get<{ Querystring: NodeQuery }>('/v1/node', { schema: { querystring: NodeQuery } }, async (request) => {
    const q = request.query;
    const ns = await namespace(request, q.ns, 'read');
    const node = await meta.getNode(ns, queryRef(q));
    if (!node) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
    return node;
  });

  app.get<{ Querystring: NodeQuery }>('/v1/list', { schema: { querystring: NodeQuery } }, async (request) => {
    const q = request.query;
    const ns = await namespace(request, q.ns, 'read');
    const dir = await meta.getNode(ns, queryRef(q));
    if (!dir || dir.deleted) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
    return { entries: await meta.listChildren(ns, dir.id) };
  });

  app.get<{ Querystring: NodeQuery }>(
    '/v1/revisions',
    { schema: { querystring: NodeQuery } },
    async (request) => {
      const q = request.query;
      const ns = await namespace(request, q.ns, 'read');
      const node = await meta.getNode(ns, queryRef(q));
      if (!node) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
      return { revisions: await meta.listRevisions(ns, node.id) };
    },
  );

  // The whole live tree, paged by node id (`loft check` compares a drive's mirror with it).
  app.get<{ Querystring: TreeQuery }>('/v1/tree', { schema: { querystring: TreeQuery } }, async (request) => {
    const q = request.query;
    const ns = await namespace(request, q.ns, 'read');
    let limit = DEFAULT_TREE_LIMIT;
    if (q.limit !== undefined) {
      limit = Number(q.limit);
      if (limit < 1 || limit > MAX_TREE_LIMIT)
        throw new LoftError('BAD_REQUEST', `limit must be 1..${MAX_TREE_LIMIT}`);
    }
    const after = q.after === undefined ? 0 : Number(q.after);
    return meta.listTree(ns, after, limit, MAX_TREE_PAGE_BLOCKS);
  });

  // ---- history ----------------------------------------------------------------------------------------

  app.post<{ Body: RestoreBody }>('/v1/restore', { schema: { body: RestoreBody } }, async (request) => {
    const b = request.body;
    const ns = await namespace(request, b.ns, 'write');
    const revs = await meta.restore(actor(request), {
      ns,
      node: nodeRef(b),
      rev: b.rev,
      toPath: b.toPath,
      parentRev: b.parentRev,
    });
    await changed(ns);
    const node = revs[revs.length - 1]!;
    // A folder's answer names the folder; `rev` is the newest of what came back with it.
    return { rev: Math.max(...revs.map((r) => r.rev)), node, created: revs.slice(0, -1) };
  });

  app.get<{ Querystring: DeletedQuery }>(
    '/v1/deleted',
    { schema: { querystring: DeletedQuery } },
    async (request) => {
      const q = request.query;
      const ns = await namespace(request, q.ns, 'read');
      let limit = DEFAULT_DELETED_LIMIT;
      if (q.limit !== undefined) {
        limit = Number(q.limit);
        if (limit < 1 || limit > MAX_DELETED_LIMIT)
          throw new LoftError('BAD_REQUEST', `limit must be 1..${MAX_DELETED_LIMIT}`);
      }
      const dir = await meta.getNode(ns, queryRef(q));
      if (!dir || dir.deleted) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
      return meta.listDeleted(ns, dir.id, limit);
    },
  );

  // ---- journal ----------------------------------------------------------------------------------------

  async function changesPage(ns: number, after: number, limit: number): Promise<ChangesPage> {
    const read = await meta.readJournal(ns, after, limit);
    return { entries: read.entries, cursor: encodeCursor(ns, read.last), hasMore: read.last < read.head };
  }

  function parseLimit(limit: string | undefined): number {
    if (limit === undefined) return DEFAULT_CHANGES_LIMIT;
    const n = Number(limit);
    if (n < 1 || n > MAX_CHANGES_LIMIT)
      throw new LoftError('BAD_REQUEST', `limit must be 1..${MAX_CHANGES_LIMIT}`);
    return n;
  }

  app.get<{ Querystring: ChangesQuery }>(
    '/v1/changes',
    { schema: { querystring: ChangesQuery } },
    async (request) => {
      const q = request.query;
      const ns = await namespace(request, q.ns, 'read');
      const limit = parseLimit(q.limit);
      const after = decodeCursor(q.cursor, ns, await meta.headSeq(ns));
      return changesPage(ns, after, limit);
    },
  );

  app.get<{ Querystring: WaitQuery }>(
    '/v1/changes/wait',
    { schema: { querystring: WaitQuery } },
    async (request) => {
      const q = request.query;
      const ns = await namespace(request, q.ns, 'read');
      const limit = parseLimit(q.limit);
      const timeoutS = q.timeout === undefined ? DEFAULT_WAIT_S : Number(q.timeout);
      if (timeoutS > MAX_WAIT_S)
        throw new LoftError('BAD_REQUEST', `timeout must be at most ${MAX_WAIT_S} seconds`);
      const after = decodeCursor(q.cursor, ns, await meta.headSeq(ns));
      const gone = new AbortController();
      const onClose = () => gone.abort();
      request.raw.once('close', onClose);
      try {
        await hub.wait(ns, after, async () => (await meta.headSeq(ns)) > after, {
          timeoutMs: timeoutS * 1000,
          signal: gone.signal,
        });
      } finally {
        request.raw.off('close', onClose);
      }
      return changesPage(ns, after, limit);
    },
  );

  // preClose, not onClose: in-flight long-polls must be released before fastify waits for them.
  app.addHook('preClose', async () => hub.close());
  await app.ready();
  return app;
}

function isOctetStream(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/octet-stream';
}

/** Error messages are one line: control characters (a newline in a hostile path) are escaped. */
export function oneLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function nodeRef(b: { path?: string | undefined; id?: number | undefined }): NodeRef {
  if ((b.path === undefined) === (b.id === undefined))
    throw new LoftError('BAD_REQUEST', 'give exactly one of "path" and "id"');
  return b.path !== undefined ? { path: b.path } : { id: b.id! };
}

/** Where a new node goes: `path`, or `name` inside the folder `parentId` (follows its moves). */
function place(
  b: {
    path?: string | undefined;
    id?: number | undefined;
    parentId?: number | undefined;
    name?: string | undefined;
  },
  fields = '"path" and "parentId" with "name"',
): Place {
  const byParent = b.parentId !== undefined && b.name !== undefined;
  const half = (b.parentId === undefined) !== (b.name === undefined);
  if (b.id !== undefined || half || byParent === (b.path !== undefined))
    throw new LoftError('BAD_REQUEST', `give exactly one of ${fields}`);
  return byParent ? { parentId: b.parentId!, name: b.name! } : { path: b.path! };
}

function toPlace(b: {
  toPath?: string | undefined;
  toParentId?: number | undefined;
  toName?: string | undefined;
}): { toPath: string } | { toParentId: number; toName: string } {
  const p = place(
    { path: b.toPath, parentId: b.toParentId, name: b.toName },
    '"toPath" and "toParentId" with "toName"',
  );
  return 'path' in p ? { toPath: p.path } : { toParentId: p.parentId, toName: p.name };
}

function queryRef(q: NodeQuery): NodeRef {
  return nodeRef({ path: q.path, id: q.id === undefined ? undefined : Number(q.id) });
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
  validation?: unknown;
}

function sendError(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  err: unknown,
): FastifyReply {
  if (err instanceof LoftError) {
    if (err.status >= 500) app.log.error({ err, url: request.url }, 'request failed');
    if (err.code === 'UNAUTHORIZED') reply.header('www-authenticate', 'Bearer');
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
  app.log.error({ err, url: request.url }, 'request failed');
  return reply
    .code(500)
    .send({ error: { code: 'INTERNAL', message: 'internal error (logged on the server)' } });
}

/**
 * The one byte range [start, end) a `Range: bytes=A-B` or `bytes=A-` header asks for (end may lie
 * past the block), or null to send the whole block: no header, a malformed one, a suffix range or
 * several ranges, which RFC 9110 lets a server ignore.
 */
export function parseRange(header: string | undefined): { start: number; end: number } | null {
  const m = header ? /^bytes=(\d+)-(\d*)$/.exec(header.trim()) : null;
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]) + 1;
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && end > start ? { start, end } : null;
}
