/**
 * Finding nodes: by id or by path from the namespace root, the folder and name a Place names,
 * and folders made on the way (mkdir -p). Every function runs inside the caller's transaction.
 */
import { LoftError } from '../../shared/errors.js';
import { splitPath, validateName } from '../../shared/paths.js';
import type { Revision } from '../../shared/protocol.js';
import type { Actor, NodeRef, Place } from '../metadata-store.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { Step } from './step.js';
import { mkdirIn } from './tree-revisions.js';

export function* head(tx: MetaTx, ns: number): Step<number> {
  const seq = yield* tx.head(ns);
  if (seq === undefined) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
  return seq;
}

export function* root(tx: MetaTx, ns: number): Step<number> {
  const id = yield* tx.rootOf(ns);
  if (id === undefined) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
  return id;
}

export function* nodeById(tx: MetaTx, ns: number, id: number): Step<NodeRow> {
  const node = yield* tx.nodeById(id, ns);
  if (!node) throw new LoftError('NOT_FOUND', `no node ${id}`);
  return node;
}

export function* lookup(tx: MetaTx, ns: number, parts: readonly string[]): Step<NodeRow | undefined> {
  let node = yield* nodeById(tx, ns, yield* root(tx, ns));
  for (const part of parts) {
    if (node.kind !== 'dir') return undefined;
    const next = yield* tx.child(node.id, part);
    if (!next) return undefined;
    node = next;
  }
  return node;
}

export function deletedConflict(node: NodeRow): LoftError {
  return new LoftError('CONFLICT', `node ${node.id} was deleted at rev ${node.rev}`, {
    details: { currentRev: node.rev, id: node.id, deleted: true },
  });
}

export function* resolveLive(tx: MetaTx, ns: number, ref: NodeRef): Step<NodeRow> {
  if ('id' in ref) {
    const node = yield* nodeById(tx, ns, ref.id);
    if (node.deleted) throw deletedConflict(node);
    return node;
  }
  const node = yield* lookup(tx, ns, splitPath(ref.path));
  if (!node) throw new LoftError('NOT_FOUND', `${ref.path} does not exist`);
  return node;
}

/**
 * The folder and name a Place names: by id, a live folder (liveDir); by path, the folder
 * `dirOf` finds (or makes) for the path's parent components. The root itself: `atRoot()`.
 */
export function* placeOf(
  tx: MetaTx,
  ns: number,
  place: Place,
  dirOf: (parts: readonly string[]) => Step<number>,
  atRoot: () => Step<LoftError>,
): Step<{ parentId: number; name: string }> {
  if ('parentId' in place) {
    validateName(place.name);
    return { parentId: yield* liveDir(tx, ns, place.parentId), name: place.name };
  }
  const parts = splitPath(place.path);
  const name = parts.pop();
  if (name === undefined) throw yield* atRoot();
  return { parentId: yield* dirOf(parts), name };
}

/** A live folder given by id (a place to put a node in); deleted: NOT_FOUND, details.deleted. */
export function* liveDir(tx: MetaTx, ns: number, id: number): Step<number> {
  const dir = yield* nodeById(tx, ns, id);
  if (dir.deleted) {
    throw new LoftError('NOT_FOUND', `folder ${id} was deleted at rev ${dir.rev}`, {
      details: { id, deleted: true },
    });
  }
  if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `node ${id} is not a directory`);
  return dir.id;
}

export function* resolveDir(tx: MetaTx, ns: number, parts: readonly string[]): Step<number> {
  let id = yield* root(tx, ns);
  for (const part of parts) {
    const next = yield* tx.child(id, part);
    if (!next) throw new LoftError('NOT_FOUND', `parent directory ${part} does not exist`);
    if (next.kind !== 'dir') throw new LoftError('NOT_DIR', `${part} is not a directory`);
    id = next.id;
  }
  return id;
}

/** Resolves the directory at `parts`, creating missing ones (each a revision of its own). */
export function* ensureDirs(
  tx: MetaTx,
  actor: Actor,
  ns: number,
  parts: readonly string[],
  mtime: number,
): Step<number> {
  return yield* ensureDirsFrom(tx, actor, ns, yield* root(tx, ns), parts, mtime);
}

export function* ensureDirsFrom(
  tx: MetaTx,
  actor: Actor,
  ns: number,
  from: number,
  parts: readonly string[],
  mtime: number,
  created?: Revision[],
): Step<number> {
  let id = from;
  for (const part of parts) {
    const next = yield* tx.child(id, part);
    if (next && next.kind !== 'dir') throw new LoftError('NOT_DIR', `${part} is not a directory`);
    if (next) {
      id = next.id;
    } else {
      const made = yield* mkdirIn(tx, actor, ns, id, part, mtime, 0o755);
      created?.push(made);
      id = made.id;
    }
  }
  return id;
}

/** The node's path components from the root, through its (possibly deleted) ancestors' last names. */
export function* pathOf(tx: MetaTx, ns: number, node: NodeRow): Step<string[]> {
  const parts: string[] = [];
  for (let at = node; at.parent_id !== null; at = yield* nodeById(tx, ns, at.parent_id))
    parts.unshift(at.name);
  return parts;
}

/** The nearest live ancestor of a deleted node, and the names of the deleted folders between. */
export function* liveAncestor(
  tx: MetaTx,
  ns: number,
  node: NodeRow,
): Step<{ at: NodeRow; missing: string[] }> {
  const missing: string[] = [];
  let at = yield* nodeById(tx, ns, node.parent_id!);
  while (at.deleted) {
    missing.unshift(at.name);
    at = yield* nodeById(tx, ns, at.parent_id!);
  }
  return { at, missing };
}

export function* assertFree(tx: MetaTx, parentId: number, name: string, path: string): Step<void> {
  const holder = yield* tx.child(parentId, name);
  if (holder) {
    throw new LoftError(
      'EXISTS',
      `${path} is taken by another ${holder.kind === 'dir' ? 'directory' : 'file'}`,
      {
        details: { id: holder.id, currentRev: holder.rev, kind: holder.kind },
      },
    );
  }
}

export function checkRev(node: NodeRow, parentRev: number): void {
  if (node.rev !== parentRev) {
    throw new LoftError('CONFLICT', `${node.name} is at rev ${node.rev}, not ${parentRev}`, {
      details: { currentRev: node.rev, id: node.id },
    });
  }
}
