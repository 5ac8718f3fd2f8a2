/**
 * The mirror's SQLite schema (versioned with PRAGMA user_version, forward-only migrations), its row
 * types and prepared statements, and the types the rest of the drive sees (MirrorNode, Op).
 */
import Database from 'better-sqlite3';
import { LoftError } from '../../shared/errors.js';
import type { Preparer } from '../../shared/lazy-statements.js';
import type { NodeKind } from '../../shared/protocol.js';

export interface MirrorNode {
  /** Local key: stable for the node's whole life here, never reused while anything names it. */
  id: number;
  /** The server's id of the node; null until the server has it. */
  serverId: number | null;
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
  /** The node's local key. */
  nodeId: number;
  /** The node's server id (kept here too: a delete outlives its node's row). */
  serverId: number | null;
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

export const MIGRATIONS = [
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
  // v7: stable local keys. Until v6 a node's id was the server's id, or a negative temporary id
  // until the server answered (then rewritten everywhere). Now `id` is a local key that never
  // changes and `server_id` is the server's id: existing nodes keep their id as their key. Ops
  // carry the server id too (a delete outlives its node's row). The resync set holds server ids.
  `
  ALTER TABLE nodes ADD COLUMN server_id INTEGER;
  UPDATE nodes SET server_id = id WHERE id > 0;
  CREATE UNIQUE INDEX nodes_server ON nodes(server_id);
  ALTER TABLE ops ADD COLUMN server_id INTEGER;
  UPDATE ops SET server_id = node_id WHERE node_id > 0;
  CREATE INDEX ops_server ON ops(server_id) WHERE server_id IS NOT NULL;
  DELETE FROM resync WHERE id < 0;
  `,
  // v8: device-local owners (src/client/vfs/owners.ts): only nodes whose owner is not the mounting
  // user (made by another local user through --allow-other, or chowned). Never synced.
  `
  CREATE TABLE owners (node_id INTEGER PRIMARY KEY, uid INTEGER NOT NULL, gid INTEGER NOT NULL);
  `,
  // v9: a file's blocks by offset: a first read finds the block it lands in with one seek (blocksIn)
  // instead of scanning the file's list (0.1-0.25 ms for 1,024 blocks, on a cold read's path).
  `
  CREATE INDEX blocks_offset ON blocks(node_id, offset);
  `,
];

export interface NodeRow {
  id: number;
  server_id: number | null;
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
export type RawNodeRow = [
  number,
  number | null,
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

export interface OpRow {
  seq: number;
  kind: OpKind;
  node_id: number;
  server_id: number | null;
  path: string;
  to_path: string | null;
  rev: number;
  attempts: number;
  last_error: string | null;
  created_at: number;
  stuck_since: number | null;
}

export const toOp = (r: OpRow): Op => ({
  seq: r.seq,
  kind: r.kind,
  nodeId: r.node_id,
  serverId: r.server_id ?? null,
  path: r.path,
  toPath: r.to_path,
  rev: r.rev,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at,
  stuckSince: r.stuck_since ?? null,
});

export function toNode(r: NodeRow): MirrorNode {
  return {
    id: r.id,
    serverId: r.server_id,
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

/** WAL pages between checkpoints (see openMirrorDb). */
export const WAL_CHECKPOINT_PAGES = 4096;

/**
 * Opens (and migrates) the mirror database of a state dir, or sets up and migrates a database
 * opened by the caller (an in-memory one: the deterministic simulation's, see Mirror).
 */
export function openMirrorDb(file: string | Database.Database): Database.Database {
  const db = typeof file === 'string' ? new Database(file) : file;
  // Exclusive: only this process opens it. Set before WAL mode, it keeps the WAL index in heap
  // memory instead of a mmapped -shm file, whose pages fault with SIGBUS (killing the drive)
  // when the disk is full.
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  // NORMAL (WAL): every committed transaction survives a crash of the process; the write path's
  // group commit (vfs/group-sync.ts: Mirror.syncDurable) fsyncs the WAL once, which makes every
  // earlier transaction durable. Measured: an fsync per mkdir/create/rename cost ~1-3 ms.
  db.pragma('synchronous = NORMAL');
  // A checkpoint runs inside the commit that crosses this many WAL pages, on the JS thread, with
  // two fsyncs (NORMAL syncs at checkpoints): every FUSE request waits for it. At SQLite's default
  // (1,000 pages, 4 MiB) a `tar x` of 5,000 files spent 6.9 s of the drive's thread in commits;
  // at 16,384 pages 1.1 s. 4,096 (a WAL of 16 MiB at most, which a full disk must also hold).
  db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
  // Statement and savepoint journals in memory, not in temp files: they only roll back inside a
  // transaction (a killed process loses them either way; the WAL is what survives). On disk, a
  // `tar x` wrote ~19 of them (pwrite to /var/tmp/etilqs_*) per entry: a batch's record is a
  // savepoint per op, and every upsert inside a transaction opens a statement journal.
  db.pragma('temp_store = MEMORY');
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length)
    throw new LoftError('CORRUPT', `mirror database is from a newer Loft (v${version})`);
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** The mirror's statements, each prepared on its first use (see shared/lazy-statements.ts). */
export function prepareStatements(db: Preparer) {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    // Each max() is one index lookup (primary keys, ops_node).
    maxKey: db
      .prepare(
        `SELECT max(k) FROM (SELECT max(id) AS k FROM nodes UNION ALL SELECT max(node_id) FROM ops
         UNION ALL SELECT max(node_id) FROM pins)`,
      )
      .pluck(),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    node: db.prepare('SELECT * FROM nodes WHERE id = ?'),
    child: db.prepare('SELECT * FROM nodes WHERE parent_id = ? AND name = ?'),
    children: db
      .prepare(
        'SELECT id, server_id, parent_id, name, kind, rev, size, mtime, mode, ctime, staging, atime FROM nodes WHERE parent_id = ? ORDER BY name',
      )
      .raw(true),
    childIds: db.prepare('SELECT id FROM nodes WHERE parent_id = ?'),
    insertNode: db.prepare(
      'INSERT INTO nodes (id, server_id, parent_id, name, kind, rev, size, mtime, mode, ctime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateNode: db.prepare(
      'UPDATE nodes SET parent_id = ?, name = ?, kind = ?, rev = ?, size = ?, mtime = ?, mode = ?, ctime = ? WHERE id = ?',
    ),
    byServer: db.prepare('SELECT * FROM nodes WHERE server_id = ?'),
    keyOf: db.prepare('SELECT id FROM nodes WHERE server_id = ?').pluck(),
    serverIdOf: db.prepare('SELECT server_id FROM nodes WHERE id = ?').pluck(),
    setServerId: db.prepare('UPDATE nodes SET server_id = ? WHERE id = ?'),
    opsServerId: db.prepare('UPDATE ops SET server_id = ? WHERE node_id = ?'),
    reparent: db.prepare('UPDATE nodes SET parent_id = ? WHERE id = ?'),
    moveOps: db.prepare('UPDATE ops SET node_id = ? WHERE node_id = ?'),
    movePin: db.prepare('UPDATE OR IGNORE pins SET node_id = ? WHERE node_id = ?'),
    setLocal: db.prepare(
      'UPDATE nodes SET size = ?, mtime = ?, mode = ?, ctime = ?, staging = ? WHERE id = ?',
    ),
    setRev: db.prepare('UPDATE nodes SET rev = ? WHERE id = ?'),
    setAtime: db.prepare('UPDATE nodes SET atime = ? WHERE id = ?'),
    subdirs: db.prepare("SELECT count(*) AS n FROM nodes WHERE parent_id = ? AND kind = 'dir'").pluck(),
    move: db.prepare('UPDATE nodes SET parent_id = ?, name = ?, ctime = ? WHERE id = ?'),
    // A folder whose entries changed here: its mtime and ctime move (device-local, see Vfs).
    touchDir: db.prepare('UPDATE nodes SET mtime = @t, ctime = @t WHERE id = @id'),
    bumpOpRev: db.prepare("UPDATE ops SET rev = ? WHERE node_id = ? AND kind = 'delete' AND rev < ?"),
    opsFor: db.prepare('SELECT 1 FROM ops WHERE node_id = ? LIMIT 1'),
    deleteQueued: db.prepare("SELECT 1 FROM ops WHERE server_id = ? AND kind = 'delete' LIMIT 1"),
    // A create (mkdir, or the commit of a new file) not answered yet, of a node named @name.
    createQueued: db.prepare(
      "SELECT 1 FROM ops WHERE server_id IS NULL AND kind IN ('mkdir', 'commit') AND substr(path, -length(@name) - 1) = '/' || @name LIMIT 1",
    ),
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
    inResync: db.prepare('SELECT 1 FROM resync WHERE id = ?'),
    durableMark: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('durable_at', ?)"),
    queuedCommit: db.prepare("SELECT seq FROM ops WHERE node_id = ? AND kind = 'commit' AND seq > ?"),
    insertOp: db.prepare(
      'INSERT INTO ops (kind, node_id, server_id, path, to_path, rev, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq',
    ),
    headOp: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq LIMIT 1'),
    allOps: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq'),
    opsFrom: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL AND seq >= ? ORDER BY seq LIMIT CAST(? AS INTEGER)'),
    opDone: db.prepare('DELETE FROM ops WHERE seq = ? OR into_seq = ?'),
    deleteNodeOps: db.prepare('DELETE FROM ops WHERE node_id = ?'),
    // Ops at or below a path (a shared folder that left the tree: Mirror #keepDeparted).
    dropOpsUnder: db.prepare(
      'DELETE FROM ops WHERE path = @from OR substr(path, 1, length(@prefix)) = @prefix',
    ),
    opFailed: db.prepare(
      'UPDATE ops SET attempts = attempts + 1, last_error = ? WHERE seq = ? RETURNING attempts',
    ),
    inLine: db.prepare('SELECT * FROM ops WHERE into_seq IS NULL ORDER BY seq'),
    markStuck: db.prepare('UPDATE ops SET stuck_since = ? WHERE seq = ?'),
    unstickAll: db.prepare('UPDATE ops SET stuck_since = NULL WHERE stuck_since IS NOT NULL'),
    stuckOps: db.prepare('SELECT * FROM ops WHERE stuck_since IS NOT NULL ORDER BY seq'),
    opCount: db.prepare('SELECT count(*) AS n FROM ops WHERE into_seq IS NULL'),
    tailOps: db.prepare(
      'SELECT seq, kind, node_id, server_id, path FROM ops WHERE into_seq IS NULL AND seq < ? ORDER BY seq DESC LIMIT CAST(? AS INTEGER)',
    ),
    opNode: db.prepare('SELECT node_id FROM ops WHERE seq = ?'),
    absorbedCount: db.prepare('SELECT count(*) AS n FROM ops WHERE into_seq = ?'),
    absorb: db.prepare('UPDATE ops SET into_seq = @into WHERE seq = @seq OR into_seq = @seq'),
    absorbed: db.prepare(
      'SELECT server_id, rev FROM ops WHERE into_seq = ? AND server_id IS NOT NULL ORDER BY seq',
    ),
    stagedNodes: db.prepare('SELECT * FROM nodes WHERE staging IS NOT NULL'),
    deleteByName: db.prepare('DELETE FROM nodes WHERE parent_id = ? AND name = ? AND id != ? RETURNING id'),
    deleteNode: db.prepare('DELETE FROM nodes WHERE id = ?'),
    deleteBlocks: db.prepare('DELETE FROM blocks WHERE node_id = ?'),
    deletePin: db.prepare('DELETE FROM pins WHERE node_id = ?'),
    insertBlock: db.prepare('INSERT INTO blocks (node_id, idx, hash, offset, size) VALUES (?, ?, ?, ?, ?)'),
    blocks: db.prepare('SELECT hash, offset, size FROM blocks WHERE node_id = ? ORDER BY idx'),
    // Blocks lie end to end: none before the last one starting at or before `from` can hold it.
    blocksIn: db.prepare(
      `SELECT hash, offset, size FROM blocks WHERE node_id = @id AND offset < @to AND offset + size > @from
         AND offset >= coalesce((SELECT max(offset) FROM blocks WHERE node_id = @id AND offset <= @from), 0)
       ORDER BY idx`,
    ),
    hashRefs: db.prepare('SELECT 1 FROM blocks WHERE hash = ? LIMIT 1'),
    count: db.prepare(
      "SELECT count(*) AS files, coalesce(sum(size), 0) AS bytes FROM nodes WHERE kind = 'file'",
    ),
    pin: db.prepare('INSERT INTO pins (node_id) VALUES (?) ON CONFLICT DO NOTHING'),
    unpinAll: db.prepare('DELETE FROM pins WHERE node_id = ?'),
    pins: db.prepare('SELECT node_id FROM pins'),
    anyPin: db.prepare('SELECT 1 FROM pins LIMIT 1'),
    owners: db.prepare('SELECT node_id, uid, gid FROM owners').raw(true),
    setOwner: db.prepare(
      'INSERT INTO owners (node_id, uid, gid) VALUES (?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET uid = excluded.uid, gid = excluded.gid',
    ),
    dropOwner: db.prepare('DELETE FROM owners WHERE node_id = ?'),
    pinnedFiles: db.prepare(
      `WITH RECURSIVE sub(id) AS (SELECT node_id FROM pins UNION SELECT n.id FROM nodes n JOIN sub ON n.parent_id = sub.id)
       SELECT n.* FROM nodes n JOIN sub ON n.id = sub.id WHERE n.kind = 'file'`,
    ),
  };
}

export type MirrorStatements = ReturnType<typeof prepareStatements>;
