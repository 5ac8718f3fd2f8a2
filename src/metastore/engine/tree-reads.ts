/**
 * Reading the tree: a node, a folder's children, a node's history, the whole live tree by pages,
 * what was deleted below a folder.
 */
import { LoftError } from '../../shared/errors.js';
import { joinPath, splitPath } from '../../shared/paths.js';
import type { DeletedEntry, Revision } from '../../shared/protocol.js';
import type { ChildEntry, DeletedList, NodeRef, TreePage } from '../metadata-store.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { Step } from './step.js';
import { head, lookup, nodeById, pathOf } from './tree-paths.js';
import { revision, toRevisions } from './tree-revisions.js';

export function* getNode(tx: MetaTx, ns: number, ref: NodeRef): Step<Revision | null> {
  let node: NodeRow | undefined;
  if ('id' in ref) {
    node = yield* tx.nodeById(ref.id, ns);
  } else {
    node = yield* lookup(tx, ns, splitPath(ref.path));
  }
  return node ? yield* revision(tx, ns, node.rev) : null;
}

export function* listChildren(tx: MetaTx, ns: number, dirId: number): Step<Revision[]> {
  const dir = yield* nodeById(tx, ns, dirId);
  if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a directory`);
  return yield* toRevisions(tx, ns, yield* tx.childRevisions(dir.id));
}

/** A folder's children without their block lists: what a listing shows (the web page, issue 16). */
export function* listChildEntries(tx: MetaTx, ns: number, dirId: number): Step<ChildEntry[]> {
  const dir = yield* nodeById(tx, ns, dirId);
  if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a directory`);
  return yield* tx.childEntries(dir.id);
}

export function* listRevisions(tx: MetaTx, ns: number, id: number): Step<Revision[]> {
  yield* nodeById(tx, ns, id);
  return yield* toRevisions(tx, ns, yield* tx.revisionsOf(id, ns));
}

export function* listTree(
  tx: MetaTx,
  ns: number,
  after: number,
  limit: number,
  maxBlocks: number,
): Step<TreePage> {
  yield* head(tx, ns); // NOT_FOUND for an unknown namespace
  // One more row than asked tells whether another page follows.
  const rows = yield* tx.liveRevisions(ns, after, limit + 1);
  const revisions = yield* toRevisions(tx, ns, rows.slice(0, limit));
  const entries: Revision[] = [];
  let blocks = 0;
  for (const r of revisions) {
    if (entries.length > 0 && blocks >= maxBlocks) break;
    blocks += r.blocks?.length ?? 0;
    entries.push(r);
  }
  const more = entries.length < rows.length;
  return { entries, next: more ? entries[entries.length - 1]!.id : null };
}

export function* listDeleted(tx: MetaTx, ns: number, dirId: number, limit: number): Step<DeletedList> {
  const dir = yield* nodeById(tx, ns, dirId);
  if (dir.deleted) throw new LoftError('NOT_FOUND', `${dir.name} does not exist`);
  if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a directory`);
  const entries: DeletedEntry[] = [];
  let truncated = false;
  // Breadth first through every directory below, live or deleted (a deleted directory's files
  // are listed with their paths inside it).
  const queue: { id: number; path: string }[] = [{ id: dir.id, path: joinPath(yield* pathOf(tx, ns, dir)) }];
  while (queue.length && !truncated) {
    const { id, path } = queue.shift()!;
    for (const child of yield* tx.allChildren(id)) {
      const childPath = (path === '/' ? '' : path) + '/' + child.name;
      if (child.kind === 'dir') queue.push({ id: child.id, path: childPath });
      if (!child.deleted || child.purged) continue;
      if (entries.length === limit) {
        truncated = true;
        break;
      }
      const tomb = yield* revision(tx, ns, child.rev);
      const prev = yield* tx.prevRev(child.id, ns, child.rev);
      entries.push({
        id: child.id,
        path: childPath,
        kind: child.kind,
        size: tomb.size,
        rev: tomb.rev,
        deletedAt: tomb.time,
        device: tomb.device,
        lastRev: prev,
      });
    }
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : b.rev - a.rev));
  return { entries, truncated };
}
