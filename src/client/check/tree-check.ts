/**
 * The comparison behind `loft check`: a drive's snapshot (its mirror and its queued local changes)
 * against the server's live tree. Pure: two snapshots in, a report out; no I/O, no clock.
 *
 * Nodes are matched by server id, and compared by kind, place (parent id + name, so a moved folder
 * is one difference, not one per file below it), revision, and for files size and content (a digest
 * of the ordered block list: nothing is downloaded). What does not match is sorted into:
 *
 *   pending     the drive knows it is not in sync yet, and will get there by itself:
 *                 - a node with local changes (queued ops, dirty content, a temporary id, a
 *                   resync to fetch): its comparison waits (`unsettled`), its ops are listed;
 *                 - a server change newer than the drive's journal cursor (`notPulled`): the pull
 *                   has not reached it yet. "Newer" is decided by revision: the server says which
 *                   revision is the first one after the cursor (`firstUnseen`).
 *   stuck       queued ops set aside after failing again and again (listed, never silent);
 *   divergence  everything else: the mirror says the server holds X at revision r but it holds Y;
 *               a node in the mirror the server deleted (or never had) with nothing queued; a
 *               server node the mirror lacks although its cursor is past the node's revision.
 *
 * The drive is in sync when there is no divergence, nothing pending and nothing stuck.
 */
import { createHash } from 'node:crypto';
import type { NodeKind } from '../../shared/protocol.js';

/** One node of the drive's mirror. */
export interface LocalEntry {
  /** The drive's own key of the node (ties ops to nodes that have no server id yet). */
  localId: number;
  path: string;
  kind: NodeKind;
  /** The server's id of the node; null while it is only local (made here, not pushed yet). */
  serverId: number | null;
  /** The server id of its folder (null for the root, or while the folder is only local). */
  parentServerId: number | null;
  name: string;
  /** The server revision the drive last saw of the node (0 when never on the server). */
  rev: number;
  size: number;
  /** `contentDigest` of the file's block list; null for folders. */
  content: string | null;
  /** Local content not yet committed (open for writing, or staged). */
  dirty: boolean;
}

export type PendingOpKind = 'commit' | 'mkdir' | 'move' | 'delete';

/** A queued local change (the outbox). */
export interface PendingOp {
  op: PendingOpKind;
  path: string;
  /** move: the target path. */
  toPath: string | null;
  /** The node the op is for: its server id, or null while only local. */
  serverId: number | null;
  /** The drive's own key of the node (ties ops to nodes that have no server id yet). */
  localId: number;
  /** Server ids of nodes whose queued deletes this (folder) delete carries along. */
  absorbed: number[];
  attempts: number;
  error: string | null;
  /** Set aside since (ms) after failing again and again; null while in line. */
  stuckSince: number | null;
}

/** What the drive holds: one consistent read of its mirror and outbox. */
export interface DriveSnapshot {
  server: string;
  user: string;
  /** The journal cursor the mirror stands at (opaque; the server tells what follows it). */
  cursor: string;
  /** True once the first full pull completed. */
  synced: boolean;
  /** Every node, the root (path "/") included. */
  entries: LocalEntry[];
  ops: PendingOp[];
  /** Server ids whose server state the drive skipped and will fetch again (resync). */
  resync: number[];
}

/** One live node of the server's tree. */
export interface ServerEntry {
  serverId: number;
  /** null for the root. */
  parentId: number | null;
  name: string;
  kind: NodeKind;
  rev: number;
  size: number;
  content: string | null;
  /**
   * The root of a shared folder, placed where the user's tree shows it. Its revision is not
   * compared: a move of the user's placement has no revision of its own in the folder's
   * namespace, and the view journal gives the drive a newer one (server/http/view-journal.ts).
   */
  mountRoot?: boolean;
}

/** What the server holds, read after the drive's snapshot. */
export interface ServerSnapshot {
  entries: ServerEntry[];
  /**
   * The first revision after the drive's cursor, or null when the journal holds nothing after it
   * (everything in `entries` is then at or before the cursor). Read after `entries`.
   */
  firstUnseen: number | null;
  /**
   * For mirror nodes the live tree lacks: the revision of their latest change on the server (their
   * delete), or null when the server knows no such node (or it was not looked up).
   */
  gone: ReadonlyMap<number, number | null>;
  /**
   * Nodes of the shared folders the user mounts (their revisions are numbered by their own
   * namespace, so `firstUnseen` says nothing of them), and those of them the journal after the
   * drive's cursor names (the pull has not reached their latest change).
   */
  shared?: ReadonlySet<number>;
  unseenIds?: ReadonlySet<number>;
}

