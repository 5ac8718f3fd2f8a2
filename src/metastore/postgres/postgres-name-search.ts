/**
 * Name search on PostgreSQL (issue 16), every query length: "names containing q, ORDER BY id
 * LIMIT n" left to the planner walked the primary key in id order, testing every node, whenever
 * the query was rare (measured: ~900 ms over a million names for " qj", "wz" or "q", where the
 * index knew of 0-20 names). So, as on SQLite (sqlite-meta-tx.ts):
 *
 * 1. A probe over the oldest SHORT_PROBE_NODES live nodes of each of the user's namespaces
 *    (nodes_ns_live, stops at the limit): a common query fills its limit there in a few
 *    milliseconds.
 * 2. Otherwise the query is rare (under limit/SHORT_PROBE_NODES of those names), and an index
 *    gives its candidates, MATERIALIZED so the planner cannot turn back to the id walk: for 3
 *    characters or more the pg_trgm index nodes_name_trgm (ILIKE); for 1-2 characters, which
 *    pg_trgm cannot index, nodes_short_grams on loft_short_grams(name) (schema.ts: the distinct
 *    lower-cased 1- and 2-character substrings of each live name), ILIKE confirming each.
 *    Without pg_trgm the 3+ character candidates come from a scan, as before.
 */
import type { QueryResult } from 'pg';
import type { NodeRow } from '../engine/meta-tx.js';
import type { Step } from '../engine/step.js';
import { prepared, type Queryable } from './postgres-tx-base.js';

/**
 * Live nodes per namespace the probe looks at (as SQLite's SHORT_PROBE_NODES). A constant in the
 * SQL text, not a parameter: with `LIMIT $n` a generic plan does not know the limit is small.
 */
const SHORT_PROBE_NODES = 20_000;

export function* nameSearch(
  db: Queryable,
  userId: number,
  query: string,
  like: string,
  limit: number,
): Step<NodeRow[]> {
  const probe = (yield db.query<NodeRow>(
    prepared(
      `SELECT n.* FROM ns_members m
         CROSS JOIN LATERAL (SELECT * FROM nodes WHERE ns_id = m.ns_id AND deleted = 0
                              ORDER BY id LIMIT ${SHORT_PROBE_NODES}) n
        WHERE m.user_id = $1 AND n.name ILIKE $2 AND n.parent_id IS NOT NULL
        ORDER BY n.id LIMIT $3`,
      [userId, like, limit],
    ),
  )) as QueryResult<NodeRow>;
  if (probe.rows.length >= limit) return probe.rows;
  const short = [...query].length < 3;
  // Unnamed, so planned for its values each time: a named statement's generic plan (after five
  // runs) knows neither the pattern (pg_trgm needs it to use its index) nor the gram, and scanned
  // every node (~600 ms over 300,000 names, the query measured at 1.5 ms with its values).
  const found = (yield db.query<NodeRow>({
    text: `WITH holding AS MATERIALIZED (
         SELECT id FROM nodes
          WHERE ${short ? 'loft_short_grams(name) @> ARRAY[lower($4::text)]' : 'name ILIKE $2'} AND deleted = 0
            AND ns_id IN (SELECT ns_id FROM ns_members WHERE user_id = $1))
       SELECT n.* FROM holding h
         JOIN nodes n ON n.id = h.id
        WHERE n.name ILIKE $2 AND n.deleted = 0 AND n.parent_id IS NOT NULL
        ORDER BY n.id LIMIT $3`,
    values: short ? [userId, like, limit, query] : [userId, like, limit],
  })) as QueryResult<NodeRow>;
  return found.rows;
}
