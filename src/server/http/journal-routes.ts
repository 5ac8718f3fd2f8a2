/**
 * Journal routes: a namespace's changes after a cursor, and the long-poll that answers as soon as
 * anything newer exists (the JournalHub wakes it).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LoftError } from '../../shared/errors.js';
import { MAX_CHANGES_LIMIT, type ChangesPage } from '../../shared/protocol.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type { RouteContext } from './route-context.js';
import { ChangesQuery, WaitQuery } from './schemas.js';
import { freshView, viewOf } from './user-view.js';
import { viewChanges, waitViewChanges } from './view-journal.js';

const DEFAULT_CHANGES_LIMIT = 1000;
const DEFAULT_WAIT_S = 30;
/** Long-polls are capped below common proxy idle timeouts. */
export const MAX_WAIT_S = 300;

export function registerJournalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { meta, hub, namespace, clock } = ctx;
  /** The caller's view when the request follows it (no `ns`) and it holds shared folders. */
  const viewFor = async (
    request: FastifyRequest,
    q: { ns?: string | undefined; cursor?: string | undefined },
  ) => {
    if (q.ns !== undefined) return null;
    const view = await viewOf(meta, request);
    return view.mounts.length || q.cursor?.startsWith('v') ? view : null;
  };
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
      const limit = parseLimit(q.limit);
      const view = await viewFor(request, q);
      if (view) return viewChanges(meta, view, q.cursor, limit, clock.now());
      const ns = await namespace(request, q.ns, 'read');
      const after = decodeCursor(q.cursor, ns, await meta.headSeq(ns));
      return changesPage(ns, after, limit);
    },
  );

  app.get<{ Querystring: WaitQuery }>(
    '/v1/changes/wait',
    { schema: { querystring: WaitQuery } },
    async (request) => {
      const q = request.query;
      const limit = parseLimit(q.limit);
      const timeoutS = q.timeout === undefined ? DEFAULT_WAIT_S : Number(q.timeout);
      if (timeoutS > MAX_WAIT_S)
        throw new LoftError('BAD_REQUEST', `timeout must be at most ${MAX_WAIT_S} seconds`);
      const view = await viewFor(request, q);
      if (view) {
        return waitViewChanges(meta, hub, request, view, q.cursor, limit, timeoutS * 1000, () => clock.now());
      }
      const ns = await namespace(request, q.ns, 'read');
      const after = decodeCursor(q.cursor, ns, await meta.headSeq(ns));
      const gone = new AbortController();
      const onClose = () => gone.abort();
      request.raw.once('close', onClose);
      try {
        // Newer: the head moved, or (this user's tree) a first shared folder arrived meanwhile.
        const newer = async () =>
          (await meta.headSeq(ns)) > after ||
          (q.ns === undefined && (await freshView(meta, request)).mounts.length > 0);
        await hub.wait(ns, after, newer, {
          timeoutMs: timeoutS * 1000,
          signal: gone.signal,
        });
      } finally {
        request.raw.off('close', onClose);
      }
      const page = await changesPage(ns, after, limit);
      // Woken with nothing new in the home: maybe the user's first shared folder arrived
      // (share-routes.ts woke this poll). Then the answer is the view's, with the folder's
      // snapshot (a plain cursor is accepted there). A timeout pays this one read too.
      if (q.ns === undefined && page.entries.length === 0) {
        const now = await freshView(meta, request);
        if (now.mounts.length) return viewChanges(meta, now, q.cursor, limit, clock.now());
      }
      return page;
    },
  );
}
