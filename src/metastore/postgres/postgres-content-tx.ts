/**
 * ContentTx on PostgreSQL (engine/content-tx.ts): the text in content_docs.body, searched with
 * ILIKE over its pg_trgm GIN index (content_docs_trgm, where the extension exists; a scan
 * otherwise). The guard against an older revision replacing a newer one is in the upsert itself,
 * so two servers indexing the same namespace at once cannot undo each other.
 */
import type { QueryResult, QueryResultRow } from 'pg';
import type { BacklogRow, ContentRow, ContentTx, DocStateRow, HitRevisionRow } from '../engine/content-tx.js';
import type { Step } from '../engine/step.js';
import { prepared, type Queryable } from './postgres-tx-base.js';

/** `%query%` for LIKE, its wildcards taken literally. */
export function containsPattern(query: string): string {
  return `%${query.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

export class PostgresContentTx implements ContentTx {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  *#rows<R extends QueryResultRow>(sql: string, params: unknown[]): Step<R[]> {
    return ((yield this.#db.query<R>(prepared(sql, params))) as QueryResult<R>).rows;
  }

  *hitRevisions(ns: number, seqs: readonly number[]): Step<HitRevisionRow[]> {
    return yield* this.#rows<HitRevisionRow>(
      'SELECT seq, size, mtime FROM revisions WHERE ns_id = $1 AND seq = ANY($2::bigint[])',
      [ns, seqs],
    );
  }
  *backlog(limit: number): Step<BacklogRow[]> {
    return yield* this.#rows<BacklogRow>(
      `SELECT n.id AS ns_id, n.head_seq, coalesce(c.seq, 0) AS seq FROM namespaces n
         LEFT JOIN content_cursor c ON c.ns_id = n.id
        WHERE n.head_seq > coalesce(c.seq, 0) LIMIT $1`,
      [limit],
    );
  }
  *behind(userId: number): Step<boolean> {
    const rows = yield* this.#rows(
      `SELECT 1 FROM ns_members m JOIN namespaces n ON n.id = m.ns_id
         LEFT JOIN content_cursor c ON c.ns_id = m.ns_id
        WHERE m.user_id = $1 AND n.head_seq > coalesce(c.seq, 0) LIMIT 1`,
      [userId],
    );
    return rows.length > 0;
  }
  *docStates(nodeIds: readonly number[]): Step<DocStateRow[]> {
    return yield* this.#rows<DocStateRow>(
      'SELECT node_id, rev, key FROM content_docs WHERE node_id = ANY($1::bigint[])',
      [nodeIds],
    );
  }
  *putDoc(ns: number, nodeId: number, rev: number, key: string | null, text: string | null): Step<void> {
    // Same key: only the revision moves (the text is already there). Otherwise the new text, or
    // none. Either way never over a later revision's state.
    yield* this.#rows(
      `INSERT INTO content_docs AS d (node_id, ns_id, rev, key, body)
       VALUES ($1, $2, $3, CASE WHEN $5::text IS NULL THEN NULL ELSE $4::text END, $5::text)
       ON CONFLICT (node_id) DO UPDATE SET
         ns_id = excluded.ns_id,
         rev = excluded.rev,
         key = CASE WHEN d.key = $4::text THEN d.key ELSE excluded.key END,
         body = CASE WHEN d.key = $4::text THEN d.body ELSE excluded.body END
       WHERE d.rev <= excluded.rev`,
      [nodeId, ns, rev, key, key === null ? null : text],
    );
  }
  *setCursor(ns: number, seq: number): Step<void> {
    yield* this.#rows(
      `INSERT INTO content_cursor AS c (ns_id, seq) VALUES ($1, $2)
       ON CONFLICT (ns_id) DO UPDATE SET seq = greatest(c.seq, excluded.seq)`,
      [ns, seq],
    );
  }
  *search(userId: number, query: string, limit: number): Step<ContentRow[]> {
    // Unnamed, so planned for its pattern each time: a named statement's generic plan cannot use
    // the pg_trgm index (it needs the pattern) and read every text (postgres-name-search.ts). The
    // candidates MATERIALIZED first: for ORDER BY id LIMIT the planner walked the nodes in id
    // order testing each one's text.
    const res = (yield this.#db.query<ContentRow>({
      text: `WITH holding AS MATERIALIZED (
               SELECT node_id FROM content_docs
                WHERE body ILIKE $3 AND ns_id IN (SELECT ns_id FROM ns_members WHERE user_id = $1))
             SELECT n.*, substr(d.body, greatest(1, strpos(lower(d.body), lower($2)) - 100), 400) AS snippet
               FROM holding h
               JOIN content_docs d ON d.node_id = h.node_id
               JOIN nodes n ON n.id = d.node_id
              WHERE n.deleted = 0 AND n.kind = 'file'
              ORDER BY n.id LIMIT $4`,
      values: [userId, query, containsPattern(query), limit],
    })) as QueryResult<ContentRow>;
    return res.rows;
  }
}
