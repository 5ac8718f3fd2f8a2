/**
 * Mirror: the device's local SQLite copy of the namespace tree (live nodes only), each file's block
 * list with byte offsets, the journal cursor, and the user's pins.
 *
 * Everything the drive answers without the network (getattr, readdir, statfs, a file's block map)
 * comes from here. Remote changes arrive as journal pages and are applied with `applyChanges` in one
 * transaction together with the new cursor, so a crash leaves either the old or the new state.
 *
 * Schema versioned with PRAGMA user_version, forward-only migrations.
 */
import Database from 'better-sqlite3';
import { LoftError } from '../../shared/errors.js';
import type { NodeKind, Revision } from '../../shared/protocol.js';

export interface MirrorNode {
  id: number;
  parentId: number | null;
  name: string;
  kind: NodeKind;
  rev: number;
  size: number;
  mtime: number;
  mode: number;
}

export interface BlockExtent {
  hash: string;
  offset: number;
  size: number;
}

/** Most nodes memoised in memory (~100 bytes each). */
const NODE_CACHE_MAX = 200_000;

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
];

interface NodeRow {
  id: number;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  rev: number;
  size: number;
  mtime: number;
  mode: number;
}

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
    this.#db.pragma('journal_mode = WAL');
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
      children: db.prepare('SELECT * FROM nodes WHERE parent_id = ? ORDER BY name'),
      childIds: db.prepare('SELECT id FROM nodes WHERE parent_id = ?'),
      upsert: db.prepare(
        `INSERT INTO nodes (id, parent_id, name, kind, rev, size, mtime, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind,
           rev = excluded.rev, size = excluded.size, mtime = excluded.mtime, mode = excluded.mode`,
      ),
      deleteByName: db.prepare('DELETE FROM nodes WHERE parent_id = ? AND name = ? AND id != ? RETURNING id'),
      deleteNode: db.prepare('DELETE FROM nodes WHERE id = ?'),
      deleteBlocks: db.prepare('DELETE FROM blocks WHERE node_id = ?'),
      deletePin: db.prepare('DELETE FROM pins WHERE node_id = ?'),
      insertBlock: db.prepare('INSERT INTO blocks (node_id, idx, hash, offset, size) VALUES (?, ?, ?, ?, ?)'),
      blocks: db.prepare('SELECT hash, offset, size FROM blocks WHERE node_id = ? ORDER BY idx'),
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
      this.#s.upsert.run(id.rootId, null, '', 'dir', 0, 0, Date.now(), 0o755);
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
    let id = this.#rootId;
    let row: NodeRow | undefined;
    for (const part of path.slice(1).split('/')) {
      row = this.#s.child.get(id, part) as NodeRow | undefined;
      if (!row) return null;
      id = row.id;
    }
    if (this.#pathCache.size > 100_000) this.#pathCache.clear();
    this.#pathCache.set(path, id);
    return row ? toNode(row) : null;
  }

  children(dirId: number): MirrorNode[] {
    return (this.#s.children.all(dirId) as NodeRow[]).map(toNode);
  }

  blocks(fileId: number): BlockExtent[] {
    return this.#s.blocks.all(fileId) as BlockExtent[];
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
   */
  applyChanges(entries: readonly Revision[], cursor: string, complete: boolean): { released: string[] } {
    const released: string[] = [];
    this.#db.transaction(() => {
      for (const e of entries) {
        if (e.parentId === null) continue; // the root never changes shape
        if (e.deleted) {
          this.#removeSubtree(e.id, released);
          continue;
        }
        const existing = this.#s.node.get(e.id) as NodeRow | undefined;
        // A live node elsewhere under this name is stale (its delete is later in this page or lost):
        // the server's order is authoritative, so the newcomer takes the name.
        for (const { id } of this.#s.deleteByName.all(e.parentId, e.name, e.id) as { id: number }[]) {
          this.#removeSubtree(id, released, true);
        }
        this.#s.upsert.run(e.id, e.parentId, e.name, e.kind, e.rev, e.size, e.mtime, e.mode);
        const contentChanged = !existing || e.op === 'create' || e.op === 'commit';
        if (e.kind === 'file' && e.blocks && contentChanged) {
          for (const b of this.blocks(e.id)) released.push(b.hash);
          this.#s.deleteBlocks.run(e.id);
          let offset = 0;
          e.blocks.forEach((b, i) => {
            this.#s.insertBlock.run(e.id, i, b.hash, offset, b.size);
            offset += b.size;
          });
        }
      }
      this.#s.setMeta.run('cursor', cursor);
      if (complete) this.#s.setMeta.run('synced', '1');
    })();
    if (entries.length) {
      this.#pathCache.clear();
      this.#nodeCache.clear();
    }
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)) };
  }

  #removeSubtree(id: number, released: string[], alreadyDeleted = false): void {
    for (const { id: child } of this.#s.childIds.all(id) as { id: number }[])
      this.#removeSubtree(child, released);
    for (const b of this.blocks(id)) released.push(b.hash);
    this.#s.deleteBlocks.run(id);
    // A node displaced from its name (alreadyDeleted) may come back with the same id later in the
    // page (a page applied twice): keep its pin. Pins of nodes that no longer exist match no file.
    if (!alreadyDeleted) {
      this.#s.deletePin.run(id);
      this.#s.deleteNode.run(id);
    }
  }
}
