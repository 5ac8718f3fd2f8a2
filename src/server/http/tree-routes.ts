/**
 * Tree routes: commit a file, make a folder, move, delete (each one transaction and one wake-up of
 * the namespace's long-polls), and the reads of nodes, folders, histories and the whole tree.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import { MAX_TREE_LIMIT, MAX_TREE_PAGE_BLOCKS, type Revision } from '../../shared/protocol.js';
import { durableBlocks } from './block-routes.js';
import { nodeRef, place, toPlace } from './request-fields.js';
import { growthOf } from './quota.js';
import type { RouteContext } from './route-context.js';
import { mountMoved } from './mount-move.js';
import { locate, project, sameNs } from './user-view.js';
import { CommitBody, DeleteBody, MkdirBody, MoveBody, NodeQuery, TreeQuery } from './schemas.js';

const DEFAULT_TREE_LIMIT = 1000;

export function registerTreeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, clock, namespace, actor, changed } = ctx;

  /** The node a read query names, in the user's view; NOT_FOUND when absent (or deleted: `live`). */
  async function nodeAt(request: FastifyRequest, query: NodeQuery, live = false) {
    const { ns, b: q, view } = await locate(ctx, request, { ...query, id: idOf(query) }, 'read');
    const node = await meta.getNode(ns, nodeRef(q));
    if (!node || (live && node.deleted))
      throw new LoftError('NOT_FOUND', `${query.path ?? `node ${q.id}`} does not exist`);
    return { ns, view, node };
  }
  app.post<{ Body: CommitBody }>('/v1/commit', { schema: { body: CommitBody } }, async (request) => {
    const { ns, b, view } = await locate(ctx, request, request.body, 'write');
    const node = b.parentId !== undefined || b.name !== undefined ? place(b) : nodeRef(b);
    await ctx.quota.admit(ns, await growthOf(meta, ns, node, b.size));
    await durableBlocks(
      ctx,
      request.principal.userId,
      b.blocks.map((x) => x.hash),
    );
    const rev = await meta.commitFile(actor(request), {
      ns,
      node,
      parentRev: b.parentRev,
      blocks: b.blocks,
      size: b.size,
      mtime: b.mtime,
      mode: b.mode ?? 0o644,
    });
    await changed(ns);
    return { rev: rev.rev, node: project(view, rev) };
  });

  app.post<{ Body: MkdirBody }>('/v1/mkdir', { schema: { body: MkdirBody } }, async (request) => {
    const { ns, b, view } = await locate(ctx, request, request.body, 'write');
    const rev = await meta.mkdir(actor(request), {
      ns,
      ...place(b),
      mtime: b.mtime ?? clock.now(),
      mode: b.mode ?? 0o755,
      parents: b.parents ?? false,
    });
    await changed(ns);
    return { rev: rev.rev, node: project(view, rev) };
  });

  app.post<{ Body: MoveBody }>('/v1/move', { schema: { body: MoveBody } }, async (request) => {
    // A shared folder's root moves in the caller's tree only (their mount record): any role.
    const mount = request.body.ns === undefined ? await mountMoved(ctx, request, request.body) : null;
    if (mount) return mount;
    const { ns, b, view } = await locate(ctx, request, request.body, 'write');
    const toPath =
      request.body.ns === undefined
        ? await sameNs(ctx, view, ns, { path: b.toPath, parentId: b.toParentId })
        : b.toPath;
    const rev = await meta.move(actor(request), {
      ns,
      node: nodeRef(b),
      parentRev: b.parentRev,
      ...toPlace({ ...b, toPath }),
      overwrite: b.overwrite ?? false,
      targetRev: b.targetRev,
    });
    await changed(ns);
    return { rev: rev.rev, node: project(view, rev) };
  });

  app.post<{ Body: DeleteBody }>('/v1/delete', { schema: { body: DeleteBody } }, async (request) => {
    const { ns, b } = await locate(ctx, request, request.body, 'write');
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
    const { view, node } = await nodeAt(request, request.query);
    return project(view, node);
  });

  app.get<{ Querystring: NodeQuery }>('/v1/list', { schema: { querystring: NodeQuery } }, async (request) => {
    const { ns, view, node: dir } = await nodeAt(request, request.query, true);
    const entries = await meta.listChildren(ns, dir.id);
    // The shared folders this user mounts in that folder show there too.
    for (const m of view.mounts) {
      if (m.parentId !== dir.id || ns !== view.home) continue;
      const root = await meta.getNode(m.ns, { id: m.rootId });
      if (root) entries.push(project(view, root));
    }
    return { entries };
  });

  app.get<{ Querystring: NodeQuery }>(
    '/v1/revisions',
    { schema: { querystring: NodeQuery } },
    async (request) => {
      const { ns, view, node } = await nodeAt(request, request.query);
      return { revisions: (await meta.listRevisions(ns, node.id)).map((r) => project(view, r)) };
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
}

/** A query's node id as a number (queries carry strings). */
function idOf(q: NodeQuery): number | undefined {
  return q.id === undefined ? undefined : Number(q.id);
}
