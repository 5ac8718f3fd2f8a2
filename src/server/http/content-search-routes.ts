/**
 * Content search (issue 16): `GET /v1/search/content?q=TEXT[&limit=N]`, the files whose text
 * contains TEXT (3 characters or more) in the namespaces the caller is a member of, each with a
 * one-line snippet; `behind` says the background indexer has not caught up with the caller's
 * latest changes yet (server/content-indexer.ts). Used by `loft search` and the web page.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkContentSearch } from '../../metastore/engine/content-search.js';
import type { RouteContext } from './route-context.js';

const QInt = Type.String({ pattern: '^[0-9]{1,15}$' });
const ContentQuery = Type.Object(
  { q: Type.String({ maxLength: 1024 }), limit: Type.Optional(QInt) },
  { additionalProperties: false },
);
type ContentQuery = Static<typeof ContentQuery>;

export function registerContentSearchRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: ContentQuery }>(
    '/v1/search/content',
    { schema: { querystring: ContentQuery } },
    async (request) => {
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
      checkContentSearch(request.query.q, limit);
      return ctx.meta.searchContent(request.principal.userId, request.query.q, limit);
    },
  );
}
