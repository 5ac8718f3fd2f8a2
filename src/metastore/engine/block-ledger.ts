/**
 * The block ledger: which blocks are stored (a row exists only while the bytes are in the
 * BlockStore), who proved possession of which by sending it, and the possession rule that keeps
 * dedup from leaking other users' data.
 */
import { LoftError } from '../../shared/errors.js';
import type { BlockRef } from '../../shared/protocol.js';
import type { BlockState } from '../metadata-store.js';
import type { MetaTx } from './meta-tx.js';
import type { Step } from './step.js';

export function* recordUpload(
  tx: MetaTx,
  userId: number,
  hash: string,
  size: number,
  storedSize: number,
  now: number,
  seen?: BlockState,
): Step<boolean> {
  yield* tx.lockBlocks([hash], false);
  if (yield* tx.claimOf(hash))
    throw new LoftError('UNAVAILABLE', `block ${hash} is being garbage-collected; send it again`);
  if (seen === 'live' && !(yield* tx.block(hash)))
    throw new LoftError('UNAVAILABLE', `block ${hash} was garbage-collected meanwhile; send it again`);
  yield* tx.insertBlock(hash, size, storedSize, now);
  // Unreferenced until a commit says otherwise: collection looks at it after the grace.
  yield* tx.addCandidate(hash);
  return yield* tx.insertUserBlock(userId, hash, now);
}

export function* blockState(tx: MetaTx, hash: string): Step<BlockState> {
  if (yield* tx.claimOf(hash)) return 'collecting';
  return (yield* tx.block(hash)) ? 'live' : 'absent';
}

export function* missingBlocks(tx: MetaTx, userId: number, hashes: readonly string[]): Step<string[]> {
  const distinct = [...new Set(hashes)];
  const usableSet = yield* tx.usableBlocks(userId, distinct);
  return distinct.filter((h) => !usableSet.has(h));
}

/** Possession rule: the user sent the block, or a namespace they can read references it. */
export function* usable(tx: MetaTx, userId: number, hash: string): Step<boolean> {
  if (!(yield* tx.block(hash))) return false;
  return (yield* tx.uploadedBy(userId, hash)) || (yield* tx.readableRef(hash, userId));
}

/**
 * The blocks of a commit: each usable by the user and of its recorded size, adding up to `size`.
 * Locks them (shared) first, so that collection cannot claim one before the commit references it.
 */
export function* checkBlocks(
  tx: MetaTx,
  userId: number,
  blocks: readonly BlockRef[],
  size: number,
): Step<void> {
  const distinct = [...new Set(blocks.map((b) => b.hash))].sort();
  yield* tx.lockBlocks(distinct, true);
  const rows = yield* tx.blocks(distinct);
  const usableSet = yield* tx.usableBlocks(userId, distinct);
  let total = 0;
  const unusable: string[] = [];
  for (const b of blocks) {
    total += b.size;
    const row = rows.get(b.hash);
    if (!row || !usableSet.has(b.hash)) {
      unusable.push(b.hash);
    } else if (row.size !== b.size) {
      throw new LoftError('BAD_REQUEST', `block ${b.hash} is ${row.size} bytes, not ${b.size}`);
    }
  }
  if (unusable.length) {
    throw new LoftError('BLOCK_UNUSABLE', `${unusable.length} block(s) must be uploaded before this commit`, {
      details: { missing: [...new Set(unusable)] },
    });
  }
  if (total !== size) throw new LoftError('BAD_REQUEST', `blocks add up to ${total} bytes, not size ${size}`);
}
