/**
 * Mirror: the device's local SQLite copy of the namespace tree (live nodes only), each file's block
 * list with byte offsets, the journal cursor, and the user's pins.
 *
 * Everything the drive answers without the network (getattr, readdir, statfs, a file's block map)
 * comes from here. Remote changes arrive as journal pages and are applied with `applyChanges` in one
 * transaction together with the new cursor, so a crash leaves either the old or the new state.
 *
 * Local changes (the write path) are applied here first and, in the same transaction, appended to
 * the outbox (`ops`): the queue of operations the push loop replays on the server in order. Each op
 * records the path it had when it was made, so replaying the ops in order on the server rebuilds the
 * tree this device saw. Nodes created locally have negative temporary ids until the server answers
 * with their real id (`remap`). A node with queued ops or dirty content (`staging`) is "local": remote
 * changes to it are not applied (the push will commit on top of them or make a conflicted copy), and
 * an older revision than the mirror holds is never applied (the echo of our own commits).
 *
 * Schema versioned with PRAGMA user_version, forward-only migrations.
 */
import Database from 'better-sqlite3';
import { LoftError } from '../../shared/errors.js';
import { MAX_DELETE_EXPECT, type BlockRef, type NodeKind, type Revision } from '../../shared/protocol.js';

export interface MirrorNode {
  id: number;
  parentId: number | null;
  name: string;
  kind: NodeKind;
  rev: number;
  size: number;
  mtime: number;
  mode: number;
  /** Last change of the node's metadata or content (ms): server time of its revision, or local. */
  ctime: number;
  /** Staging file name while the content has local changes not yet committed. */
  staging: string | null;
  /**
   * Access time set on this device (utimens), ms; null when never set here (it then reads as the
   * mtime). Device-local: the server does not carry atimes.
   */
  atime: number | null;
}

export type OpKind = 'commit' | 'mkdir' | 'move' | 'delete';

/** One queued local change (see the file comment). */
export interface Op {
  seq: number;
  kind: OpKind;
  nodeId: number;
  /** The node's path when the op was made (for move: the source). */
  path: string;
  /** move: the target path. */
  toPath: string | null;
  /** delete: the node's revision when it was removed here. */
  rev: number;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  /** Set aside since (ms) after failing again and again; null while it is in line. */
  stuckSince: number | null;
}

export interface BlockExtent {
  hash: string;
  offset: number;
  size: number;
}

/** Conflicted copies remembered for `loft status` (the newest). */
const MAX_CONFLICTS_KEPT = 100;

/** Most nodes memoised in memory (~100 bytes each). */
const NODE_CACHE_MAX = 200_000;
/** Most path → node id entries memoised (cleared whole when full or when the tree changes shape). */
const PATH_CACHE_MAX = 100_000;

