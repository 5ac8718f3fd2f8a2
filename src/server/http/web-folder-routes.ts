/**
 * Folders for the web page (issue 16):
 *
 *   GET /v1/web/list?path=P   a folder's children without their block lists: what the page shows
 *                             (GET /v1/list, the drive's, sends every file's blocks; for a folder
 *                             of 10,000 files that is most of the bytes and of the time)
 *   GET /v1/web/zip?path=P    the folder and everything below it as one zip stream (the code that
 *                             serves a share link's zip, folder-zip.ts)
 *
 * Both read, so both take the session cookie without a CSRF token (SameSite=Strict keeps other
 * sites' pages from sending it); a namespace the caller cannot read is FORBIDDEN, as everywhere.
 * Paths and ids are in the caller's tree (user-view.ts): a shared folder lists where the caller
 * mounts it, with `shared: {role, owner}` on its entry (the page marks it and shows a viewer's
 * folders read-only).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ChildEntry } from '../../metastore/metadata-store.js';
import { LoftError } from '../../shared/errors.js';
import { sendFolderZip } from './folder-zip.js';
import { nodeRef } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { NodeQuery } from './schemas.js';
import { roleName } from './share-routes.js';
import { locate } from './user-view.js';

/** The listing's shape, also its serializer (fast-json-stringify: a 10,000-entry folder in a few ms). */
const ListReply = Type.Object({
  entries: Type.Array(
    Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      kind: Type.String(),
      size: Type.Integer(),
      mtime: Type.Integer(),
      rev: Type.Integer(),
      /** Set on a shared folder's entry: the caller's role in it and its owner. */
      shared: Type.Optional(Type.Object({ role: Type.String(), owner: Type.String() })),
    }),
  ),
});

export function registerWebFolderRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta } = ctx;

  async function folder(request: Parameters<RouteContext['namespace']>[0], query: NodeQuery) {
    const id = query.id === undefined ? undefined : Number(query.id);
    const { ns, b: q, view } = await locate(ctx, request, { ...query, id }, 'read');
    const dir = await meta.getNode(ns, nodeRef(q));
    if (!dir || dir.deleted)
      throw new LoftError('NOT_FOUND', `${query.path ?? `node ${q.id}`} does not exist`);
    if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a folder`);
    return { ns, dir, view };
  }

  app.get<{ Querystring: NodeQuery }>(
    '/v1/web/list',
    { schema: { querystring: NodeQuery, response: { 200: ListReply } } },
    async (request, reply) => {
      const { ns, dir, view } = await folder(request, request.query);
      void reply.header('cache-control', 'no-store');
      const entries = await meta.listChildEntries(ns, dir.id);
      const out: (ChildEntry & { shared?: { role: string; owner: string } })[] = entries;
      // The shared folders this user mounts in that folder show there too (as in GET /v1/list).
      for (const m of view.mounts) {
        if (m.parentId !== dir.id || ns !== view.home) continue;
        const root = await meta.getNode(m.ns, { id: m.rootId });
        if (!root || root.deleted) continue;
        const shared = { role: roleName(m.role), owner: m.owner };
        out.push({
          id: root.id,
          name: m.name,
          kind: 'dir',
          size: 0,
          mtime: root.mtime,
          rev: root.rev,
          shared,
        });
      }
      return { entries: out };
    },
  );

  app.get<{ Querystring: NodeQuery }>(
    '/v1/web/zip',
    { schema: { querystring: NodeQuery } },
    async (request, reply) => {
      const { ns, dir } = await folder(request, request.query);
      void reply.header('cache-control', 'private, no-store').header('x-content-type-options', 'nosniff');
      return sendFolderZip(reply, meta, ctx.blocks, ns, dir);
    },
  );
}
