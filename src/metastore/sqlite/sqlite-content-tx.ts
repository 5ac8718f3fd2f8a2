/**
 * ContentTx on better-sqlite3 (engine/content-tx.ts): synchronous statements, never yields.
 */
/* eslint-disable require-yield -- synchronous primitives are generators that never yield, by design */
import type { BacklogRow, ContentRow, ContentTx, DocStateRow, HitRevisionRow } from '../engine/content-tx.js';
import type { Step } from '../engine/step.js';
import type { SqliteStatements } from './sqlite-statements.js';

export class SqliteContentTx implements ContentTx {
  readonly #s: SqliteStatements;

  constructor(statements: SqliteStatements) {
    this.#s = statements;
  }

  *hitRevisions(ns: number, seqs: readonly number[]): Step<HitRevisionRow[]> {
    return this.#s.hitRevisions.all(ns, JSON.stringify(seqs)) as HitRevisionRow[];
  }
  *backlog(limit: number): Step<BacklogRow[]> {
    return this.#s.contentBacklog.all(limit) as BacklogRow[];
  }
  *behind(userId: number): Step<boolean> {
    return this.#s.contentBehind.get(userId) !== undefined;
  }
  *docStates(nodeIds: readonly number[]): Step<DocStateRow[]> {
    return this.#s.contentDocStates.all(JSON.stringify(nodeIds)) as DocStateRow[];
  }
  *putDoc(ns: number, nodeId: number, rev: number, key: string | null, text: string | null): Step<void> {
    const cur = this.#s.contentDocState.get(nodeId) as DocStateRow | undefined;
    if (cur && cur.rev > rev) return;
    // The same text under the same key: only the revision moves (a rename, a metadata change).
    const same = cur !== undefined && cur.key !== null && cur.key === key;
    const indexed = same || (key !== null && text !== null);
    if (!same) {
      if (cur?.key != null) this.#s.contentFtsDelete.run(nodeId);
      if (indexed) this.#s.contentFtsInsert.run(nodeId, text);
    }
    this.#s.contentUpsertDoc.run(nodeId, ns, rev, indexed ? key : null);
  }
  *setCursor(ns: number, seq: number): Step<void> {
    this.#s.contentSetCursor.run(ns, seq);
  }
  *search(userId: number, query: string, limit: number): Step<ContentRow[]> {
    const phrase = `"${query.replace(/"/g, '""')}"`;
    return this.#s.contentSearch.all(query, userId, phrase, limit) as ContentRow[];
  }
}
