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
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import { sendFolderZip } from './folder-zip.js';
import { queryRef } from './request-fields.js';
import type { RouteContext } from './route-context.js';
import { NodeQuery } from './schemas.js';

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
    }),
  ),
});

export function registerWebFolderRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, namespace } = ctx;

  async function folder(request: Parameters<RouteContext['namespace']>[0], q: NodeQuery) {
    const ns = await namespace(request, q.ns, 'read');
    const dir = await meta.getNode(ns, queryRef(q));
    if (!dir || dir.deleted) throw new LoftError('NOT_FOUND', `${q.path ?? `node ${q.id}`} does not exist`);
    if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a folder`);
    return { ns, dir };
  }

  app.get<{ Querystring: NodeQuery }>(
    '/v1/web/list',
    { schema: { querystring: NodeQuery, response: { 200: ListReply } } },
    async (request, reply) => {
      const { ns, dir } = await folder(request, request.query);
      void reply.header('cache-control', 'no-store');
      return { entries: await meta.listChildEntries(ns, dir.id) };
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