export type DifferenceKind =
  /** On the server, not in the drive (at a cursor that should include it). */
  | 'missing'
  /** In the drive, not on the server, and nothing queued to send it. */
  | 'extra'
  /** Folder on one side, file on the other. */
  | 'kind'
  /** Another revision than the server's current one. */
  | 'revision'
  /** Same revision, other size or block list. */
  | 'content'
  /** Same revision and content, another place (folder or name). */
  | 'place';

export interface Side {
  path: string;
  kind: NodeKind;
  rev: number;
  size: number;
}

export interface Difference {
  kind: DifferenceKind;
  /** The drive's path when it has the node, else the server's. */
  path: string;
  local: Side | null;
  server: Side | null;
  /**
   * `extra` of a node the server had: the revision that deleted it there, or null when the server
   * knows no such node (any more). Absent for a node made here and never sent.
   */
  deletedAt?: number | null;
}

export interface NotPulled {
  path: string;
  /** The server revision the pull has not reached yet (a delete's revision for a deleted node). */
  rev: number;
  deleted: boolean;
}

export interface CheckReport {
  /** Nodes (the root aside) that match on both sides. */
  matching: number;
  differences: Difference[];
  /** Queued local changes in line (not stuck), and dirty files with nothing queued yet ('write'). */
  pending: {
    op: PendingOpKind | 'write';
    path: string;
    toPath: string | null;
    attempts: number;
    error: string | null;
  }[];
  /** Server changes the drive's pull has not reached yet. */
  notPulled: NotPulled[];
  /** Queued ops set aside after failing again and again. */
  stuck: {
    op: PendingOpKind;
    path: string;
    toPath: string | null;
    error: string | null;
    since: number;
    attempts: number;
  }[];
  /** Nodes whose comparison waits for local changes or a resync (they differ for now). */
  unsettled: number;
  /** Nodes the drive will fetch again from the server (resync). */
  resync: number;
  inSync: boolean;
}

/**
 * The digest both sides give a file's ordered block list: `hash:size` for one block (most files:
 * no hashing, the snapshot of a big drive is read faster), else the SHA-256 of its `hash:size`
 * lines (64 hex digits, never containing the ':' of the one-block form).
 */
export function contentDigest(blocks: readonly { hash: string; size: number }[]): string {
  if (blocks.length === 1) return `${blocks[0]!.hash}:${blocks[0]!.size}`;
  const h = createHash('sha256');
  for (const b of blocks) h.update(`${b.hash}:${b.size}\n`);
  return h.digest('hex');
}

