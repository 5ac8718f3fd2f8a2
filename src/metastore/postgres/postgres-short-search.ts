/**
 * Name search for 1-2 characters on PostgreSQL (issue 16): pg_trgm cannot index a query shorter
 * than a trigram (it would read its whole index), so such a query would scan every node. Instead:
 *
 * 1. A probe over the oldest SHORT_PROBE_NODES nodes (primary key order, stops at the limit): a
 *    common query ("e") fills its limit there in a few milliseconds.
 * 2. Otherwise the GIN index nodes_short_grams on loft_short_grams(name) (schema.ts: the distinct
 *    lower-cased 1- and 2-character substrings of each live name) gives exactly the names holding
 *    the query's lower-cased text; ILIKE then confirms each (and the case rules match name
 *    search's). A rare query reads a short posting list.
 *
 * The same plan as SQLite's name_trigrams (sqlite-meta-tx.ts), in PostgreSQL's terms.
 */
import type { QueryResult } from 'pg';
import type { NodeRow } from '../engine/meta-tx.js';
import type { Step } from '../engine/step.js';
import { prepared, type Queryable } from './postgres-meta-tx.js';

/** Nodes the probe looks at first (as SQLite's SHORT_PROBE_NODES: a few milliseconds' worth). */
const SHORT_PROBE_NODES = 20_000;

export function* shortNameSearch(
  db: Queryable,
  userId: number,
  query: string,
  like: string,
  limit: number,
): Step<NodeRow[]> {
  const probe = (yield db.query<NodeRow>(
    prepared(
      `SELECT n.* FROM (SELECT * FROM nodes ORDER BY id LIMIT $4) n
         JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = $1
        WHERE n.name ILIKE $2 AND n.deleted = 0 AND n.parent_id IS NOT NULL
        ORDER BY n.id LIMIT $3`,
      [userId, like, limit, SHORT_PROBE_NODES],
    ),
  )) as QueryResult<NodeRow>;
  if (probe.rows.length >= limit) return probe.rows;
  const found = (yield db.query<NodeRow>(
    prepared(
      `SELECT n.* FROM nodes n
         JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = $1
        WHERE loft_short_grams(n.name) @> ARRAY[lower($2::text)] AND n.name ILIKE $3
          AND n.deleted = 0 AND n.parent_id IS NOT NULL
        ORDER BY n.id LIMIT $4`,
      [userId, query, like, limit],
    ),
  )) as QueryResult<NodeRow>;
  return found.rows;
}
