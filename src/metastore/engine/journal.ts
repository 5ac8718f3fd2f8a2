/** Reading the journal: a namespace's changes in sequence order, and its head. */
import type { JournalRead } from '../metadata-store.js';
import type { MetaTx } from './meta-tx.js';
import type { Step } from './step.js';
import { head } from './tree-paths.js';
import { toRevisions } from './tree-revisions.js';

export function* readJournal(tx: MetaTx, ns: number, after: number, limit: number): Step<JournalRead> {
  const headSeq = yield* head(tx, ns);
  const entries = yield* toRevisions(tx, ns, yield* tx.journal(ns, after, limit));
  return { entries, last: entries.length ? entries[entries.length - 1]!.rev : after, head: headSeq };
}

export function* headSeq(tx: MetaTx, ns: number): Step<number> {
  return yield* head(tx, ns);
}
