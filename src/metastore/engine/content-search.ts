/**
 * Content search (issue 16): files whose indexed text contains the query, in the namespaces the
 * user is a member of, with their paths and a one-line snippet. The engines find the files
 * (ContentTx.search: SQLite FTS5 trigram, PostgreSQL ILIKE over a pg_trgm index); this file bounds
 * the query, builds the paths, trims the snippets and ranks like name search (shorter paths first).
 *
 * The index is written only by the background indexer (server/content-indexer.ts) through
 * `applyContentIndex`: a commit never waits for it, and a search says when it is `behind`.
 */
import { LoftError } from '../../shared/errors.js';
import type {
  ContentBacklog,
  ContentDoc,
  ContentDocState,
  ContentHit,
  ContentSearchResult,
} from '../content-store.js';
import type { MetaTx } from './meta-tx.js';
import { checkSearch } from './search.js';
import type { Step } from './step.js';
import { hitsOf } from './search-hits.js';

/** Shortest content query: both indexes are of trigrams; fewer characters would scan every text. */
export const MIN_CONTENT_QUERY = 3;
/** Characters of a snippet shown before the match (the rest of the line follows). */
const SNIPPET_BEFORE = 40;
/** Longest snippet (characters). */
const SNIPPET_MAX = 160;

export function checkContentSearch(query: string, limit: number): void {
  checkSearch(query, limit);
  if ([...query.trim()].length < MIN_CONTENT_QUERY)
    throw new LoftError('BAD_REQUEST', `content search needs at least ${MIN_CONTENT_QUERY} characters`);
}

export function* contentBacklog(tx: MetaTx, limit: number): Step<ContentBacklog[]> {
  const rows = yield* tx.contentTx.backlog(limit);
  return rows.map((r) => ({ ns: Number(r.ns_id), after: Number(r.seq), head: Number(r.head_seq) }));
}

export function* docStates(tx: MetaTx, nodeIds: readonly number[]): Step<Map<number, ContentDocState>> {
  const out = new Map<number, ContentDocState>();
  if (!nodeIds.length) return out;
  for (const r of yield* tx.contentTx.docStates(nodeIds))
    out.set(Number(r.node_id), { rev: Number(r.rev), key: r.key });
  return out;
}

export function* applyContentIndex(
  tx: MetaTx,
  ns: number,
  upTo: number,
  docs: readonly ContentDoc[],
): Step<void> {
  for (const d of docs) yield* tx.contentTx.putDoc(ns, d.nodeId, d.rev, d.key, d.text);
  yield* tx.contentTx.setCursor(ns, upTo);
}

/**
 * The line of `text` around the query's first (case-insensitive) occurrence, at most SNIPPET_MAX
 * characters, whitespace runs folded to one space.
 */
export function snippetOf(text: string, query: string): string {
  const at = Math.max(0, text.toLowerCase().indexOf(query.toLowerCase()));
  const lineStart = text.lastIndexOf('\n', at) + 1;
  const start = Math.max(lineStart, at - SNIPPET_BEFORE);
  let end = text.indexOf('\n', at + query.length);
  if (end < 0) end = text.length;
  end = Math.min(end, start + SNIPPET_MAX);
  const cut = text.slice(start, end).replace(/\s+/g, ' ').trim();
  return (start > lineStart ? '…' : '') + cut + (end < text.length && text[end] !== '\n' ? '…' : '');
}

export function* searchContent(
  tx: MetaTx,
  userId: number,
  query: string,
  limit: number,
): Step<ContentSearchResult> {
  checkContentSearch(query, limit);
  const q = query.trim();
  const rows = yield* tx.contentTx.search(userId, q, limit + 1);
  const truncated = rows.length > limit;
  const page = rows.slice(0, limit);
  const hits: ContentHit[] = (yield* hitsOf(tx, page)).map((h, i) => ({
    ...h,
    snippet: snippetOf(page[i]!.snippet, q),
  }));
  hits.sort((a, b) => a.path.length - b.path.length || (a.path < b.path ? -1 : 1));
  return { hits, truncated, behind: yield* tx.contentTx.behind(userId) };
}