const MIGRATIONS = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    rev INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    mode INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX nodes_name ON nodes(parent_id, name);
  CREATE TABLE blocks (
    node_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (node_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_hash ON blocks(hash);
  CREATE TABLE pins (node_id INTEGER PRIMARY KEY);
  `,
  `
  ALTER TABLE nodes ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE nodes ADD COLUMN staging TEXT;
  CREATE TABLE ops (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('commit', 'mkdir', 'move', 'delete')),
    node_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    to_path TEXT,
    rev INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX ops_node ON ops(node_id);
  `,
  `
  CREATE TABLE resync (id INTEGER PRIMARY KEY);
  `,
  // v4: a folder's delete absorbs the queued deletes of what lay in it (ops.into_seq: the seq of
  // the folder's delete, which sends them as one recursive delete). Absorbed rows stay in the table,
  // so remaps and revision bumps keep reaching them; the push loop skips them.
  `
  ALTER TABLE ops ADD COLUMN into_seq INTEGER;
  CREATE INDEX ops_into ON ops(into_seq) WHERE into_seq IS NOT NULL;
  `,
  // v5: device-local atimes; the partial index counts a folder's subfolders (its st_nlink) without
  // scanning its files.
  `
  ALTER TABLE nodes ADD COLUMN atime INTEGER;
  CREATE INDEX nodes_subdirs ON nodes(parent_id) WHERE kind = 'dir';
  `,
  // v6: ops set aside after failing again and again (stuck_since, ms): later ops of other nodes
  // go on; the stuck one keeps its data and is retried (see PushLoop).
  `
  ALTER TABLE ops ADD COLUMN stuck_since INTEGER;
  `,
];

/**
 * Most queued deletes one folder's delete absorbs (the server takes up to MAX_DELETE_EXPECT): past
 * it, the older deletes are sent on their own first.
 */
const MAX_ABSORBED_DELETES = Math.min(20_000, MAX_DELETE_EXPECT);
/** Ops looked at, newest first, when a folder's delete absorbs the deletes queued before it. */
const ABSORB_SCAN = MAX_ABSORBED_DELETES + 1;

interface NodeRow {
  id: number;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  rev: number;
  size: number;
  mtime: number;
  mode: number;
  ctime: number;
  staging: string | null;
  atime: number | null;
}

/** NodeRow's columns in order, as a raw (array) row. */
type RawNodeRow = [
  number,
  number | null,
  string,
  NodeKind,
  number,
  number,
  number,
  number,
  number,
  string | null,
  number | null,
];

interface OpRow {
  seq: number;
  kind: OpKind;
  node_id: number;
  path: string;
  to_path: string | null;
  rev: number;
  attempts: number;
  last_error: string | null;
  created_at: number;
  stuck_since: number | null;
}

const toOp = (r: OpRow): Op => ({
  seq: r.seq,
  kind: r.kind,
  nodeId: r.node_id,
  path: r.path,
  toPath: r.to_path,
  rev: r.rev,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at,
  stuckSince: r.stuck_since ?? null,
});

function toNode(r: NodeRow): MirrorNode {
  return {
    id: r.id,
    parentId: r.parent_id,
    name: r.name,
    kind: r.kind,
    rev: r.rev,
    size: r.size,
    mtime: r.mtime,
    mode: r.mode,
    ctime: r.ctime || r.mtime,
    staging: r.staging,
    atime: r.atime,
  };
}

export interface MirrorIdentity {
  server: string;
  user: string;
  ns: number;
  rootId: number;
}

export class Mirror {
  readonly #db: Database.Database;
  readonly #s;
  /** Memo of path → node id for hot lookups; cleared whenever the tree changes. */
  readonly #pathCache = new Map<string, number>();
  /**
   * Memo of id → node: getattr of a big directory asks for thousands of nodes in a row and a SQLite
   * read per call was the largest CPU cost of `ls -l` (profiled). Cleared whenever the tree changes.
   */
  readonly #nodeCache = new Map<number, MirrorNode>();
  #rootId = 0;

  constructor(filename: string) {
    this.#db = new Database(filename);
    // Exclusive: only this process opens it. Set before WAL mode, it keeps the WAL index in heap
    // memory instead of a mmapped -shm file, whose pages fault with SIGBUS (killing the drive)
    // when the disk is full.
    this.#db.pragma('locking_mode = EXCLUSIVE');
    this.#db.pragma('journal_mode = WAL');
    // NORMAL (WAL): every committed transaction survives a crash of the process; the durability
    // points of the write path (close, fsync: queueCommit) switch to FULL, which also syncs every
    // earlier transaction of the WAL. Measured: an fsync per mkdir/create/rename cost ~1-3 ms each.
    this.#db.pragma('synchronous = NORMAL');
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length)
      throw new LoftError('CORRUPT', `mirror database is from a newer Loft (v${version})`);
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.#db.transaction(() => {
        this.#db.exec(MIGRATIONS[v]!);
        this.#db.pragma(`user_version = ${v + 1}`);
      })();
    }
    const db = this.#db;
    this.#s = {
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      node: db.prepare('SELECT * FROM nodes WHERE id = ?'),
      child: db.prepare('SELECT * FROM nodes WHERE parent_id = ? AND name = ?'),
      children: db
        .prepare(
          'SELECT id, parent_id, name, kind, rev, size, mtime, mode, ctime, staging, atime FROM nodes WHERE parent_id = ? ORDER BY name',
        )
        .raw(true),
      childIds: db.prepare('SELECT id FROM nodes WHERE parent_id = ?'),
      upsert: db.prepare(
        `INSERT INTO nodes (id, parent_id, name, kind, rev, size, mtime, mode, ctime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind,
           rev = excluded.rev, size = excluded.size, mtime = excluded.mtime, mode = excluded.mode, ctime = excluded.ctime`,
      ),
      minId: db.prepare('SELECT min(id) AS id FROM nodes'),
      setLocal: db.prepare(
        'UPDATE nodes SET size = ?, mtime = ?, mode = ?, ctime = ?, staging = ? WHERE id = ?',
      ),
      setRev: db.prepare('UPDATE nodes SET rev = ? WHERE id = ?'),
      setAtime: db.prepare('UPDATE nodes SET atime = ? WHERE id = ?'),
      subdirs: db.prepare("SELECT count(*) AS n FROM nodes WHERE parent_id = ? AND kind = 'dir'").pluck(),
      move: db.prepare('UPDATE nodes SET parent_id = ?, name = ?, ctime = ? WHERE id = ?'),
      // A folder whose entries changed here: its mtime and ctime move (device-local, see Vfs).
      touchDir: db.prepare('UPDATE nodes SET mtime = @t, ctime = @t WHERE id = @id'),
      remapNode: db.prepare('UPDATE nodes SET id = ? WHERE id = ?'),
      remapChildren: db.prepare('UPDATE nodes SET parent_id = ? WHERE parent_id = ?'),
      remapBlocks: db.prepare('UPDATE blocks SET node_id = ? WHERE node_id = ?'),
      remapPins: db.prepare('UPDATE pins SET node_id = ? WHERE node_id = ?'),
      remapOps: db.prepare('UPDATE ops SET node_id = ? WHERE node_id = ?'),
      bumpOpRev: db.prepare("UPDATE ops SET rev = ? WHERE node_id = ? AND kind = 'delete' AND rev < ?"),
      opsFor: db.prepare('SELECT 1 FROM ops WHERE node_id = ? LIMIT 1'),
      deleteQueued: db.prepare("SELECT 1 FROM ops WHERE node_id = ? AND kind = 'delete' LIMIT 1"),
      markResync: db.prepare('INSERT INTO resync (id) VALUES (?) ON CONFLICT DO NOTHING'),
      // ops under a moved path: path = to || rest (rest starts at the '/' after the old prefix)
      rebaseOpPaths: db.prepare(
        'UPDATE ops SET path = @to || substr(path, @cut) WHERE path = @from OR substr(path, 1, length(@prefix)) = @prefix',
      ),
      rebaseOpToPaths: db.prepare(
        'UPDATE ops SET to_path = @to || substr(to_path, @cut) WHERE to_path = @from OR substr(to_path, 1, length(@prefix)) = @prefix',
      ),
      laterMove: db.prepare("SELECT 1 FROM ops WHERE node_id = ? AND kind = 'move' AND seq > ? LIMIT 1"),
      resyncIds: db.prepare('SELECT id FROM resync ORDER BY id'),
      resyncDone: db.prepare('DELETE FROM resync WHERE id = ?'),
      queuedCommit: db.prepare("SELECT seq FROM ops WHERE node_id = ? AND kind = 'commit' AND seq > ?"),
      insertOp: db.prepare(
        'INSERT INTO ops (kind, node_id, path, to_path, rev, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq',
      ),
      headOp: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq LIMIT 1'),
      allOps: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq'),
      opDone: db.prepare('DELETE FROM ops WHERE seq = ? OR into_seq = ?'),
      opFailed: db.prepare(
        'UPDATE ops SET attempts = attempts + 1, last_error = ? WHERE seq = ? RETURNING attempts',
      ),
      inLine: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq'),
      markStuck: db.prepare('UPDATE ops SET stuck_since = ? WHERE seq = ?'),
      unstickAll: db.prepare('UPDATE ops SET stuck_since = NULL WHERE stuck_since IS NOT NULL'),
      stuckOps: db.prepare('SELECT * FROM ops WHERE stuck_since IS NOT NULL ORDER BY seq'),
      opCount: db.prepare('SELECT count(*) AS n FROM ops WHERE into_seq IS NULL'),
      tailOps: db.prepare(
        'SELECT seq, kind, node_id, path FROM ops WHERE into_seq IS NULL AND seq < ? ORDER BY seq DESC LIMIT ?',
      ),
      opNode: db.prepare('SELECT node_id FROM ops WHERE seq = ?'),
      absorbedCount: db.prepare('SELECT count(*) AS n FROM ops WHERE into_seq = ?'),
      absorb: db.prepare('UPDATE ops SET into_seq = @into WHERE seq = @seq OR into_seq = @seq'),
      absorbed: db.prepare('SELECT node_id, rev FROM ops WHERE into_seq = ? AND node_id > 0 ORDER BY seq'),
      stagedNodes: db.prepare('SELECT * FROM nodes WHERE staging IS NOT NULL'),
      deleteByName: db.prepare('DELETE FROM nodes WHERE parent_id = ? AND name = ? AND id != ? RETURNING id'),
      deleteNode: db.prepare('DELETE FROM nodes WHERE id = ?'),
      deleteBlocks: db.prepare('DELETE FROM blocks WHERE node_id = ?'),
      deletePin: db.prepare('DELETE FROM pins WHERE node_id = ?'),
      insertBlock: db.prepare('INSERT INTO blocks (node_id, idx, hash, offset, size) VALUES (?, ?, ?, ?, ?)'),
      blocks: db.prepare('SELECT hash, offset, size FROM blocks WHERE node_id = ? ORDER BY idx'),
      blocksIn: db.prepare(
        'SELECT hash, offset, size FROM blocks WHERE node_id = ? AND offset < ? AND offset + size > ? ORDER BY idx',
      ),
      hashRefs: db.prepare('SELECT 1 FROM blocks WHERE hash = ? LIMIT 1'),
      count: db.prepare(
        "SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM nodes WHERE kind = 'file'",
      ),
      pin: db.prepare('INSERT INTO pins (node_id) VALUES (?) ON CONFLICT DO NOTHING'),
      unpinAll: db.prepare('DELETE FROM pins WHERE node_id = ?'),
      pins: db.prepare('SELECT node_id FROM pins'),
      pinnedFiles: db.prepare(
        `WITH RECURSIVE sub(id) AS (SELECT node_id FROM pins UNION SELECT n.id FROM nodes n JOIN sub ON n.parent_id = sub.id)
         SELECT n.* FROM nodes n JOIN sub ON n.id = sub.id WHERE n.kind = 'file'`,
      ),
    };
    const root = this.#s.getMeta.get('rootId') as { value: string } | undefined;
    if (root) this.#rootId = Number(root.value);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // ---- identity and cursor --------------------------------------------------------------------------

  identity(): MirrorIdentity | null {
    const get = (k: string) => (this.#s.getMeta.get(k) as { value: string } | undefined)?.value;
    const server = get('server');
    const user = get('user');
    const ns = get('ns');
    const rootId = get('rootId');
    if (!server || !user || !ns || !rootId) return null;
    return { server, user, ns: Number(ns), rootId: Number(rootId) };
  }

  /** Binds an empty mirror to a server namespace and creates its root. */
  initialize(id: MirrorIdentity): void {
    this.#db.transaction(() => {
      this.#s.setMeta.run('server', id.server);
      this.#s.setMeta.run('user', id.user);
      this.#s.setMeta.run('ns', String(id.ns));
      this.#s.setMeta.run('rootId', String(id.rootId));
      this.#s.upsert.run(id.rootId, null, '', 'dir', 0, 0, Date.now(), 0o755, Date.now());
    })();
    this.#rootId = id.rootId;
    this.#nodeCache.clear();
  }

  get rootId(): number {
    return this.#rootId;
  }

  cursor(): string {
    return (this.#s.getMeta.get('cursor') as { value: string } | undefined)?.value ?? '';
  }

  /** True once the first full pull has completed. */
  get synced(): boolean {
    return !!this.#s.getMeta.get('synced');
  }

  // ---- reads --------------------------------------------------------------------------------------

  node(id: number): MirrorNode | null {
    const hit = this.#nodeCache.get(id);
    if (hit) return hit;
    const r = this.#s.node.get(id) as NodeRow | undefined;
    if (!r) return null;
    const n = toNode(r);
    if (this.#nodeCache.size >= NODE_CACHE_MAX) this.#nodeCache.clear();
    this.#nodeCache.set(id, n);
    return n;
  }

  /** Resolves an absolute path ("/a/b"); null when any component is missing. */
  lookup(path: string): MirrorNode | null {
    const cached = this.#pathCache.get(path);
    if (cached !== undefined) {
      const n = this.node(cached);
      if (n) return n;
    }
    if (path === '/') return this.node(this.#rootId);
    // Usually the folder is known (it was just listed or looked up): one query for the last name.
    const slash = path.lastIndexOf('/');
    const parentId = slash === 0 ? this.#rootId : this.#pathCache.get(path.slice(0, slash));
    let id = parentId ?? this.#rootId;
    let row: NodeRow | undefined;
    for (const part of parentId === undefined ? path.slice(1).split('/') : [path.slice(slash + 1)]) {
      row = this.#s.child.get(id, part) as NodeRow | undefined;
      if (!row) return null;
      id = row.id;
    }
    if (this.#pathCache.size >= PATH_CACHE_MAX) this.#pathCache.clear();
    this.#pathCache.set(path, id);
    return row ? toNode(row) : null;
  }

  /** Live children of a folder, by name. Rows come as arrays: half the cost of row objects. */
  children(dirId: number): MirrorNode[] {
    return (this.#s.children.all(dirId) as RawNodeRow[]).map(
      ([id, parentId, name, kind, rev, size, mtime, mode, ctime, staging, atime]) => ({
        id,
        parentId,
        name,
        kind,
        rev,
        size,
        mtime,
        mode,
        ctime: ctime || mtime,
        staging,
        atime,
      }),
    );
  }

  /**
   * A folder's children for a directory read through the kernel, remembered by path for the
   * lookups that follow a listing (`ls -l` looks up every name it was just given).
   */
  entries(dirId: number, dirPath: string): MirrorNode[] {
    const nodes = this.children(dirId);
    if (nodes.length <= PATH_CACHE_MAX / 4) {
      const prefix = dirPath === '/' ? '/' : `${dirPath}/`;
      if (this.#pathCache.size + nodes.length > PATH_CACHE_MAX) this.#pathCache.clear();
      if (this.#nodeCache.size + nodes.length > NODE_CACHE_MAX) this.#nodeCache.clear();
      for (const n of nodes) {
        this.#pathCache.set(prefix + n.name, n.id);
        this.#nodeCache.set(n.id, n);
      }
    }
    return nodes;
  }

  blocks(fileId: number): BlockExtent[] {
    return this.#s.blocks.all(fileId) as BlockExtent[];
  }

  /** How many folders a folder holds (its st_nlink is 2 more). */
  subdirCount(dirId: number): number {
    return this.#s.subdirs.get(dirId) as number;
  }

  /** The file's blocks that hold bytes [from, to) (a first read needs only these). */
  blocksIn(fileId: number, from: number, to: number): BlockExtent[] {
    return this.#s.blocksIn.all(fileId, to, from) as BlockExtent[];
  }

  /** True when some live file still references the block. */
  referenced(hash: string): boolean {
    return !!this.#s.hashRefs.get(hash);
  }

  stats(): { files: number; bytes: number } {
    return this.#s.count.get() as { files: number; bytes: number };
  }

  /** Path of a node from the root ("/a/b"), or null if it is not in the tree. */
  pathOf(id: number): string | null {
    const parts: string[] = [];
    let n = this.node(id);
    while (n && n.parentId !== null) {
      parts.push(n.name);
      n = this.node(n.parentId);
    }
    if (!n) return null;
    return '/' + parts.reverse().join('/');
  }

  // ---- pins ---------------------------------------------------------------------------------------

  pin(id: number): void {
    this.#s.pin.run(id);
  }

  unpin(id: number): void {
    this.#s.unpinAll.run(id);
  }

  pinnedIds(): Set<number> {
    return new Set((this.#s.pins.all() as { node_id: number }[]).map((r) => r.node_id));
  }

  /** Every live file that is pinned itself or lies below a pinned directory. */
  pinnedFiles(): MirrorNode[] {
    return (this.#s.pinnedFiles.all() as NodeRow[]).map(toNode);
  }

  /** True when the node or one of its ancestors is pinned. */
  isPinned(id: number, pins: ReadonlySet<number> = this.pinnedIds()): boolean {
    if (pins.size === 0) return false;
    for (let n = this.node(id); n; n = n.parentId === null ? null : this.node(n.parentId)) {
      if (pins.has(n.id)) return true;
    }
    return false;
  }

  // ---- remote changes -------------------------------------------------------------------------------

  /**
   * Applies one journal page and stores its cursor, in one transaction. Returns the hashes that
   * files no longer reference (their cached copies become evictable).
   *
   * Skipped: entries not newer than the node's revision here (the echo of this device's own
   * commits), entries for local nodes (see the file comment), entries whose name is held by a local
   * node, entries whose parent this device has deleted, and deletes of a directory that holds local
   * nodes (the local change re-creates the path when it is pushed).
   */
  applyChanges(entries: readonly Revision[], cursor: string, complete: boolean): { released: string[] } {
    const released: string[] = [];
    this.#db.transaction(() => {
      for (const e of entries) this.#applyOne(e, released);
      this.#s.setMeta.run('cursor', cursor);
      if (complete) this.#s.setMeta.run('synced', '1');
    })();
    if (entries.length) this.#changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)) };
  }

  /** Applies server revisions fetched outside the journal (the skip rules hold; the cursor stays). */
  mergeRemote(entries: readonly Revision[]): void {
    const released: string[] = [];
    this.#db.transaction(() => {
      for (const e of entries) this.#applyOne(e, released);
    })();
    if (entries.length) this.#changed();
  }

  /** Puts one server revision into the mirror as it is (after a conflict, the server's version). */
  putRemote(e: Revision): void {
    const released: string[] = [];
    this.#db.transaction(() => this.#applyOne(e, released, true))();
    this.#changed();
  }

  /**
   * Told each path a server revision changes here, as it was and as it is (moved, deleted, content
   * or attributes changed, created), while the revision is applied: the mount drops the kernel's
   * cached entries for them (src/client/fuse/kernel-cache.ts). Called inside transactions: it must
   * only record the path. Set by the composition root once the drive is mounted.
   */
  onRemotePath: ((path: string) => void) | null = null;

  /**
   * Called (inside the change, before it) when a file's block list is about to be replaced or
   * removed: a reader that opened the file and has not read its block list yet takes it now, so it
   * keeps the revision it opened (the drive loads block lists lazily: opening a 20 GB file must not
   * cost a 20,000-row query).
   */
  onBlocksChange: ((id: number) => void) | null = null;

  #applyOne(e: Revision, released: string[], force = false): void {
    if (e.parentId === null) return; // the root never changes shape
    const existing = this.#s.node.get(e.id) as NodeRow | undefined;
    if (existing && !force && existing.rev >= e.rev) return; // not newer (our own echo)
    // Skipped entries are remembered: once this device's own changes to the node are pushed, the
    // push loop fetches the node's server state again (resync), so nothing skipped is lost.
    const skip = () => void this.#s.markResync.run(e.id);
    if (existing && !force && this.#isLocal(existing)) return skip();
    // Removed here, its delete not pushed yet: an older change of it (say its own create, echoed)
    // must not bring it back meanwhile.
    if (!existing && !force && this.#s.deleteQueued.get(e.id)) return skip();
    if (e.deleted) {
      if (existing && this.#holdsLocal(existing.id)) return skip();
      if (existing) this.#reportPath(e.id);
      this.#removeSubtree(e.id, released);
      return;
    }
    if (!this.#s.node.get(e.parentId)) return skip();
    // A move under the node itself or one of its descendants here (both devices moved directories
    // into each other): applying it would cut both off the root. The push of our move fails on the
    // server (a cycle), and the resync then takes the server's tree.
    if (existing && this.#isUnder(e.parentId, e.id)) return skip();
    const holder = this.#s.child.get(e.parentId, e.name) as NodeRow | undefined;
    if (holder && holder.id !== e.id) {
      if (this.#holdsLocal(holder.id)) return skip();
      // A live node elsewhere under this name is stale (its delete is later in this page or lost):
      // the server's order is authoritative, so the newcomer takes the name.
      this.#removeSubtree(holder.id, released, true);
      this.#s.deleteNode.run(holder.id);
    }
    const from =
      existing && (existing.parent_id !== e.parentId || existing.name !== e.name)
        ? this.#rawPath(e.id)
        : null;
    this.#s.upsert.run(e.id, e.parentId, e.name, e.kind, e.rev, e.size, e.mtime, e.mode, e.time);
    if (from) this.onRemotePath?.(from);
    this.#reportPath(e.id);
    // Moved elsewhere: queued ops name paths in the tree as it was; what lies below the moved node
    // is now elsewhere on the server too, so their paths follow it.
    if (from) this.#rebaseOps(from, this.#rawPath(e.id));
    const contentChanged = !existing || e.op === 'create' || e.op === 'commit' || force;
    if (e.kind === 'file' && e.blocks && contentChanged) this.#setBlocks(e.id, e.blocks, released);
    this.#s.resyncDone.run(e.id);
  }

  #reportPath(id: number): void {
    if (!this.onRemotePath) return;
    const p = this.#rawPath(id);
    if (p) this.onRemotePath(p);
  }

  /** The node's path from the database itself (inside transactions, past the caches). */
  #rawPath(id: number): string | null {
    const parts: string[] = [];
    let r = this.#s.node.get(id) as NodeRow | undefined;
    for (let hops = 0; r && r.parent_id !== null && hops < 4096; hops++) {
      parts.push(r.name);
      r = this.#s.node.get(r.parent_id) as NodeRow | undefined;
    }
    return r && r.parent_id === null ? '/' + parts.reverse().join('/') : null;
  }

  /** True when `id` is `ancestor` or below it here. */
  #isUnder(id: number, ancestor: number): boolean {
    for (let at: number | null = id, hops = 0; at !== null && hops < 4096; hops++) {
      if (at === ancestor) return true;
      at = (this.#s.node.get(at) as NodeRow | undefined)?.parent_id ?? null;
    }
    return false;
  }

  /**
   * After this device's move was applied on the server: the node stands where the server put it
   * (a conflicted copy made meanwhile renamed it here only), unless a later local move of it is
   * still queued or the place is not free here (then a resync settles it).
   */
  /** True when an op of the node waits in the outbox. */
  hasOps(id: number): boolean {
    return !!this.#s.opsFor.get(id);
  }

  /** True when a move of the node queued after op `seq` waits in the outbox. */
  movedLater(id: number, seq: number): boolean {
    return !!this.#s.laterMove.get(id, seq);
  }

  adoptPlacement(id: number, parentId: number | null, name: string, seq: number): void {
    const n = this.#s.node.get(id) as NodeRow | undefined;
    if (!n || parentId === null || (n.parent_id === parentId && n.name === name)) return;
    if (this.#s.laterMove.get(id, seq)) return;
    const holder = this.#s.child.get(parentId, name) as NodeRow | undefined;
    if (!this.#s.node.get(parentId) || this.#isUnder(parentId, id) || (holder && holder.id !== id)) {
      this.#s.markResync.run(id);
      return;
    }
    const from = this.#rawPath(id);
    this.#s.move.run(parentId, name, Date.now(), id);
    this.#rebaseOps(from, this.#rawPath(id));
    // Placed as the server has it: the kernel forgets the old name (and learns the new one).
    if (from) this.onRemotePath?.(from);
    this.#reportPath(id);
    this.#changed();
  }

  /** Queued ops name paths as the tree was: those at or below `from` now lie below `to`. */
  #rebaseOps(from: string | null, to: string | null): void {
    if (!from || !to || from === to) return;
    const args = { to, cut: from.length + 1, from, prefix: from + '/' };
    this.#s.rebaseOpPaths.run(args);
    this.#s.rebaseOpToPaths.run(args);
  }

  /** Nodes whose server state must be fetched again (see #applyOne). */
  resyncIds(): number[] {
    return (this.#s.resyncIds.all() as { id: number }[]).map((r) => r.id);
  }

  /** Marks a node for resync (e.g. a local move the server refused: the server's placement wins). */
  markResync(id: number): void {
    this.#s.markResync.run(id);
  }

  /** True when the node (or something below it) still has local changes: its resync must wait. */
  holdsLocal(id: number): boolean {
    return this.#holdsLocal(id);
  }

  /**
   * Applies the server's current state of a node fetched for a resync: live → placed and filled as
   * the server has it (unless that would make a cycle or its parent is unknown here); deleted or
   * unknown on the server (null) → removed here. The node leaves the resync set.
   */
  resync(id: number, e: Revision | null): { released: string[] } {
    const released: string[] = [];
    this.#db.transaction(() => {
      this.#s.resyncDone.run(id);
      const existing = this.#s.node.get(id) as NodeRow | undefined;
      if (existing && this.#holdsLocal(id)) return;
      if (!e || e.deleted) {
        if (existing) {
          this.#reportPath(id);
          this.#removeSubtree(id, released);
        }
        return;
      }
      if (e.parentId === null || !this.#s.node.get(e.parentId) || this.#isUnder(e.parentId, id)) return;
      this.#applyOne(e, released, true);
    })();
    this.#changed();
    this.#nodeCache.delete(id);
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)) };
  }

  #setBlocks(id: number, blocks: readonly BlockRef[], released: string[]): void {
    this.onBlocksChange?.(id);
    for (const b of this.blocks(id)) released.push(b.hash);
    this.#s.deleteBlocks.run(id);
    let offset = 0;
    blocks.forEach((b, i) => {
      this.#s.insertBlock.run(id, i, b.hash, offset, b.size);
      offset += b.size;
    });
  }

  #isLocal(r: NodeRow): boolean {
    return r.id < 0 || r.staging !== null || !!this.#s.opsFor.get(r.id);
  }

  /** True when the node or anything below it is local. */
  #holdsLocal(id: number): boolean {
    const r = this.#s.node.get(id) as NodeRow | undefined;
    if (!r) return false;
    if (this.#isLocal(r)) return true;
    for (const { id: child } of this.#s.childIds.all(id) as { id: number }[])
      if (this.#holdsLocal(child)) return true;
    return false;
  }

  #changed(): void {
    this.#pathCache.clear();
    this.#nodeCache.clear();
  }

  #removeSubtree(id: number, released: string[], alreadyDeleted = false, staged?: string[]): void {
    for (const { id: child } of this.#s.childIds.all(id) as { id: number }[])
      this.#removeSubtree(child, released, false, staged);
    if (staged) {
      const r = this.#s.node.get(id) as NodeRow | undefined;
      if (r?.staging) staged.push(r.staging);
    }
    this.onBlocksChange?.(id);
    for (const b of this.blocks(id)) released.push(b.hash);
    this.#s.deleteBlocks.run(id);
    // A node displaced from its name (alreadyDeleted) may come back with the same id later in the
    // page (a page applied twice): keep its pin. Pins of nodes that no longer exist match no file.
    if (!alreadyDeleted) {
      this.#s.deletePin.run(id);
      this.#s.deleteNode.run(id);
    }
  }

  // ---- local changes (the write path) -----------------------------------------------------------------

  /** Seq of the op the push loop is working on: a new commit is not coalesced into it. */
  pushing = 0;

  /** Creates a node with a temporary id; a directory's mkdir is queued at once, a file's commit on close. */
  createLocal(
    parentId: number,
    name: string,
    kind: NodeKind,
    mode: number,
    mtime: number,
    path: string,
    staging: string | null,
  ): MirrorNode {
    const id = this.#db
      .transaction(() => {
        // Never reused: queued ops of a removed local node must not apply to a new one.
        const last = Number((this.#s.getMeta.get('lastTempId') as { value: string } | undefined)?.value ?? 0);
        const min = (this.#s.minId.get() as { id: number | null }).id ?? 0;
        const id = Math.min(-1, last - 1, min - 1);
        this.#s.setMeta.run('lastTempId', String(id));
        this.#s.upsert.run(id, parentId, name, kind, 0, 0, mtime, mode, Date.now());
        this.#s.touchDir.run({ t: mtime, id: parentId });
        if (staging !== null) this.#s.setLocal.run(0, mtime, mode, Date.now(), staging, id);
        if (kind === 'dir') this.#s.insertOp.run('mkdir', id, path, null, 0, Date.now());
        return id;
      })
      .immediate();
    this.#changed();
    return this.node(id)!;
  }

  /** Updates a node's local attributes (no op queued: see queueCommit). */
  updateLocal(
    id: number,
    f: Partial<Pick<MirrorNode, 'size' | 'mtime' | 'mode' | 'ctime' | 'staging'>>,
  ): void {
    const n = this.node(id);
    if (!n) return;
    const v = { ...n, ...f };
    this.#s.setLocal.run(v.size, v.mtime, v.mode, v.ctime, v.staging, id);
    this.#nodeCache.delete(id);
  }

  /** Sets a node's device-local access time (ms); nothing is queued, the server keeps no atime. */
  setAtime(id: number, atime: number): void {
    this.#s.setAtime.run(atime, id);
    this.#nodeCache.delete(id);
  }

  /**
   * Records that the node's content or attributes must be committed (optionally updating them in
   * the same transaction). A commit already queued and not yet started covers it (coalescing).
   */
  queueCommit(
    id: number,
    path: string,
    f: Partial<Pick<MirrorNode, 'size' | 'mtime' | 'mode' | 'ctime' | 'staging'>> = {},
  ): void {
    this.#db.pragma('synchronous = FULL');
    try {
      this.#db
        .transaction(() => {
          this.updateLocal(id, f);
          if (!this.#s.queuedCommit.get(id, this.pushing))
            this.#s.insertOp.run('commit', id, path, null, 0, Date.now());
        })
        .immediate();
    } finally {
      this.#db.pragma('synchronous = NORMAL');
    }
  }

  /**
   * Removes a node and its subtree and queues the delete. Returns the block hashes no file references
   * any more and the staging files of the removed nodes.
   */
  removeLocal(id: number, path: string, now = Date.now()): { released: string[]; staged: string[] } {
    const released: string[] = [];
    const staged: string[] = [];
    this.#db
      .transaction(() => {
        const node = this.#s.node.get(id) as NodeRow | undefined;
        this.#removeSubtree(id, released, false, staged);
        if (node?.parent_id != null) this.#s.touchDir.run({ t: now, id: node.parent_id });
        const { seq } = this.#s.insertOp.get('delete', id, path, null, node?.rev ?? 0, Date.now()) as {
          seq: number;
        };
        if (node?.kind === 'dir') this.#absorbDeletes(seq, path);
      })
      .immediate();
    this.#changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)), staged };
  }

  /**
   * `rm -rf` removes what a folder holds one by one, then the folder: the deletes queued just before
   * the folder's own (`seq`), of what lay below `path`, are folded into it, and the push loop sends
   * one recursive delete that lists them (with the revisions this device saw: what changed elsewhere
   * meanwhile stays). Only an unbroken run of such deletes right before it is folded, so the server
   * still goes through the states this device went through; the op being pushed, and deletes whose
   * node is not on the server yet or is being pushed (its revision may still change), are left to
   * run on their own (before the folder's, as they were queued).
   */
  #absorbDeletes(seq: number, path: string): void {
    const prefix = path === '/' ? '/' : `${path}/`;
    const pushingNode = this.pushing
      ? (this.#s.opNode.get(this.pushing) as { node_id: number } | undefined)?.node_id
      : undefined;
    let total = 0;
    const rows = this.#s.tailOps.all(seq, ABSORB_SCAN) as Pick<OpRow, 'seq' | 'kind' | 'node_id' | 'path'>[];
    for (const op of rows) {
      if (op.seq === this.pushing || op.kind !== 'delete' || !op.path.startsWith(prefix)) break;
      if (op.node_id < 0 || op.node_id === pushingNode) continue;
      const n = 1 + (this.#s.absorbedCount.get(op.seq) as { n: number }).n;
      if (total + n > MAX_ABSORBED_DELETES) break;
      this.#s.absorb.run({ into: seq, seq: op.seq });
      total += n;
    }
  }

  /** Moves a node (replacing `replaced`, if given, and its subtree) and queues the move. */
  moveLocal(
    id: number,
    parentId: number,
    name: string,
    fromPath: string,
    toPath: string,
    replaced: number | null,
    now = Date.now(),
  ): { released: string[]; staged: string[] } {
    const released: string[] = [];
    const staged: string[] = [];
    this.#db
      .transaction(() => {
        if (replaced !== null) {
          // The move's overwrite replaces what the server has at the target. A replaced file whose
          // own move there is still queued (and goes with it) is not at the target on the server:
          // it is deleted there by id first.
          const r = this.#s.node.get(replaced) as NodeRow | undefined;
          if (r && r.id > 0 && r.kind === 'file' && this.#s.laterMove.get(r.id, 0))
            this.#s.insertOp.run('delete', r.id, toPath, null, r.rev, Date.now());
          this.#removeSubtree(replaced, released, false, staged);
        }
        const from = (this.#s.node.get(id) as NodeRow | undefined)?.parent_id;
        this.#s.move.run(parentId, name, now, id);
        if (from != null) this.#s.touchDir.run({ t: now, id: from });
        this.#s.touchDir.run({ t: now, id: parentId });
        this.#s.insertOp.run('move', id, fromPath, toPath, 0, Date.now());
      })
      .immediate();
    this.#changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)), staged };
  }

  // ---- the outbox, for the push loop ------------------------------------------------------------------

  headOp(): Op | null {
    const r = this.#s.headOp.get() as OpRow | undefined;
    return r ? toOp(r) : null;
  }

  ops(): Op[] {
    return (this.#s.allOps.all() as OpRow[]).map(toOp);
  }

  get pendingOps(): number {
    return (this.#s.opCount.get() as { n: number }).n;
  }

  opDone(seq: number): void {
    this.#s.opDone.run(seq, seq);
  }

  /**
   * The deletes a folder's delete (`seq`) absorbed, as [node id, revision this device saw], for
   * the nodes that reached the server (see #absorbDeletes).
   */
  absorbed(seq: number): [number, number][] {
    return (this.#s.absorbed.all(seq) as { node_id: number; rev: number }[]).map((r) => [r.node_id, r.rev]);
  }

  /** Counts a failed attempt; returns the op's attempts so far (0 if the op is gone). */
  opFailed(seq: number, error: string): number {
    return (this.#s.opFailed.get(error, seq) as { attempts: number } | undefined)?.attempts ?? 0;
  }

  /**
   * The oldest op that may run now: not set aside (stuck), not of a node in `held` (e.g. a file
   * still open for writing), and not behind a stuck or held op of the same node (a node's ops keep
   * their order). Usually the head: the scan stops at the first op that may run.
   */
  nextOp(held: ReadonlySet<number> = new Set()): Op | null {
    let blocked: Set<number> | null = null;
    for (const r of this.#s.inLine.iterate() as IterableIterator<OpRow>) {
      if (r.stuck_since === null && !held.has(r.node_id) && !blocked?.has(r.node_id)) return toOp(r);
      (blocked ??= new Set()).add(r.node_id);
    }
    return null;
  }

  /** Sets an op aside (see nextOp): it stays queued, with its data, until unstickAll. */
  markStuck(seq: number, since: number): void {
    this.#s.markStuck.run(since, seq);
  }

  /** Puts every op set aside back in line (at start, after a resync, now and then). */
  unstickAll(): number {
    return this.#s.unstickAll.run().changes;
  }

  /** Ops set aside, oldest first. */
  stuckOps(): Op[] {
    return (this.#s.stuckOps.all() as OpRow[]).map(toOp);
  }

  /** Nodes with dirty content (for recovery after a restart). */
  stagedNodes(): MirrorNode[] {
    return (this.#s.stagedNodes.all() as NodeRow[]).map(toNode);
  }

  /** Gives a locally created node the id the server assigned, everywhere it is referenced. */
  remap(tempId: number, realId: number): void {
    if (tempId === realId) return;
    this.#db.transaction(() => {
      // Ops queued for it follow even when the node was removed here meanwhile (its delete must
      // reach the server under the real id).
      this.#s.remapOps.run(realId, tempId);
      if (!this.#s.node.get(tempId)) return;
      const stale = this.#s.node.get(realId) as NodeRow | undefined;
      if (stale) {
        this.onBlocksChange?.(realId);
        this.#s.deleteBlocks.run(realId);
        this.#s.deleteNode.run(realId);
      }
      this.#s.remapNode.run(realId, tempId);
      this.#s.remapChildren.run(realId, tempId);
      this.#s.remapBlocks.run(realId, tempId);
      this.#s.remapPins.run(realId, tempId);
    })();
    this.#changed();
  }

  /**
   * Records a successful commit: the node's revision and committed block list. With `clean`, the
   * local content is now exactly the commit (size from it, staging cleared); otherwise newer local
   * writes stay staged over the new base.
   */
  committed(id: number, rev: number, blocks: readonly BlockRef[], size: number, clean: boolean): string[] {
    const released: string[] = [];
    this.#db.transaction(() => {
      this.#s.bumpOpRev.run(rev, id, rev);
      if (!this.#s.node.get(id)) return; // removed here while the commit was under way
      this.#s.setRev.run(rev, id);
      this.#setBlocks(id, blocks, released);
      if (clean) {
        const n = this.#s.node.get(id) as NodeRow | undefined;
        if (n) this.#s.setLocal.run(size, n.mtime, n.mode, n.ctime, null, id);
      }
    })();
    this.#nodeCache.delete(id);
    return [...new Set(released)].filter((h) => !this.referenced(h));
  }

  /** Renames a node here only (no op): the server already has it under that name. */
  renameRaw(id: number, name: string): void {
    const n = this.node(id);
    if (!n || n.parentId === null) return;
    this.#s.move.run(n.parentId, name, Date.now(), id);
    this.#changed();
  }

  /** Conflicted copies made by this device, newest last (kept for `loft status`). */
  conflicts(): string[] {
    const raw = (this.#s.getMeta.get('conflicts') as { value: string } | undefined)?.value;
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  addConflict(path: string): void {
    const list = [...this.conflicts(), path].slice(-MAX_CONFLICTS_KEPT);
    this.#s.setMeta.run('conflicts', JSON.stringify(list));
  }

  /**
   * Records the revision a push of this device gave the node. A delete queued meanwhile (the node was
   * removed here while the push was under way) is meant for this revision too.
   */
  setRev(id: number, rev: number): void {
    this.#s.bumpOpRev.run(rev, id, rev);
    this.#s.setRev.run(rev, id);
    this.#nodeCache.delete(id);
  }
}
