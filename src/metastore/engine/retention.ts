/**
 * Retention and block collection (src/server/garbage-collector.ts drives these; its header has the
 * whole safety argument). Both take the collection lock first, so one runs at a time per
 * installation; retention locks each namespace before it touches its history, and collection
 * locks each block before it claims it, then looks at it again (see MetaTx): what a batch read
 * before the lock may have changed since.
 */
import type { ClaimBatch, ClaimedBlock, PurgeBatch } from '../metadata-store.js';
import type { MetaTx } from './meta-tx.js';
import type { Step } from './step.js';

export function* purgeHistory(tx: MetaTx, cutoff: number, batch: number): Step<PurgeBatch> {
  yield* tx.lockGc();
  let revisions = 0;
  let purgedNodes = 0;
  let looked = 0;
  const freed = new Map<number, Set<number>>();
  const free = (ns: number, contentSeq: number | null) => {
    if (contentSeq === null) return;
    if (!freed.has(ns)) freed.set(ns, new Set());
    freed.get(ns)!.add(contentSeq);
  };
  const drop = function* (ns: number, seq: number, contentSeq: number | null): Step<void> {
    yield* tx.deleteRevision(ns, seq);
    revisions++;
    free(ns, contentSeq);
  };
  // Deleted long enough: only the delete revision stays (for the journal), without content.
  // Each node leaves the partial index nodes_tombstones as it is marked purged.
  for (const node of yield* tx.oldTombstones(cutoff, batch)) {
    looked++;
    yield* tx.lockNs(node.ns_id);
    const now = yield* tx.nodeById(node.id, node.ns_id);
    if (!now || !now.deleted || now.purged || now.rev !== node.rev) continue; // restored meanwhile
    const revs = yield* tx.revTimes(node.id, node.ns_id);
    const last = revs[revs.length - 1];
    if (last) {
      for (const r of revs.slice(0, -1)) yield* drop(node.ns_id, r.seq, r.content_seq);
      if (last.content_seq !== null) {
        yield* tx.stripContent(node.ns_id, last.seq);
        free(node.ns_id, last.content_seq);
      }
    }
    yield* tx.markPurged(node.id);
    purgedNodes++;
  }
  // A file revision is kept while it was current at some time within the window: the ones
  // superseded at or before the cutoff go (each leaves revisions_superseded as it is deleted).
  // Directories keep every revision: they carry no content, and a device replaying the
  // journal must meet a directory before the files placed in it.
  if (looked < batch) {
    const revs = yield* tx.supersededRevs(cutoff, batch - looked);
    looked += revs.length;
    for (const r of revs) {
      yield* tx.lockNs(r.ns_id);
      if (!(yield* tx.isSuperseded(r.ns_id, r.seq, cutoff))) continue; // purged meanwhile
      yield* drop(r.ns_id, r.seq, r.content_seq);
    }
  }
  for (const [ns, seqs] of freed) {
    for (const seq of seqs) {
      if (yield* tx.contentUsed(ns, seq)) continue;
      yield* tx.addContentCandidates(ns, seq);
      yield* tx.deleteContent(ns, seq);
    }
  }
  return { revisions, nodes: purgedNodes, more: looked >= batch };
}

export function* claimGarbage(
  tx: MetaTx,
  touchedBefore: number,
  now: number,
  afterHash: string,
  scan: number,
): Step<ClaimBatch> {
  yield* tx.lockGc();
  const rows = yield* tx.scanCandidates(afterHash, scan);
  const claimed: ClaimedBlock[] = [];
  for (const row of rows) {
    if (row.touched_at === null || row.stored_size === null) {
      yield* tx.dropCandidate(row.hash); // no longer stored (claimed by another collector)
      continue;
    }
    if (row.touched_at >= touchedBefore) continue; // within the grace: looked at again later
    yield* tx.lockBlocks([row.hash], false);
    const block = yield* tx.block(row.hash); // as it is now that no upload or commit holds it
    if (block && block.touched_at >= touchedBefore) continue;
    yield* tx.dropCandidate(row.hash);
    if (!block) continue;
    // Referenced: no longer a candidate; retention makes it one again if it drops the last list.
    if (yield* tx.referenced(row.hash)) continue;
    yield* tx.deleteBlock(row.hash);
    yield* tx.deleteUserBlocks(row.hash);
    yield* tx.insertClaim(row.hash, now);
    claimed.push({ hash: row.hash, storedSize: block.stored_size });
  }
  return {
    claimed,
    next: rows.length < scan ? null : rows[rows.length - 1]!.hash,
    scanned: rows.length,
  };
}

export function* takeStaleClaims(
  tx: MetaTx,
  claimedBefore: number,
  now: number,
  limit: number,
): Step<string[]> {
  const hashes = yield* tx.staleClaims(claimedBefore, limit);
  for (const h of hashes) yield* tx.renewClaim(now, h);
  return hashes;
}

export function* finishClaims(tx: MetaTx, hashes: readonly string[]): Step<void> {
  for (const h of hashes) yield* tx.deleteClaim(h);
}
