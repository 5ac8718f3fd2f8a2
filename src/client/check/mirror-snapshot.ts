/**
 * The drive's side of `loft check`: one DriveSnapshot read from the Mirror, through its public
 * methods only (the one place that knows how the mirror keys its nodes; port this file when that
 * changes).
 *
 * Consistency: every Mirror read is synchronous (better-sqlite3) and the mirror's database is opened
 * by its process alone (locking_mode EXCLUSIVE), so a walk that never awaits sees one state of the
 * tree, outbox and cursor: nothing can change it between two reads. The cost is that the walk holds
 * the event loop of the mount for its duration (about a second per 100,000 nodes).
 *
 * Keys: nodes are matched with the server by their server id (null while the server does not have
 * the node); the local key is only reported, never compared.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '../../shared/errors.js';
import { Mirror } from '../mirror/mirror.js';
import { contentDigest, type DriveSnapshot, type LocalEntry } from './tree-check.js';

export function mirrorSnapshot(mirror: Mirror): DriveSnapshot {
  const identity = mirror.identity();
  if (!identity) throw new LoftError('NOT_FOUND', 'this drive has never synced with a server');
  const root = mirror.node(mirror.rootId);
  const entries: LocalEntry[] = [];
  if (root) {
    entries.push({
      localId: root.id,
      path: '/',
      kind: 'dir',
      serverId: root.serverId,
      parentServerId: null,
      name: '',
      rev: root.rev,
      size: 0,
      content: null,
      dirty: false,
    });
    // Depth first with an explicit stack: a deep tree must not overflow the JavaScript stack.
    const stack: { id: number; serverId: number | null; path: string }[] = [
      { id: root.id, serverId: root.serverId, path: '/' },
    ];
    while (stack.length) {
      const dir = stack.pop()!;
      const prefix = dir.path === '/' ? '/' : `${dir.path}/`;
      for (const n of mirror.children(dir.id)) {
        const path = prefix + n.name;
        entries.push({
          localId: n.id,
          path,
          kind: n.kind,
          serverId: n.serverId,
          parentServerId: dir.serverId,
          name: n.name,
          rev: n.rev,
          size: n.size,
          content: n.kind === 'file' ? contentDigest(mirror.blocks(n.id)) : null,
          dirty: n.staging !== null,
        });
        if (n.kind === 'dir') stack.push({ id: n.id, serverId: n.serverId, path });
      }
    }
  }
  return {
    server: identity.server,
    user: identity.user,
    cursor: mirror.cursor(),
    synced: mirror.synced,
    entries,
    ops: mirror.ops().map((o) => ({
      op: o.kind,
      path: o.path,
      toPath: o.toPath,
      serverId: o.serverId,
      localId: o.nodeId,
      absorbed: o.kind === 'delete' ? mirror.absorbed(o.seq).map(([id]) => id) : [],
      attempts: o.attempts,
      error: o.lastError,
      stuckSince: o.stuckSince,
    })),
    resync: mirror.resyncIds(),
  };
}

/**
 * The snapshot of a drive whose mount is not running, read from its state directory without
 * changing it: the mirror database (and its write-ahead log, after a crash) is copied to a private
 * temporary directory and opened there (opening runs the mirror's migrations, which must not touch
 * the drive's own files).
 */
export function stateDirSnapshot(state: string): DriveSnapshot {
  const db = path.join(state, 'mirror.db');
  if (!existsSync(db))
    throw new LoftError('NOT_FOUND', `${state} holds no drive (no mirror.db): mount it once first`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-check-'));
  try {
    copyFileSync(db, path.join(tmp, 'mirror.db'));
    if (existsSync(`${db}-wal`)) copyFileSync(`${db}-wal`, path.join(tmp, 'mirror.db-wal'));
    const mirror = new Mirror(path.join(tmp, 'mirror.db'));
    try {
      return mirrorSnapshot(mirror);
    } finally {
      mirror.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
