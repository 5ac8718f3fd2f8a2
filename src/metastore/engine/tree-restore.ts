/**
 * Restore: an old revision's content as a new revision (live file), a deleted file back at its
 * last place, a copy elsewhere, or a deleted folder back with what its delete took.
 */
import { LoftError } from '../../shared/errors.js';
import { joinPath, splitPath } from '../../shared/paths.js';
import type { Revision, RevisionOp } from '../../shared/protocol.js';
import type { Actor, RestoreOp } from '../metadata-store.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { Step } from './step.js';
import { assertFree, checkRev, ensureDirsFrom, liveAncestor, nodeById, pathOf, root } from './tree-paths.js';
import { addRevision, nextSeq } from './tree-revisions.js';

export function* restore(tx: MetaTx, actor: Actor, op: RestoreOp): Step<Revision[]> {
  yield* tx.lockNs(op.ns);
  const source = yield* tx.revision(op.ns, op.rev);
  const what = 'id' in op.node ? `node ${op.node.id}` : op.node.path;
  const notOf = () => new LoftError('NOT_FOUND', `rev ${op.rev} is not a kept revision of ${what}`);
  if (!source) throw notOf();
  const node = yield* nodeById(tx, op.ns, source.node_id);
  if ('id' in op.node) {
    if (op.node.id !== node.id) throw notOf();
  } else if (joinPath(yield* pathOf(tx, op.ns, node)) !== joinPath(splitPath(op.node.path))) {
    throw notOf();
  }
  if (node.kind === 'dir') {
    if (!node.deleted)
      throw new LoftError('IS_DIR', `${node.name} is a live directory; restore the files in it`);
    if (op.toPath !== undefined)
      throw new LoftError('BAD_REQUEST', 'a deleted folder comes back at its last place only');
    return yield* restoreDir(tx, actor, op.ns, node);
  }
  if (node.purged || source.content_seq === null) throw notOf();
  const created: Revision[] = [];
  const content = (seq: number, nodeId: number, parentId: number, name: string, op2: RevisionOp) =>
    addRevision(tx, actor, op.ns, seq, {
      nodeId,
      op: op2,
      parentId,
      name,
      kind: 'file',
      deleted: false,
      size: source.size,
      mtime: source.mtime,
      mode: source.mode,
      contentSeq: source.content_seq,
      restoredFrom: source.seq,
    });
  if (op.toPath !== undefined) {
    // A copy at another path: a new node, the original untouched.
    const parts = splitPath(op.toPath);
    if (parts.length === 0) throw new LoftError('EXISTS', 'the root exists');
    const name = parts.pop()!;
    const parentId = yield* ensureDirsFrom(
      tx,
      actor,
      op.ns,
      yield* root(tx, op.ns),
      parts,
      actor.now,
      created,
    );
    yield* assertFree(tx, parentId, name, op.toPath);
    const seq = yield* nextSeq(tx, op.ns);
    const nodeId = yield* tx.insertNode(op.ns, parentId, name, 'file', seq);
    created.push(yield* content(seq, nodeId, parentId, name, 'create'));
    return created;
  }
  if (!node.deleted) {
    if (op.parentRev !== undefined) checkRev(node, op.parentRev);
    const seq = yield* nextSeq(tx, op.ns);
    created.push(yield* content(seq, node.id, node.parent_id!, node.name, 'commit'));
    return created;
  }
  // A deleted file comes back at its last place: below its nearest live ancestor, through
  // directories of the names it had (existing live ones are used, missing ones created anew).
  const { at, missing } = yield* liveAncestor(tx, op.ns, node);
  const parentId = yield* ensureDirsFrom(tx, actor, op.ns, at.id, missing, actor.now, created);
  yield* assertFree(tx, parentId, node.name, joinPath(yield* pathOf(tx, op.ns, node)));
  const seq = yield* nextSeq(tx, op.ns);
  created.push(yield* content(seq, node.id, parentId, node.name, 'create'));
  return created;
}

/**
 * A deleted folder comes back as it was when it was deleted: the same node at its last place
 * (missing ancestors created anew, as for a file), with everything that delete took along, each
 * node with its id and its last content. A recursive delete tombstones the subtree (children
 * before their folder) in one transaction, so what it took is the run of deletes of nodes below
 * the folder just before the folder's own; nodes brought back or purged since stay as they are.
 * Returns the new revisions, the folder's last (the one the answer is about; in the journal it
 * comes first).
 */
function* restoreDir(tx: MetaTx, actor: Actor, ns: number, dir: NodeRow): Step<Revision[]> {
  const below = function* (n: NodeRow): Step<boolean> {
    for (let at = n.parent_id; at !== null; at = (yield* nodeById(tx, ns, at)).parent_id)
      if (at === dir.id) return true;
    return false;
  };
  const taken: NodeRow[] = [];
  // Tombstones from before schema v3 have no batch: the run of deletes below it stands for it.
  const batch = (yield* tx.revision(ns, dir.rev))?.deleted_with ?? 0;
  for (let seq = dir.rev - 1; seq >= batch && seq > 0; seq--) {
    const r = yield* tx.revision(ns, seq);
    if (!r || r.op !== 'delete' || (batch && r.deleted_with !== batch)) break;
    const n = yield* nodeById(tx, ns, r.node_id);
    if (!(yield* below(n))) break;
    if (n.rev === seq && !n.purged) taken.push(n);
  }
  const created: Revision[] = [];
  const { at, missing } = yield* liveAncestor(tx, ns, dir);
  const parentId = yield* ensureDirsFrom(tx, actor, ns, at.id, missing, actor.now, created);
  yield* assertFree(tx, parentId, dir.name, joinPath([...(yield* pathOf(tx, ns, at)), ...missing, dir.name]));
  const back = new Set<number>();
  const revive = function* (n: NodeRow, parentId: number): Step<Revision | null> {
    const lastSeq = yield* tx.prevRev(n.id, ns, n.rev);
    const last = lastSeq === null ? undefined : yield* tx.revision(ns, lastSeq);
    if (!last || (n.kind === 'file' && last.content_seq === null)) return null;
    back.add(n.id);
    const rev = yield* addRevision(tx, actor, ns, yield* nextSeq(tx, ns), {
      nodeId: n.id,
      op: n.kind === 'dir' ? 'mkdir' : 'create',
      parentId,
      name: n.name,
      kind: n.kind,
      deleted: false,
      size: n.kind === 'dir' ? 0 : last.size,
      mtime: last.mtime,
      mode: last.mode,
      contentSeq: n.kind === 'dir' ? null : last.content_seq,
      ...(n.kind === 'dir' ? {} : { restoredFrom: last.seq }),
    });
    created.push(rev);
    return rev;
  };
  const folder = yield* revive(dir, parentId);
  if (!folder) throw new LoftError('NOT_FOUND', `${dir.name} has no kept revision to restore`);
  // A delete tombstones what a folder holds before the folder: walked backwards (as `taken` was
  // collected), every folder comes back before what it held.
  for (const n of taken) if (back.has(n.parent_id!)) yield* revive(n, n.parent_id!);
  return [...created.filter((r) => r !== folder), folder];
}
