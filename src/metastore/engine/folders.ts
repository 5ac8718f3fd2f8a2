/**
 * Shared folders (issue 13 item 1; folder-store.ts has the model): share a folder (convert its
 * subtree into a namespace of its own the first time), take a member out, leave, list. Written
 * once over MetaTx; the row primitives are in folder-tx.ts.
 *
 * Paths name places in the caller's tree: their home, with the roots of the namespaces they
 * mount shown where their mount records say. Locks: the home namespace (the conversion moves its
 * nodes) before the shared one, as every tree change locks the one namespace it changes.
 */
import { LoftError } from '../../shared/errors.js';
import { joinPath, splitPath } from '../../shared/paths.js';
import type { MountInfo, MountPlace, ShareInfo, ShareOp } from '../folder-store.js';
import type { Actor } from '../metadata-store.js';
import type { MountRow } from './folder-tx.js';
import type { MetaTx, NodeRow } from './meta-tx.js';
import type { Step } from './step.js';
import { head, lookup, pathOf, resolveDir } from './tree-paths.js';
import { addRevision, nextSeq, revision } from './tree-revisions.js';

interface Placed {
  row: MountRow;
  parts: string[];
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  return prefix.length <= of.length && prefix.every((p, i) => of[i] === p);
}

function* placed(tx: MetaTx, userId: number, home: number): Step<Placed[]> {
  const out: Placed[] = [];
  for (const row of yield* tx.mountsOf(userId)) {
    const parent = yield* tx.nodeById(row.parent_id, home);
    const at = parent ? yield* pathOf(tx, home, parent) : [];
    out.push({ row, parts: [...at, row.name] });
  }
  return out;
}

function info(p: Placed): MountInfo {
  const { row } = p;
  return {
    ns: row.ns_id,
    rootId: row.root_id,
    parentId: row.parent_id,
    name: row.name,
    path: joinPath(p.parts),
    role: row.role,
    owner: row.owner,
  };
}

function* withMembers(tx: MetaTx, p: Placed): Step<ShareInfo> {
  const members = (yield* tx.members(p.row.ns_id)).map((m) => ({ user: m.user, role: m.role }));
  return { ...info(p), members };
}

/** The mount whose root is exactly at `parts`; NOT_FOUND when `parts` is no shared folder. */
function* mountAt(tx: MetaTx, userId: number, home: number, path: string): Step<Placed> {
  const parts = splitPath(path);
  const m = (yield* placed(tx, userId, home)).find(
    (p) => p.parts.length === parts.length && isPrefix(p.parts, parts),
  );
  if (!m) throw new LoftError('NOT_FOUND', `${path} is not a shared folder`);
  return m;
}

/** A name for a new mount in the member's home root: the folder's, made unique ("x (2)"). */
function* freeName(
  tx: MetaTx,
  userId: number,
  home: number,
  name: string,
): Step<{ parentId: number; name: string }> {
  const root = yield* tx.rootOf(home);
  if (root === undefined) throw new LoftError('NOT_FOUND', `no namespace ${home}`);
  const taken = new Set((yield* tx.children(root)).map((c) => c.name));
  for (const m of yield* tx.mountsOf(userId)) if (m.parent_id === root) taken.add(m.name);
  let candidate = name;
  for (let i = 2; taken.has(candidate); i++) candidate = `${name} (${i})`;
  return { parentId: root, name: candidate };
}

function* target(tx: MetaTx, actor: Actor, name: string): Step<number> {
  const user = yield* tx.findUser(name);
  if (!user) throw new LoftError('NOT_FOUND', `no user ${name}`);
  if (user.id === actor.userId) throw new LoftError('BAD_REQUEST', 'you cannot share a folder with yourself');
  return user.id;
}

