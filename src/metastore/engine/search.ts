/**
 * Name search (`loft search`, the web page's search box): live nodes whose name contains the
 * query, in the namespaces the user is a member of (never anyone else's), with their paths.
 *
 * The engines find the names (MetaTx.searchNames: SQLite FTS5 with the trigram tokenizer,
 * PostgreSQL `name ILIKE` over a pg_trgm index where it exists); this file bounds the
 * query, builds the paths and ranks: exact names first, then names that start with the query,
 * then the rest, shorter paths first within each.
 */
import { LoftError } from '../../shared/errors.js';
import type { NodeKind } from '../../shared/protocol.js';
import type { MetaTx } from './meta-tx.js';
import { hitsOf } from './search-hits.js';
import type { Step } from './step.js';

/** Longest query: a name is at most 255 bytes on most filesystems; more is a mistake. */
export const MAX_SEARCH_QUERY = 255;
export const MAX_SEARCH_LIMIT = 500;

export interface SearchHit {
  ns: number;
  id: number;
  path: string;
  name: string;
  kind: NodeKind;
  size: number;
  mtime: number;
  rev: number;
}

export interface SearchResult {
  hits: SearchHit[];
  /** More nodes matched than `limit`. */
  truncated: boolean;
}

export function checkSearch(query: string, limit: number): void {
  if (query.trim().length === 0) throw new LoftError('BAD_REQUEST', 'search for at least one character');
  if (query.length > MAX_SEARCH_QUERY)
    throw new LoftError('BAD_REQUEST', `search query longer than ${MAX_SEARCH_QUERY} characters`);
  if (/[\0\n\r]/.test(query)) throw new LoftError('BAD_REQUEST', 'search query holds a control character');
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT)
    throw new LoftError('BAD_REQUEST', `limit must be 1..${MAX_SEARCH_LIMIT}`);
}

export function* searchNames(tx: MetaTx, userId: number, query: string, limit: number): Step<SearchResult> {
  checkSearch(query, limit);
  const q = query.trim();
  const rows = yield* tx.searchNames(userId, q, limit + 1);
  const truncated = rows.length > limit;
  const hits = yield* hitsOf(tx, rows.slice(0, limit));
  const lq = q.toLowerCase();
  const rank = (h: SearchHit) => {
    const n = h.name.toLowerCase();
    return n === lq ? 0 : n.startsWith(lq) ? 1 : 2;
  };
  hits.sort((a, b) => rank(a) - rank(b) || a.path.length - b.path.length || (a.path < b.path ? -1 : 1));
  return { hits, truncated };
}
