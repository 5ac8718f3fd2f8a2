/**
 * Statements of the web page's reads (issue 16): a folder's light listing, and name search below
 * a trigram (1-2 characters; engine/search.ts). The trigram index (nodes_fts) cannot take such a query itself, so the trigrams that contain it are
 * looked up in `name_trigrams` and nodes_fts is asked for names holding any of them; names too
 * short to hold a trigram come from their own partial index. See sqlite-meta-tx.ts searchNames.
 */
import type { Preparer } from '../../shared/lazy-statements.js';

export function prepareWebStatements(db: Preparer) {
  return {
    // A folder's listing for the web page (engine/tree-reads.ts listChildEntries): only the fields
    // it shows, no device join, no ORDER BY (the page sorts by its own rules).
    childEntries: db.prepare(
      `SELECT n.id, n.name, n.kind, r.size, r.mtime, n.rev FROM nodes n
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
        WHERE n.parent_id = ? AND n.deleted = 0`,
    ),
    // A scan of the trigram vocabulary (distinct trigrams of all names: thousands to a few
    // hundred thousand short rows, not one per node); LIMIT ends it once the query is known common.
    nameTrigrams: db.prepare("SELECT tri FROM name_trigrams WHERE tri LIKE ? ESCAPE '\\' LIMIT CAST(? AS INTEGER)"),
    // A common 1-2 character query is answered by the first nodes: a scan of the oldest
    // SHORT_PROBE_NODES (a few milliseconds) that stops at the limit; when it finds fewer, the
    // trigram path below answers instead.
    searchNamesProbe: db.prepare(
      `SELECT n.* FROM (SELECT * FROM nodes ORDER BY id LIMIT CAST(? AS INTEGER)) n
         CROSS JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = ?
        WHERE n.name LIKE ? ESCAPE '\\' AND n.deleted = 0 AND n.parent_id IS NOT NULL
        LIMIT CAST(? AS INTEGER)`,
    ),
    // Live names of 1-2 characters in the caller's namespaces (nodes_short_names).
    searchShortNames: db.prepare(
      `SELECT n.* FROM ns_members m
         JOIN nodes n INDEXED BY nodes_short_names ON n.ns_id = m.ns_id AND length(n.name) < 3 AND n.deleted = 0
        WHERE m.user_id = ? AND n.name LIKE ? ESCAPE '\\' AND n.parent_id IS NOT NULL
        LIMIT CAST(? AS INTEGER)`,
    ),
  };
}
