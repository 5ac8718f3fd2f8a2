/**
 * ContentIndexStore (issue 16): the metadata side of content search. The server's background
 * indexer (server/content-indexer.ts) reads a namespace's journal past its cursor, reads the
 * blocks of small text files, and hands the texts to `applyContentIndex`; searches read them back
 * with `searchContent`, in the namespaces the user is a member of only.
 */
import type { SearchHit } from './engine/search.js';

/** A namespace the index has not caught up with: its journal after `after`, up to `head`. */
export interface ContentBacklog {
  ns: number;
  after: number;
  head: number;
}

/** What the index holds of a file node: the revision last indexed, and its text's key (null: none). */
export interface ContentDocState {
  rev: number;
  key: string | null;
}

/** One node's new state in the index, as of the journal entry `rev`. */
export interface ContentDoc {
  nodeId: number;
  rev: number;
  /** Identifies the text (a hash of the file's block list); null with `text` null: not indexed. */
  key: string | null;
  text: string | null;
}

export interface ContentHit extends SearchHit {
  /** One line of text around the first match. */
  snippet: string;
}

export interface ContentSearchResult {
  hits: ContentHit[];
  /** More files matched than `limit`. */
  truncated: boolean;
  /** Some of the user's namespaces are not indexed up to their last change yet. */
  behind: boolean;
}

export interface ContentIndexStore {
  /** Up to `limit` namespaces whose journal runs past their content cursor. */
  contentBacklog(limit: number): Promise<ContentBacklog[]>;
  contentDocStates(nodeIds: readonly number[]): Promise<Map<number, ContentDocState>>;
  /** Stores the docs (never over a later revision's) and moves the cursor to `upTo`, atomically. */
  applyContentIndex(ns: number, upTo: number, docs: readonly ContentDoc[]): Promise<void>;
  searchContent(userId: number, query: string, limit: number): Promise<ContentSearchResult>;
}
