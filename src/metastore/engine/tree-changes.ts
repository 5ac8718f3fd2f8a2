/**
 * Tree changes: commit a file's content, make a folder, move, delete. Each is one transaction
 * that first locks the namespace (see MetaTx), checks the caller's view (parentRev) and adds one
 * revision per node it changes.
 */
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import type { Actor, CommitFileOp, MkdirOp, MoveOp, RemoveOp } from '../metadata-store.js';
import { checkBlocks } from './block-ledger.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { Step } from './step.js';
import {
  checkRev,
  deletedConflict,
  ensureDirs,
  nodeById,
  placeOf,
  resolveDir,
  resolveLive,
  root,
} from './tree-paths.js';
import { addRevision, contentSeq, mkdirIn, nextSeq, revision, tombstone } from './tree-revisions.js';

export function* commitFile(tx: MetaTx, actor: Actor, op: CommitFileOp): Step<Revision> {
  yield* tx.lockNs(op.ns);
  yield* checkBlocks(tx, actor.userId, op.blocks, op.size);
  let node: NodeRow | undefined;
  let parentId: number;
  let name: string;
  if ('id' in op.node) {
    node = yield* nodeById(tx, op.ns, op.node.id);
    if (node.parent_id === null) throw new LoftError('IS_DIR', 'the root is a directory');
    if (node.deleted) throw deletedConflict(node);
    parentId = node.parent_id;
    name = node.name;
  } else {
    ({ parentId, name } = yield* placeOf(
      tx,
      op.ns,
      op.node,
      (parts) => ensureDirs(tx, actor, op.ns, parts, op.mtime),
      // eslint-disable-next-line require-yield
      function* () {
        return new LoftError('IS_DIR', 'the root is a directory');
      },
    ));
    node = yield* tx.child(parentId, name);
    if (!node && op.parentRev) {
      throw new LoftError('CONFLICT', `${'path' in op.node ? op.node.path : name} no longer exists`, {
        details: { currentRev: null },
      });
    }
  }
  if (node) {
    if (node.kind === 'dir')
      throw new LoftError('IS_DIR', `${name} is a directory`, { details: { id: node.id } });
    if ((op.parentRev ?? 0) !== node.rev) {
      throw new LoftError('CONFLICT', `${name} is at rev ${node.rev}, not ${op.parentRev ?? 0}`, {
        details: { currentRev: node.rev, id: node.id },
      });
    }
  }
  const seq = yield* nextSeq(tx, op.ns);
  const nodeId = node ? node.id : yield* tx.insertNode(op.ns, parentId, name, 'file', seq);
  yield* tx.insertContent(op.ns, seq, op.blocks);
  return yield* addRevision(tx, actor, op.ns, seq, {
    nodeId,
    op: node ? 'commit' : 'create',
    parentId,
    name,
    kind: 'file',
    deleted: false,
    size: op.size,
    mtime: op.mtime,
    mode: op.mode,
    contentSeq: seq,
  });
}

export function* mkdir(tx: MetaTx, actor: Actor, op: MkdirOp): Step<Revision> {
  yield* tx.lockNs(op.ns);
  const { parentId, name } = yield* placeOf(
    tx,
    op.ns,
    op,
    (parts) => (op.parents ? ensureDirs(tx, actor, op.ns, parts, op.mtime) : resolveDir(tx, op.ns, parts)),
    function* () {
      return new LoftError('EXISTS', 'the root exists', { details: { id: yield* root(tx, op.ns) } });
    },
  );
  const existing = yield* tx.child(parentId, name);
  if (existing) {
    throw new LoftError('EXISTS', `${'path' in op ? op.path : name} already exists`, {
      details: { id: existing.id, currentRev: existing.rev, kind: existing.kind },
    });
  }
  return yield* mkdirIn(tx, actor, op.ns, parentId, name, op.mtime, op.mode);
}

