/**
 * A batch: many tree changes (mkdir, commit, move, delete) in ONE transaction, each atomic on its
 * own. A client sends "mkdir a; mkdir a/b; create a/b/x; rename y" as one request and pays for
 * one transaction (one fsync on SQLite) and one long-poll wake-up instead of one per change.
 *
 * - Order: ops run in the order given; op #i sees what ops #0..#i-1 did.
 * - Atomic per op: each op runs inside a savepoint; a LoftError (CONFLICT, EXISTS, …) rolls back
 *   to it, so the failed op leaves nothing (not even the folders a commit by path made on its way)
 *   and the next op runs. Any other error is a storage failure: it is thrown and the engine rolls
 *   the whole transaction back (PostgreSQL then runs it again from the start, which is safe: the
 *   op keeps its state in locals).
 * - Inline blocks: a commit's inline block is recorded as sent before the op's savepoint, so the
 *   record stays when the commit fails, as after a PUT: its bytes are already in the BlockStore,
 *   and without a record garbage collection would never find them.
 * - References: an op may name "the node op #j made or changed" (`ref`, `parentRef`, a move's
 *   target folder), j < i. If op #j failed, op #i fails with FAILED_DEPENDENCY and changes nothing.
 *   Left out, the `parentRev` of a node named by `ref` is the rev the batch's earlier ops left it
 *   at (so "create x; rename x" needs no rev the client cannot know yet).
 * - Locks: every namespace the batch touches is locked, in id order, before the first savepoint
 *   (MetaTx: a lock taken inside a savepoint that is rolled back may be released). Block locks are
 *   taken op by op as the single operations take them; two batches of different namespaces that
 *   lock shared blocks in opposite orders may deadlock, which PostgreSQL breaks by aborting one,
 *   and the store runs it again.
 */
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import type {
  Actor,
  BatchNodeRef,
  BatchOp,
  BatchOutcome,
  BatchPlace,
  InlineBlock,
  NodeRef,
  Place,
} from '../metadata-store.js';
import { recordUpload } from './block-ledger.js';
import type { MetaTx } from './meta-tx.js';
import type { Step } from './step.js';
import { commitFile, mkdir, move, remove } from './tree-changes.js';
import { getNode, listChildren } from './tree-reads.js';

/** What earlier ops of the batch left behind, for the references of later ones. */
interface BatchState {
  outcomes: BatchOutcome[];
  /** The rev each node changed by the batch is at now (key `ns:id`). */
  revs: Map<string, number>;
}

export function* batch(tx: MetaTx, actor: Actor, ops: readonly BatchOp[]): Step<BatchOutcome[]> {
  const live = ops.filter((o) => o.op !== 'failed');
  for (const ns of [...new Set(live.map((o) => o.ns))].sort((a, b) => a - b)) yield* tx.lockNs(ns);
  const state: BatchState = { outcomes: [], revs: new Map() };
  for (const [i, op] of ops.entries()) {
    if (op.op === 'failed') {
      state.outcomes.push({ ok: false, error: op.error });
      continue;
    }
    if (op.op === 'commit' && op.inline) {
      // Recorded whether or not the commit then succeeds, as a PUT is: the bytes are stored, and a
      // record is what lets garbage collection find them again if no commit ever references them.
      const failed = yield* recordInline(tx, actor, op.inline);
      if (failed) {
        state.outcomes.push({ ok: false, error: failed });
        continue;
      }
    }
    yield* tx.savepoint();
    let outcome: BatchOutcome;
    try {
      outcome = yield* apply(tx, actor, op, i, state);
    } catch (err) {
      // Not a LoftError, or INTERNAL: a bug or a storage failure, never one op's business.
      if (!(err instanceof LoftError) || err.code === 'INTERNAL') throw err;
      yield* tx.rollbackToSavepoint();
      outcome = { ok: false, error: err };
    }
    yield* tx.releaseSavepoint();
    state.outcomes.push(outcome);
    if (outcome.ok) {
      for (const r of [...(outcome.deleted ?? []), outcome.node]) {
        const key = `${op.ns}:${r.id}`;
        state.revs.set(key, Math.max(state.revs.get(key) ?? 0, r.rev));
      }
    }
  }
  return state.outcomes;
}

