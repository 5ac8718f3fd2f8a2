/**
 * Statements of name search below a trigram (1-2 characters; engine/search.ts, issue 16). The
 * trigram index (nodes_fts) cannot take such a query itself, so the trigrams that contain it are
 * looked up in `name_trigrams` and nodes_fts is asked for names holding any of them; names too
 * short to hold a trigram come from their own partial index. See sqlite-meta-tx.ts searchNames.
 */
import type Database from 'better-sqlite3';

export function prepareSearchStatements(db: Database.Database) {
  return {
    // A scan of the trigram vocabulary (distinct trigrams of all names: thousands to a few
    // hundred thousand short rows, not one per node); LIMIT ends it once the query is known common.
    nameTrigrams: db.prepare("SELECT tri FROM name_trigrams WHERE tri LIKE ? ESCAPE '\\' LIMIT ?"),
    // Live names of 1-2 characters in the caller's namespaces (nodes_short_names).
    searchShortNames: db.prepare(
      `SELECT n.* FROM ns_members m
         JOIN nodes n INDEXED BY nodes_short_names ON n.ns_id = m.ns_id AND length(n.name) < 3 AND n.deleted = 0
        WHERE m.user_id = ? AND n.name LIKE ? ESCAPE '\\' AND n.parent_id IS NOT NULL
        LIMIT ?`,
    ),
  };
}
