/**
 * The engine primitives of content search (issue 16): the index of the text of small text files
 * (engine/content-search.ts), kept by the server's background indexer (server/content-indexer.ts).
 * Each engine implements them in its own file (sqlite/sqlite-content-tx.ts,
 * postgres/postgres-content-tx.ts); a MetaTx carries them as `contentTx`.
 */
import type { NodeRow } from './meta-tx.js';
import type { Step } from './step.js';

/** A namespace whose journal runs past what the content index has seen. */
export interface BacklogRow {
  ns_id: number;
  head_seq: number;
  /** The journal sequence number indexed up to (0: none yet). */
  seq: number;
}

/** What the index holds of a file node: the revision last indexed, and its text's key (null: none). */
export interface DocStateRow {
  node_id: number;
  rev: number;
  key: string | null;
}

export interface ContentRow extends NodeRow {
  /** Text around the first match (cut by the engine; the caller trims it to a line). */
  snippet: string;
}

/** Size and time of a revision, for a search hit. */
export interface HitRevisionRow {
  seq: number;
  size: number;
  mtime: number;
}

export interface ContentTx {
  /** Size and time of several revisions of a namespace at once (search hits: one query, not one each). */
  hitRevisions(ns: number, seqs: readonly number[]): Step<HitRevisionRow[]>;
  /** Up to `limit` namespaces whose head is past their content cursor, oldest cursor first. */
  backlog(limit: number): Step<BacklogRow[]>;
  /** Whether any namespace the user is a member of is not fully indexed yet. */
  behind(userId: number): Step<boolean>;
  docStates(nodeIds: readonly number[]): Step<DocStateRow[]>;
  /**
   * Sets what the index holds of a node as of revision `rev`: `text` under `key`, or nothing
   * (key and text null). Never replaces a state of a later revision (a slower indexer's).
   */
  putDoc(ns: number, nodeId: number, rev: number, key: string | null, text: string | null): Step<void>;
  /** Moves the namespace's cursor forward to `seq` (never back). */
  setCursor(ns: number, seq: number): Step<void>;
  /**
   * Up to `limit` live file nodes, in namespaces the user is a member of, whose indexed text
   * contains `query` (case-insensitively for ASCII; at least 3 characters), by id, with a snippet.
   */
  search(userId: number, query: string, limit: number): Step<ContentRow[]>;
}
