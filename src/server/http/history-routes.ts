/**
 * History routes: restore a revision (a new revision with old content, or a copy elsewhere) and
 * list what was deleted below a folder.
 */
import type { FastifyInstance } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import { nodeRef } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { locate, project, sameNs } from './user-view.js';
import { DeletedQuery, RestoreBody } from './schemas.js';

const DEFAULT_DELETED_LIMIT = 1000;
const MAX_DELETED_LIMIT = 10_000;

export function registerHistoryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, actor, changed } = ctx;
  app.post<{ Body: RestoreBody }>('/v1/restore', { schema: { body: RestoreBody } }, async (request) => {
    const { ns, b, view } = await locate(ctx, request, request.body, 'write');
    const toPath =
      b.toPath !== undefined && request.body.ns === undefined
        ? await sameNs(ctx, view, ns, { path: b.toPath })
        : b.toPath;
    const revs = await meta.restore(actor(request), {
      ns,
      node: nodeRef(b),
      rev: b.rev,
      toPath,
      parentRev: b.parentRev,
    });
    await changed(ns);
    const node = project(view, revs[revs.length - 1]!);
    // A folder's answer names the folder; `rev` is the newest of what came back with it.
    return { rev: Math.max(...revs.map((r) => r.rev)), node, created: revs.slice(0, -1) };
  });

  app.get<{ Querystring: DeletedQuery }>(
    '/v1/deleted',
    { schema: { querystring: DeletedQuery } },
    async (request) => {
      const { ns, b: q } = await locate(
        ctx,
        request,
        { ...request.query, id: request.query.id === undefined ? undefined : Number(request.query.id) },
        'read',
      );
      let limit = DEFAULT_DELETED_LIMIT;
      if (q.limit !== undefined) {
        limit = Number(q.limit);
        if (limit < 1 || limit > MAX_DELETED_LIMIT)
          throw new LoftError('BAD_REQUEST', `limit must be 1..${MAX_DELETED_LIMIT}`);
      }
      const dir = await meta.getNode(ns, nodeRef(q));
      if (!dir || dir.deleted) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
      return meta.listDeleted(ns, dir.id, limit);
    },
  );
}