export function compareTrees(local: DriveSnapshot, server: ServerSnapshot): CheckReport {
  const unseen = (rev: number, id: number | null) =>
    id !== null && server.shared?.has(id)
      ? !!server.unseenIds?.has(id)
      : server.firstUnseen !== null && rev >= server.firstUnseen;
  const byServerId = new Map<number, ServerEntry>();
  for (const s of server.entries) byServerId.set(s.serverId, s);
  const localByServerId = new Map<number, LocalEntry>();
  for (const l of local.entries) if (l.serverId !== null) localByServerId.set(l.serverId, l);

  // Nodes with queued ops, by both keys; nodes a queued delete removes (with what it carries).
  const opLocalIds = new Set<number>();
  const opServerIds = new Set<number>();
  const deleted = new Set<number>();
  for (const o of local.ops) {
    opLocalIds.add(o.localId);
    if (o.serverId !== null) opServerIds.add(o.serverId);
    if (o.op === 'delete') {
      if (o.serverId !== null) deleted.add(o.serverId);
      for (const id of o.absorbed) deleted.add(id);
    }
  }
  for (const id of deleted) opServerIds.add(id);
  const resync = new Set(local.resync);
  // A node only made here counts as pending only with something queued (or dirty) to send it.
  const isLocal = (l: LocalEntry) =>
    l.dirty ||
    opLocalIds.has(l.localId) ||
    (l.serverId !== null && (opServerIds.has(l.serverId) || resync.has(l.serverId)));

  const serverPath = pathsOf(server.entries);
  const sideOf = (e: LocalEntry | ServerEntry, path: string): Side => ({
    path,
    kind: e.kind,
    rev: e.rev,
    size: e.kind === 'dir' ? 0 : e.size,
  });

  const report: CheckReport = {
    matching: 0,
    differences: [],
    pending: [],
    notPulled: [],
    stuck: [],
    unsettled: 0,
    resync: resync.size,
    inSync: false,
  };

  for (const s of server.entries) {
    if (s.parentId === null) continue; // the root: the same on both sides by construction
    const l = localByServerId.get(s.serverId);
    const sPath = serverPath(s.serverId);
    if (l) {
      const kind = differenceKind(l, s);
      if (!kind) report.matching++;
      else if (isLocal(l)) report.unsettled++;
      else if (unseen(s.rev, s.serverId)) report.notPulled.push({ path: sPath, rev: s.rev, deleted: false });
      else
        report.differences.push({
          kind,
          path: l.path,
          local: sideOf(l, l.path),
          server: sideOf(s, sPath),
        });
      continue;
    }
    if (unseen(s.rev, s.serverId)) {
      report.notPulled.push({ path: sPath, rev: s.rev, deleted: false });
    } else if (underAny(s, byServerId, (id) => deleted.has(id) || resync.has(id))) {
      report.unsettled++; // removed here (its delete queued), or skipped and to be fetched again
    } else {
      report.differences.push({ kind: 'missing', path: sPath, local: null, server: sideOf(s, sPath) });
    }
  }

  for (const l of local.entries) {
    if (l.path === '/') continue; // the root
    if (l.serverId !== null && byServerId.has(l.serverId)) continue;
    if (isLocal(l)) {
      report.unsettled++;
      continue;
    }
    // Made here with nothing queued to send it, or known to the server once and not live there now.
    const deletedAt = l.serverId === null ? null : (server.gone.get(l.serverId) ?? null);
    if (deletedAt !== null && unseen(deletedAt, l.serverId)) {
      report.notPulled.push({ path: l.path, rev: deletedAt, deleted: true });
      continue;
    }
    report.differences.push({
      kind: 'extra',
      path: l.path,
      local: sideOf(l, l.path),
      server: null,
      ...(l.serverId === null ? {} : { deletedAt }),
    });
  }

  for (const o of local.ops) {
    const item = { op: o.op, path: o.path, toPath: o.toPath, attempts: o.attempts, error: o.error };
    if (o.stuckSince !== null) report.stuck.push({ ...item, since: o.stuckSince });
    else report.pending.push(item);
  }
  // Dirty content with nothing queued yet: a file still open for writing.
  for (const l of local.entries)
    if (l.dirty && !opLocalIds.has(l.localId))
      report.pending.push({ op: 'write', path: l.path, toPath: null, attempts: 0, error: null });

  report.differences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  report.notPulled.sort((a, b) => a.rev - b.rev);
  report.inSync =
    report.differences.length === 0 &&
    report.pending.length === 0 &&
    report.stuck.length === 0 &&
    report.notPulled.length === 0 &&
    report.unsettled === 0 &&
    report.resync === 0;
  return report;
}

/** What differs between the two sides of one node, the most telling first; null when they match. */
function differenceKind(l: LocalEntry, s: ServerEntry): DifferenceKind | null {
  if (l.kind !== s.kind) return 'kind';
  if (l.rev !== s.rev && !s.mountRoot) return 'revision';
  if (l.kind === 'file' && (l.size !== s.size || l.content !== s.content)) return 'content';
  if (l.parentServerId !== s.parentId || l.name !== s.name) return 'place';
  return null;
}

/** True when the node or one of its folders (on the server) satisfies `test`. */
function underAny(
  s: ServerEntry,
  byId: ReadonlyMap<number, ServerEntry>,
  test: (id: number) => boolean,
): boolean {
  for (let at: ServerEntry | undefined = s, hops = 0; at && hops < 4096; hops++) {
    if (test(at.serverId)) return true;
    at = at.parentId === null ? undefined : byId.get(at.parentId);
  }
  return false;
}

/** Path of each server node from parent ids and names (memoised; "?" for an unknown parent). */
export function pathsOf(entries: readonly ServerEntry[]): (id: number) => string {
  const byId = new Map<number, ServerEntry>();
  for (const e of entries) byId.set(e.serverId, e);
  const memo = new Map<number, string>();
  const path = (id: number, depth = 0): string => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const e = byId.get(id);
    let p: string;
    if (!e) p = `/?${id}`;
    else if (e.parentId === null) p = '/';
    else if (depth > 4096) p = `/?${id}`;
    else {
      const parent = path(e.parentId, depth + 1);
      p = parent === '/' ? `/${e.name}` : `${parent}/${e.name}`;
    }
    memo.set(id, p);
    return p;
  };
  return (id) => path(id);
}