export function* move(tx: MetaTx, actor: Actor, op: MoveOp): Step<Revision> {
  yield* tx.lockNs(op.ns);
  const node = yield* resolveLive(tx, op.ns, op.node);
  if (node.parent_id === null) throw new LoftError('BAD_REQUEST', 'the root cannot be moved');
  checkRev(node, op.parentRev);
  const { parentId, name } = yield* placeOf(
    tx,
    op.ns,
    'toParentId' in op ? { parentId: op.toParentId, name: op.toName } : { path: op.toPath },
    (parts) => resolveDir(tx, op.ns, parts),
    // eslint-disable-next-line require-yield
    function* () {
      return new LoftError('EXISTS', 'the root exists');
    },
  );
  const toPath = 'toPath' in op ? op.toPath : name;
  if (parentId === node.parent_id && name === node.name) return yield* revision(tx, op.ns, node.rev);
  if (node.kind === 'dir') {
    for (let at: number | null = parentId; at !== null; at = (yield* nodeById(tx, op.ns, at)).parent_id) {
      if (at === node.id) throw new LoftError('CYCLE', `cannot move a directory into itself`);
    }
  }
  const target = yield* tx.child(parentId, name);
  if (target) {
    if (!op.overwrite) {
      throw new LoftError('EXISTS', `${toPath} already exists`, {
        details: { id: target.id, currentRev: target.rev, kind: target.kind },
      });
    }
    if (op.targetRev !== undefined && op.targetRev !== target.rev) {
      throw new LoftError('CONFLICT', `${toPath} is at rev ${target.rev}, not ${op.targetRev}`, {
        details: { id: target.id, currentRev: target.rev },
      });
    }
    if (node.kind === 'dir' && target.kind !== 'dir')
      throw new LoftError('NOT_DIR', `${toPath} is not a directory`);
    if (node.kind !== 'dir' && target.kind === 'dir')
      throw new LoftError('IS_DIR', `${toPath} is a directory`);
    if (target.kind === 'dir' && (yield* tx.hasChild(target.id))) {
      throw new LoftError('NOT_EMPTY', `${toPath} is not empty`);
    }
    yield* tombstone(tx, actor, op.ns, target);
  }
  const current = yield* revision(tx, op.ns, node.rev);
  const seq = yield* nextSeq(tx, op.ns);
  return yield* addRevision(tx, actor, op.ns, seq, {
    nodeId: node.id,
    op: 'move',
    parentId,
    name,
    kind: node.kind,
    deleted: false,
    size: current.size,
    mtime: current.mtime,
    mode: current.mode,
    contentSeq: yield* contentSeq(tx, op.ns, node.rev),
  });
}

export function* remove(tx: MetaTx, actor: Actor, op: RemoveOp): Step<Revision[]> {
  yield* tx.lockNs(op.ns);
  const node = yield* resolveLive(tx, op.ns, op.node);
  if (node.parent_id === null) throw new LoftError('BAD_REQUEST', 'the root cannot be deleted');
  checkRev(node, op.parentRev);
  if (node.kind === 'dir' && !op.recursive && (yield* tx.hasChild(node.id))) {
    throw new LoftError('NOT_EMPTY', `${node.name} is not empty`);
  }
  // Deepest first, so that a client replaying the journal never sees a live node under a tombstone.
  // With `expect`, a node the caller did not see as it is stays, with the folders above it.
  const expect = op.expect ? new Map(op.expect.map(([id, rev]) => [id, rev])) : null;
  const order: NodeRow[] = [];
  const visit = function* (n: NodeRow): Step<boolean> {
    let all = true;
    if (n.kind === 'dir') for (const c of yield* tx.children(n.id)) if (!(yield* visit(c))) all = false;
    if (!all || (expect && n !== node && expect.get(n.id) !== n.rev)) return false;
    order.push(n);
    return true;
  };
  yield* visit(node);
  let batch: number | undefined;
  const out: Revision[] = [];
  for (const n of order) {
    const r = yield* tombstone(tx, actor, op.ns, n, batch);
    batch ??= r.rev;
    out.push(r);
  }
  return out;
}
