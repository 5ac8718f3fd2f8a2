/**
 * Writing the journal: every change takes the namespace's next sequence number and becomes a
 * revision row; the node row points at its latest one, and the node's previous revision is marked
 * superseded (retention counts from that time). Also turns revision rows into protocol Revisions.
 */
import { LoftError } from '../../shared/errors.js';
import type { NodeKind, Revision, RevisionOp } from '../../shared/protocol.js';
import type { Actor } from '../metadata-store.js';
import type { MetaTx, NodeRow, RevisionRow } from './meta-tx.js';
import type { Step } from './step.js';

export interface NewRevision {
  nodeId: number;
  op: RevisionOp;
  parentId: number | null;
  name: string;
  kind: NodeKind;
  deleted: boolean;
  size: number;
  mtime: number;
  mode: number;
  contentSeq: number | null;
  restoredFrom?: number | null;
  /** On a delete: the seq of the first tombstone of the same delete (default: this one's). */
  deletedWith?: number | undefined;
}

export function* nextSeq(tx: MetaTx, ns: number): Step<number> {
  const seq = yield* tx.nextSeq(ns);
  if (seq === undefined) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
  return seq;
}

export function* addRevision(
  tx: MetaTx,
  actor: Actor,
  ns: number,
  seq: number,
  r: NewRevision,
): Step<Revision> {
  // The node's previous revision stops being current now (retention counts from this time).
  yield* tx.supersede(actor.now, ns, r.nodeId, seq);
  yield* tx.insertRevision({
    ns,
    seq,
    nodeId: r.nodeId,
    op: r.op,
    parentId: r.parentId,
    name: r.name,
    kind: r.kind,
    deleted: r.deleted,
    size: r.size,
    mtime: r.mtime,
    mode: r.mode,
    contentSeq: r.contentSeq,
    deviceId: actor.deviceId,
    createdAt: actor.now,
    restoredFrom: r.restoredFrom ?? null,
  });
  if (r.op === 'delete') yield* tx.setDeletedWith(r.deletedWith ?? seq, ns, seq);
  else yield* tx.updateNode(r.parentId, r.name, false, seq, r.nodeId);
  return yield* revision(tx, ns, seq);
}

export function* mkdirIn(
  tx: MetaTx,
  actor: Actor,
  ns: number,
  parentId: number,
  name: string,
  mtime: number,
  mode: number,
): Step<Revision> {
  const seq = yield* nextSeq(tx, ns);
  const nodeId = yield* tx.insertNode(ns, parentId, name, 'dir', seq);
  return yield* addRevision(tx, actor, ns, seq, {
    nodeId,
    op: 'mkdir',
    parentId,
    name,
    kind: 'dir',
    deleted: false,
    size: 0,
    mtime,
    mode,
    contentSeq: null,
  });
}

/** `batch`: the seq of the first tombstone of the same delete (default: this one's). */
export function* tombstone(
  tx: MetaTx,
  actor: Actor,
  ns: number,
  node: NodeRow,
  batch?: number,
): Step<Revision> {
  const current = yield* revision(tx, ns, node.rev);
  const seq = yield* nextSeq(tx, ns);
  yield* tx.updateNode(node.parent_id, node.name, true, seq, node.id);
  yield* tx.setDeletedAt(actor.now, node.id);
  return yield* addRevision(tx, actor, ns, seq, {
    nodeId: node.id,
    op: 'delete',
    parentId: node.parent_id,
    name: node.name,
    kind: node.kind,
    deleted: true,
    size: current.size,
    mtime: current.mtime,
    mode: current.mode,
    contentSeq: yield* contentSeq(tx, ns, node.rev),
    deletedWith: batch,
  });
}

export function* contentSeq(tx: MetaTx, ns: number, rev: number): Step<number | null> {
  const row = yield* tx.revision(ns, rev);
  return row?.content_seq ?? null;
}

export function* revision(tx: MetaTx, ns: number, seq: number): Step<Revision> {
  const row = yield* tx.revision(ns, seq);
  if (!row) throw new LoftError('INTERNAL', `revision ${seq} of namespace ${ns} is missing`);
  return yield* toRevision(tx, row);
}

export function* toRevision(tx: MetaTx, row: RevisionRow): Step<Revision> {
  const rev = bare(row);
  if (hasContent(row)) rev.blocks = yield* tx.content(row.ns_id, row.content_seq!);
  return rev;
}

/** Revision rows of one namespace as Revisions, their block lists read in one go. */
export function* toRevisions(tx: MetaTx, ns: number, rows: readonly RevisionRow[]): Step<Revision[]> {
  const withContent = rows.filter(hasContent);
  const lists = yield* tx.contents(ns, [...new Set(withContent.map((r) => r.content_seq!))]);
  return rows.map((row) => {
    const rev = bare(row);
    if (hasContent(row)) rev.blocks = lists.get(row.content_seq!) ?? [];
    return rev;
  });
}

function hasContent(row: RevisionRow): boolean {
  return row.kind === 'file' && row.deleted !== 1 && row.content_seq !== null;
}

function bare(row: RevisionRow): Revision {
  const rev: Revision = {
    rev: row.seq,
    id: row.node_id,
    op: row.op,
    parentId: row.parent_id,
    name: row.name,
    kind: row.kind,
    deleted: row.deleted === 1,
    size: row.size,
    mtime: row.mtime,
    mode: row.mode,
    device: row.device,
    time: row.created_at,
  };
  if (row.restored_from !== null) rev.restoredFrom = row.restored_from;
  return rev;
}
