/**
 * Statements of content search (issue 16; engine/content-search.ts, sqlite-content-tx.ts). The
 * text lives in content_fts (FTS5, trigram tokenizer, rowid = node id); content_docs says which
 * revision of each node it is from, content_cursor how far each namespace's journal was indexed.
 */
import type { Preparer } from '../../shared/lazy-statements.js';

export function prepareContentStatements(db: Preparer) {
  return {
    // Search hits' sizes and times (engine/search-hits.ts), by primary key.
    hitRevisions: db.prepare(
      'SELECT seq, size, mtime FROM revisions WHERE ns_id = ? AND seq IN (SELECT value FROM json_each(?))',
    ),
    // Namespaces (a small table: one per user and per shared folder) past their cursor.
    contentBacklog: db.prepare(
      `SELECT n.id AS ns_id, n.head_seq, coalesce(c.seq, 0) AS seq FROM namespaces n
         LEFT JOIN content_cursor c ON c.ns_id = n.id
        WHERE n.head_seq > coalesce(c.seq, 0) LIMIT CAST(? AS INTEGER)`,
    ),
    contentBehind: db.prepare(
      `SELECT 1 FROM ns_members m JOIN namespaces n ON n.id = m.ns_id
         LEFT JOIN content_cursor c ON c.ns_id = m.ns_id
        WHERE m.user_id = ? AND n.head_seq > coalesce(c.seq, 0) LIMIT 1`,
    ),
    // The node ids as one JSON array: one statement whatever their number.
    contentDocStates: db.prepare(
      'SELECT node_id, rev, key FROM content_docs WHERE node_id IN (SELECT value FROM json_each(?))',
    ),
    contentDocState: db.prepare('SELECT node_id, rev, key FROM content_docs WHERE node_id = ?'),
    contentUpsertDoc: db.prepare(
      `INSERT INTO content_docs (node_id, ns_id, rev, key) VALUES (?, ?, ?, ?)
       ON CONFLICT (node_id) DO UPDATE SET ns_id = excluded.ns_id, rev = excluded.rev, key = excluded.key`,
    ),
    contentFtsInsert: db.prepare('INSERT INTO content_fts (rowid, body) VALUES (?, ?)'),
    contentFtsDelete: db.prepare('DELETE FROM content_fts WHERE rowid = ?'),
    contentSetCursor: db.prepare(
      `INSERT INTO content_cursor (ns_id, seq) VALUES (?, ?)
       ON CONFLICT (ns_id) DO UPDATE SET seq = max(seq, excluded.seq)`,
    ),
    // The text around the first match (ASCII case folding, as the engine's snippetOf then trims it
    // to its line); computed only for the rows returned.
    contentSearch: db.prepare(
      `SELECT n.*, substr(f.body, max(1, instr(lower(f.body), lower(?)) - 100), 400) AS snippet
         FROM content_fts f
         CROSS JOIN nodes n ON n.id = f.rowid
         JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = ?
        WHERE content_fts MATCH ? AND n.deleted = 0 AND n.kind = 'file'
        LIMIT CAST(? AS INTEGER)`,
    ),
  };
}