export function* shareFolder(tx: MetaTx, actor: Actor, home: number, op: ShareOp): Step<ShareInfo> {
  const memberId = yield* target(tx, actor, op.withUser);
  const parts = splitPath(op.path);
  const mounts = yield* placed(tx, actor.userId, home);
  const around = mounts.find((p) => isPrefix(p.parts, parts));
  if (around && around.parts.length < parts.length) {
    throw new LoftError(
      'CONFLICT',
      `${op.path} is inside the shared folder ${joinPath(around.parts)}; a shared folder cannot hold another`,
    );
  }
  if (around) {
    // Shared already: a new member, or a new role.
    const ns = around.row.ns_id;
    if (around.row.role !== 'owner') {
      throw new LoftError('FORBIDDEN', `only the owner of ${op.path} (${around.row.owner}) can share it`);
    }
    yield* tx.lockNs(ns);
    const had = yield* tx.role(ns, memberId);
    if (had === 'owner') throw new LoftError('BAD_REQUEST', `${op.withUser} owns ${op.path}`);
    yield* tx.setMember(ns, memberId, op.role);
    if (!had) yield* mountFor(tx, memberId, ns, around.row.name);
    return yield* withMembers(
      tx,
      (yield* placed(tx, actor.userId, home)).find((p) => p.row.ns_id === ns)!,
    );
  }
  const inside = mounts.find((p) => isPrefix(parts, p.parts));
  if (inside) {
    throw new LoftError(
      'CONFLICT',
      `${op.path} holds the shared folder ${joinPath(inside.parts)}; a shared folder cannot hold another`,
    );
  }
  if ((yield* tx.role(home, actor.userId)) !== 'owner') throw new LoftError('FORBIDDEN', 'not your home');
  yield* tx.lockNs(home);
  const folder = yield* lookup(tx, home, parts);
  if (!folder || folder.deleted) throw new LoftError('NOT_FOUND', `${op.path} does not exist`);
  if (folder.parent_id === null)
    throw new LoftError('BAD_REQUEST', 'the root cannot be shared; share a folder');
  if (folder.kind !== 'dir')
    throw new LoftError('NOT_DIR', `${op.path} is a file; only folders can be shared`);
  const ns = yield* convert(tx, actor, home, folder);
  yield* tx.insertMember(ns, actor.userId, 'owner');
  yield* tx.insertMount(actor.userId, ns, folder.parent_id, folder.name);
  yield* tx.insertMember(ns, memberId, op.role);
  yield* mountFor(tx, memberId, ns, folder.name);
  return yield* withMembers(
    tx,
    (yield* placed(tx, actor.userId, home)).find((p) => p.row.ns_id === ns)!,
  );
}

function* mountFor(tx: MetaTx, userId: number, ns: number, name: string): Step<void> {
  const user = yield* tx.userName(userId);
  const home = user === undefined ? undefined : (yield* tx.findUser(user))?.home_ns;
  if (home === undefined) throw new LoftError('NOT_FOUND', `no user ${userId}`);
  const at = yield* freeName(tx, userId, home, name);
  yield* tx.insertMount(userId, ns, at.parentId, at.name);
}

/**
 * Moves the folder's subtree (live and deleted nodes, every revision, the block lists they use)
 * into a new namespace whose sequence continues the home's, and makes the folder its root with
 * one more revision (parentId null). Block lists another home node still uses stay there too.
 */
function* convert(tx: MetaTx, actor: Actor, home: number, folder: NodeRow): Step<number> {
  const ns = yield* tx.insertNs(actor.userId, actor.now);
  yield* tx.lockNs(ns);
  yield* tx.setRoot(folder.id, ns);
  yield* tx.setHead(ns, yield* head(tx, home));
  const contentSeqs = new Set<number>();
  for (const queue: NodeRow[] = [folder]; queue.length;) {
    const n = queue.pop()!;
    if (n.kind === 'dir') queue.push(...(yield* tx.allChildren(n.id)));
    yield* tx.setNodeNs(n.id, ns);
    yield* tx.moveRevisions(home, ns, n.id);
    for (const r of yield* tx.revisionsOf(n.id, ns))
      if (r.content_seq !== null) contentSeqs.add(r.content_seq);
  }
  for (const cs of contentSeqs) {
    yield* tx.copyContent(home, ns, cs);
    if (!(yield* tx.contentUsed(home, cs))) yield* tx.deleteContent(home, cs);
  }
  const current = yield* revision(tx, ns, folder.rev);
  const seq = yield* nextSeq(tx, ns);
  yield* addRevision(tx, actor, ns, seq, {
    nodeId: folder.id,
    op: 'move',
    parentId: null,
    name: folder.name,
    kind: 'dir',
    deleted: false,
    size: 0,
    mtime: current.mtime,
    mode: current.mode,
    contentSeq: null,
  });
  return ns;
}