function* apply(
  tx: MetaTx,
  actor: Actor,
  op: Exclude<BatchOp, { op: 'failed' }>,
  at: number,
  state: BatchState,
): Step<BatchOutcome> {
  switch (op.op) {
    case 'mkdir': {
      const node = yield* mkdir(tx, actor, {
        ns: op.ns,
        ...place(op.place, at, state),
        mtime: op.mtime,
        mode: op.mode,
        parents: op.parents,
      });
      return { ok: true, node };
    }
    case 'commit': {
      const target =
        'ref' in op.node ? { id: refId(op.node.ref, at, state) } : nodeOrPlace(op.node, at, state);
      const node = yield* commitFile(tx, actor, {
        ns: op.ns,
        node: target,
        parentRev: op.parentRev === undefined ? defaultRev(op.ns, op.node, at, state) : op.parentRev,
        blocks: op.blocks,
        size: op.size,
        mtime: op.mtime,
        mode: op.mode,
      });
      return { ok: true, node };
    }
    case 'move': {
      const to = place(op.to, at, state);
      const node = yield* move(tx, actor, {
        ns: op.ns,
        node: nodeRef(op.node, at, state),
        parentRev: op.parentRev ?? defaultRev(op.ns, op.node, at, state),
        overwrite: op.overwrite,
        targetRev: op.targetRev,
        ...('path' in to ? { toPath: to.path } : { toParentId: to.parentId, toName: to.name }),
      });
      return { ok: true, node };
    }
    case 'delete': {
      const ref = nodeRef(op.node, at, state);
      const id = 'id' in ref ? ref.id : (yield* getNode(tx, op.ns, ref))?.id;
      const deleted = yield* remove(tx, actor, {
        ns: op.ns,
        node: ref,
        parentRev: op.parentRev ?? defaultRev(op.ns, op.node, at, state),
        recursive: op.recursive,
        ...(op.expect ? { expect: op.expect } : {}),
      });
      // The node as the delete left it: a tombstone, or (with `expect`) a folder something kept.
      const root = id === undefined ? null : yield* getNode(tx, op.ns, { id });
      if (!root) throw new LoftError('INTERNAL', 'a delete left no node behind');
      if (!op.expect) return { ok: true, node: root, deleted };
      return { ok: true, node: root, deleted, kept: yield* keptBelow(tx, op.ns, root) };
    }
  }
}

/** Records an inline block as sent by the actor, in a savepoint of its own; the error if it cannot be. */
function* recordInline(tx: MetaTx, actor: Actor, b: InlineBlock): Step<LoftError | null> {
  yield* tx.savepoint();
  let failed: LoftError | null = null;
  try {
    yield* recordUpload(tx, actor.userId, b.hash, b.size, b.storedSize, actor.now, b.seen);
  } catch (err) {
    if (!(err instanceof LoftError) || err.code === 'INTERNAL') throw err;
    yield* tx.rollbackToSavepoint();
    failed = err;
  }
  yield* tx.releaseSavepoint();
  return failed;
}

/** The live subtree left by a delete with `expect`, folders before what they hold (as POST /v1/delete). */
function* keptBelow(tx: MetaTx, ns: number, root: Revision): Step<Revision[]> {
  const kept: Revision[] = [];
  if (root.deleted) return kept;
  for (const queue = [root]; queue.length;) {
    const dir = queue.shift()!;
    kept.push(dir);
    if (dir.kind === 'dir') queue.push(...(yield* listChildren(tx, ns, dir.id)));
  }
  return kept;
}

/** The node op #ref made or changed; FAILED_DEPENDENCY when that op failed. */
function refId(ref: number, at: number, state: BatchState): number {
  if (!Number.isInteger(ref) || ref < 0 || ref >= at)
    throw new LoftError('BAD_REQUEST', `op #${at}: a reference must name an earlier op, not #${ref}`);
  const outcome = state.outcomes[ref]!;
  if (!outcome.ok) {
    throw new LoftError('FAILED_DEPENDENCY', `op #${at} depends on op #${ref}, which failed`, {
      details: { ref },
    });
  }
  return outcome.node.id;
}

function nodeRef(node: BatchNodeRef, at: number, state: BatchState): NodeRef {
  return 'ref' in node ? { id: refId(node.ref, at, state) } : node;
}

function place(p: BatchPlace, at: number, state: BatchState): Place {
  return 'parentRef' in p ? { parentId: refId(p.parentRef, at, state), name: p.name } : p;
}

function nodeOrPlace(
  node: Exclude<BatchNodeRef | BatchPlace, { ref: number }>,
  at: number,
  state: BatchState,
): NodeRef | { parentId: number; name: string } {
  return 'parentRef' in node ? place(node, at, state) : node;
}

/** A left-out parentRev: for a node named by `ref`, the rev the batch left it at; else required. */
function defaultRev(ns: number, node: BatchNodeRef | BatchPlace, at: number, state: BatchState): number {
  if (!('ref' in node)) throw new LoftError('BAD_REQUEST', `op #${at}: "parentRev" is required`);
  const rev = state.revs.get(`${ns}:${refId(node.ref, at, state)}`);
  if (rev === undefined) throw new LoftError('INTERNAL', `op #${at}: no rev recorded for op #${node.ref}`);
  return rev;
}