export function* unshareFolder(
  tx: MetaTx,
  actor: Actor,
  home: number,
  path: string,
  withUser: string,
): Step<ShareInfo> {
  const m = yield* mountAt(tx, actor.userId, home, path);
  if (m.row.role !== 'owner')
    throw new LoftError('FORBIDDEN', `only the owner of ${path} (${m.row.owner}) can remove members`);
  const memberId = yield* target(tx, actor, withUser);
  yield* tx.lockNs(m.row.ns_id);
  const removed = yield* tx.deleteMember(m.row.ns_id, memberId);
  yield* tx.deleteMount(memberId, m.row.ns_id);
  if (!removed) throw new LoftError('NOT_FOUND', `${withUser} is not a member of ${path}`);
  return yield* withMembers(tx, m);
}

export function* leaveFolder(tx: MetaTx, actor: Actor, home: number, path: string): Step<MountInfo> {
  const m = yield* mountAt(tx, actor.userId, home, path);
  if (m.row.role === 'owner') {
    throw new LoftError(
      'BAD_REQUEST',
      `you own ${path}: remove its members ("loft share remove") instead of leaving`,
    );
  }
  yield* tx.lockNs(m.row.ns_id);
  yield* tx.deleteMember(m.row.ns_id, actor.userId);
  yield* tx.deleteMount(actor.userId, m.row.ns_id);
  return info(m);
}

export function* listShares(tx: MetaTx, userId: number, home: number): Step<ShareInfo[]> {
  const out: ShareInfo[] = [];
  for (const p of yield* placed(tx, userId, home)) out.push(yield* withMembers(tx, p));
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function* mountsOf(tx: MetaTx, userId: number, home: number): Step<MountInfo[]> {
  return (yield* placed(tx, userId, home)).map(info);
}

export function* nsOfNode(tx: MetaTx, id: number): Step<number | null> {
  return (yield* tx.nsOfNode(id)) ?? null;
}

/**
 * Moves the user's mount of `ns` to another place of their home (their placement only: the
 * namespace, its other members and the owner's place do not change). The target folder must be a
 * live folder of the home and the name free there (no node, no other mount of the user).
 */
export function* moveMount(
  tx: MetaTx,
  actor: Actor,
  home: number,
  ns: number,
  to: MountPlace,
): Step<MountInfo> {
  yield* tx.lockNs(home);
  const row = (yield* tx.mountsOf(actor.userId)).find((m) => m.ns_id === ns);
  if (!row) throw new LoftError('NOT_FOUND', `no shared folder ${ns} in your tree`);
  let parentId: number;
  let name: string;
  if ('path' in to) {
    const parts = splitPath(to.path);
    if (!parts.length) throw new LoftError('EXISTS', 'the root exists');
    name = parts.pop()!;
    parentId = yield* resolveDir(tx, home, parts);
  } else {
    const dir = yield* tx.nodeById(to.parentId, home);
    if (!dir || dir.deleted) throw new LoftError('NOT_FOUND', `no folder ${to.parentId}`);
    if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `node ${to.parentId} is not a directory`);
    parentId = dir.id;
    name = to.name;
  }
  if (parentId === row.parent_id && name === row.name) {
    return info((yield* placed(tx, actor.userId, home)).find((p) => p.row.ns_id === ns)!);
  }
  const taken =
    !!(yield* tx.child(parentId, name)) ||
    (yield* tx.mountsOf(actor.userId)).some((m) => m.parent_id === parentId && m.name === name);
  if (taken) throw new LoftError('EXISTS', `${name} already exists there`);
  yield* tx.deleteMount(actor.userId, ns);
  yield* tx.insertMount(actor.userId, ns, parentId, name);
  return info((yield* placed(tx, actor.userId, home)).find((p) => p.row.ns_id === ns)!);
}
