/**
 * The embedded MetadataStore on better-sqlite3 (WAL mode).
 *
 * Each public method runs one synchronous transaction (writes take `BEGIN IMMEDIATE`, so another
 * process on the same file — `loft user add` beside a running server — waits on busy_timeout instead
 * of failing). Transactions never span an await: the async signature exists so that the PostgreSQL
 * implementation fits the same interface.
 */
import Database from 'better-sqlite3';
import { LoftError } from '../../shared/errors.js';
import { splitPath } from '../../shared/paths.js';
import type { BlockRef, NodeKind, Revision, RevisionOp } from '../../shared/protocol.js';
import type {
  Actor,
  CommitFileOp,
  JournalRead,
  MetadataStore,
  MkdirOp,
  MoveOp,
  NodeRef,
  Principal,
  RemoveOp,
  Role,
  UserRecord,
} from '../metadata-store.js';
import { migrate } from './schema.js';

/** How long a writer waits for another process's write lock before giving up (ms). */
const BUSY_TIMEOUT_MS = 10_000;

const USER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface NodeRow {
  id: number;
  ns_id: number;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  deleted: number;
  rev: number;
}

interface RevisionRow {
  ns_id: number;
  seq: number;
  node_id: number;
  op: RevisionOp;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  deleted: number;
  size: number;
  mtime: number;
  mode: number;
  content_seq: number | null;
  device: string | null;
  created_at: number;
}

interface NewRevision {
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
}

export interface SqliteMetadataStoreOptions {
  /** File path, or ':memory:' for tests. */
  filename: string;
}

export class SqliteMetadataStore implements MetadataStore {
  readonly #db: Database.Database;
  readonly #stmt;

  constructor(options: SqliteMetadataStoreOptions) {
    this.#db = new Database(options.filename);
    this.#db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives a process crash; a power loss may drop the last transactions
    // but never corrupts the database. Clients retry unacknowledged commits, so this is the right trade.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.#db.pragma('foreign_keys = ON');
    migrate(this.#db);
    const db = this.#db;
    this.#stmt = {
      insertUser: db.prepare('INSERT INTO users (name, home_ns, created_at) VALUES (?, 0, ?)'),
      setHome: db.prepare('UPDATE users SET home_ns = ? WHERE id = ?'),
      findUser: db.prepare('SELECT id, name, home_ns FROM users WHERE name = ?'),
      insertNs: db.prepare(
        'INSERT INTO namespaces (owner_id, root_id, head_seq, created_at) VALUES (?, 0, 0, ?)',
      ),
      setRoot: db.prepare('UPDATE namespaces SET root_id = ? WHERE id = ?'),
      insertMember: db.prepare('INSERT INTO ns_members (ns_id, user_id, role) VALUES (?, ?, ?)'),
      insertDevice: db.prepare(
        'INSERT INTO devices (user_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      auth: db.prepare(
        `SELECT d.id AS deviceId, d.name AS deviceName, u.id AS userId, u.name AS userName, u.home_ns AS homeNs
           FROM devices d JOIN users u ON u.id = d.user_id
          WHERE d.token_hash = ? AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > ?)`,
      ),
      role: db.prepare('SELECT role FROM ns_members WHERE ns_id = ? AND user_id = ?'),
      rootOf: db.prepare('SELECT root_id FROM namespaces WHERE id = ?'),
      nextSeq: db.prepare('UPDATE namespaces SET head_seq = head_seq + 1 WHERE id = ? RETURNING head_seq'),
      head: db.prepare('SELECT head_seq FROM namespaces WHERE id = ?'),
      insertNode: db.prepare(
        'INSERT INTO nodes (ns_id, parent_id, name, kind, deleted, rev) VALUES (?, ?, ?, ?, 0, ?) RETURNING id',
      ),
      updateNode: db.prepare('UPDATE nodes SET parent_id = ?, name = ?, deleted = ?, rev = ? WHERE id = ?'),
      nodeById: db.prepare('SELECT * FROM nodes WHERE id = ? AND ns_id = ?'),
      child: db.prepare('SELECT * FROM nodes WHERE parent_id = ? AND name = ? AND deleted = 0'),
      children: db.prepare('SELECT * FROM nodes WHERE parent_id = ? AND deleted = 0 ORDER BY name'),
      hasChild: db.prepare('SELECT 1 FROM nodes WHERE parent_id = ? AND deleted = 0 LIMIT 1'),
      insertRevision: db.prepare(
        `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode,
                                content_seq, device_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      revision: db.prepare(
        `SELECT r.*, d.name AS device FROM revisions r LEFT JOIN devices d ON d.id = r.device_id
          WHERE r.ns_id = ? AND r.seq = ?`,
      ),
      revisionsOf: db.prepare(
        `SELECT r.*, d.name AS device FROM revisions r LEFT JOIN devices d ON d.id = r.device_id
          WHERE r.node_id = ? AND r.ns_id = ? ORDER BY r.seq`,
      ),
      journal: db.prepare(
        `SELECT r.*, d.name AS device FROM revisions r LEFT JOIN devices d ON d.id = r.device_id
          WHERE r.ns_id = ? AND r.seq > ? ORDER BY r.seq LIMIT ?`,
      ),
      insertContent: db.prepare(
        'INSERT INTO content_blocks (ns_id, seq, idx, hash, size) VALUES (?, ?, ?, ?, ?)',
      ),
      content: db.prepare('SELECT hash, size FROM content_blocks WHERE ns_id = ? AND seq = ? ORDER BY idx'),
      blockSize: db.prepare('SELECT size FROM blocks WHERE hash = ?'),
      insertBlock: db.prepare(
        'INSERT INTO blocks (hash, size, stored_size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING',
      ),
      insertUserBlock: db.prepare(
        'INSERT INTO user_blocks (user_id, hash, uploaded_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      uploadedBy: db.prepare('SELECT 1 FROM user_blocks WHERE user_id = ? AND hash = ?'),
      readableRef: db.prepare(
        `SELECT 1 FROM content_blocks cb JOIN ns_members m ON m.ns_id = cb.ns_id
          WHERE cb.hash = ? AND m.user_id = ? LIMIT 1`,
      ),
    };
  }

  // ---- users and devices ------------------------------------------------------------------------

  async createUser(name: string, now: number): Promise<UserRecord> {
    if (!USER_NAME_RE.test(name)) {
      throw new LoftError(
        'BAD_REQUEST',
        'user name must be 1-64 of A-Z a-z 0-9 . _ - and start with a letter or digit',
      );
    }
    const s = this.#stmt;
    return this.#db
      .transaction(() => {
        if (s.findUser.get(name)) throw new LoftError('EXISTS', `user ${name} already exists`);
        const userId = Number(s.insertUser.run(name, now).lastInsertRowid);
        const ns = Number(s.insertNs.run(userId, now).lastInsertRowid);
        const { id: rootId } = s.insertNode.get(ns, null, '', 'dir', 0) as { id: number };
        s.setRoot.run(rootId, ns);
        s.insertRevision.run(ns, 0, rootId, 'mkdir', null, '', 'dir', 0, 0, now, 0o755, null, null, now);
        s.insertMember.run(ns, userId, 'owner');
        s.setHome.run(ns, userId);
        return { id: userId, name, homeNs: ns };
      })
      .immediate();
  }

  async findUser(name: string): Promise<UserRecord | null> {
    const row = this.#stmt.findUser.get(name) as { id: number; name: string; home_ns: number } | undefined;
    return row ? { id: row.id, name: row.name, homeNs: row.home_ns } : null;
  }

  async addDevice(
    userId: number,
    name: string,
    tokenHash: string,
    expiresAt: number | null,
    now: number,
  ): Promise<number> {
    return Number(this.#stmt.insertDevice.run(userId, name, tokenHash, now, expiresAt).lastInsertRowid);
  }

  async authenticate(tokenHash: string, now: number): Promise<Principal | null> {
    return (this.#stmt.auth.get(tokenHash, now) as Principal | undefined) ?? null;
  }

  async role(userId: number, ns: number): Promise<Role | null> {
    const row = this.#stmt.role.get(ns, userId) as { role: Role } | undefined;
    return row?.role ?? null;
  }

  // ---- blocks -----------------------------------------------------------------------------------

  async recordUpload(
    userId: number,
    hash: string,
    size: number,
    storedSize: number,
    now: number,
  ): Promise<boolean> {
    return this.#db
      .transaction(() => {
        this.#stmt.insertBlock.run(hash, size, storedSize, now);
        return this.#stmt.insertUserBlock.run(userId, hash, now).changes > 0;
      })
      .immediate();
  }

  async missingBlocks(userId: number, hashes: readonly string[]): Promise<string[]> {
    return this.#db.transaction(() => {
      const out: string[] = [];
      const seen = new Set<string>();
      for (const hash of hashes) {
        if (seen.has(hash)) continue;
        seen.add(hash);
        if (!this.#usable(userId, hash)) out.push(hash);
      }
      return out;
    })();
  }

  async canReadBlock(userId: number, hash: string): Promise<boolean> {
    return this.#usable(userId, hash);
  }

  /** Possession rule: the user sent the block, or a namespace they can read references it. */
  #usable(userId: number, hash: string): boolean {
    if (!this.#stmt.blockSize.get(hash)) return false;
    return !!this.#stmt.uploadedBy.get(userId, hash) || !!this.#stmt.readableRef.get(hash, userId);
  }

  // ---- tree operations ----------------------------------------------------------------------------

  async commitFile(actor: Actor, op: CommitFileOp): Promise<Revision> {
    return this.#db
      .transaction(() => {
        this.#checkBlocks(actor.userId, op.blocks, op.size);
        let node: NodeRow | undefined;
        let parentId: number;
        let name: string;
        if ('id' in op.node) {
          node = this.#nodeById(op.ns, op.node.id);
          if (node.parent_id === null) throw new LoftError('IS_DIR', 'the root is a directory');
          if (node.deleted) {
            throw new LoftError('CONFLICT', `node ${node.id} was deleted at rev ${node.rev}`, {
              details: { currentRev: node.rev, id: node.id, deleted: true },
            });
          }
          parentId = node.parent_id;
          name = node.name;
        } else {
          const parts = splitPath(op.node.path);
          if (parts.length === 0) throw new LoftError('IS_DIR', 'the root is a directory');
          name = parts.pop()!;
          parentId = this.#ensureDirs(actor, op.ns, parts, op.mtime);
          node = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
          if (!node && op.parentRev) {
            throw new LoftError('CONFLICT', `${op.node.path} no longer exists`, {
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
        const seq = this.#nextSeq(op.ns);
        const nodeId = node ? node.id : this.#insertNode(op.ns, parentId, name, 'file', seq);
        this.#insertContent(op.ns, seq, op.blocks);
        return this.#addRevision(actor, op.ns, seq, {
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
      })
      .immediate();
  }

  async mkdir(actor: Actor, op: MkdirOp): Promise<Revision> {
    return this.#db
      .transaction(() => {
        const parts = splitPath(op.path);
        if (parts.length === 0)
          throw new LoftError('EXISTS', 'the root exists', { details: { id: this.#root(op.ns) } });
        const name = parts.pop()!;
        const parentId = op.parents
          ? this.#ensureDirs(actor, op.ns, parts, op.mtime)
          : this.#resolveDir(op.ns, parts);
        const existing = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
        if (existing) {
          throw new LoftError('EXISTS', `${op.path} already exists`, {
            details: { id: existing.id, currentRev: existing.rev, kind: existing.kind },
          });
        }
        return this.#mkdirIn(actor, op.ns, parentId, name, op.mtime, op.mode);
      })
      .immediate();
  }

  async move(actor: Actor, op: MoveOp): Promise<Revision> {
    return this.#db
      .transaction(() => {
        const node = this.#resolveLive(op.ns, op.node);
        if (node.parent_id === null) throw new LoftError('BAD_REQUEST', 'the root cannot be moved');
        this.#checkRev(node, op.parentRev);
        const parts = splitPath(op.toPath);
        if (parts.length === 0) throw new LoftError('EXISTS', 'the root exists');
        const name = parts.pop()!;
        const parentId = this.#resolveDir(op.ns, parts);
        if (parentId === node.parent_id && name === node.name) return this.#revision(op.ns, node.rev);
        if (node.kind === 'dir') {
          for (let at: number | null = parentId; at !== null; at = this.#nodeById(op.ns, at).parent_id) {
            if (at === node.id) throw new LoftError('CYCLE', `cannot move a directory into itself`);
          }
        }
        const target = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
        if (target) {
          if (!op.overwrite) {
            throw new LoftError('EXISTS', `${op.toPath} already exists`, {
              details: { id: target.id, currentRev: target.rev, kind: target.kind },
            });
          }
          if (op.targetRev !== undefined && op.targetRev !== target.rev) {
            throw new LoftError('CONFLICT', `${op.toPath} is at rev ${target.rev}, not ${op.targetRev}`, {
              details: { id: target.id, currentRev: target.rev },
            });
          }
          if (node.kind === 'dir' && target.kind !== 'dir')
            throw new LoftError('NOT_DIR', `${op.toPath} is not a directory`);
          if (node.kind !== 'dir' && target.kind === 'dir')
            throw new LoftError('IS_DIR', `${op.toPath} is a directory`);
          if (target.kind === 'dir' && this.#stmt.hasChild.get(target.id)) {
            throw new LoftError('NOT_EMPTY', `${op.toPath} is not empty`);
          }
          this.#tombstone(actor, op.ns, target);
        }
        const current = this.#revision(op.ns, node.rev);
        const seq = this.#nextSeq(op.ns);
        return this.#addRevision(actor, op.ns, seq, {
          nodeId: node.id,
          op: 'move',
          parentId,
          name,
          kind: node.kind,
          deleted: false,
          size: current.size,
          mtime: current.mtime,
          mode: current.mode,
          contentSeq: this.#contentSeq(op.ns, node.rev),
        });
      })
      .immediate();
  }

  async remove(actor: Actor, op: RemoveOp): Promise<Revision[]> {
    return this.#db
      .transaction(() => {
        const node = this.#resolveLive(op.ns, op.node);
        if (node.parent_id === null) throw new LoftError('BAD_REQUEST', 'the root cannot be deleted');
        this.#checkRev(node, op.parentRev);
        if (node.kind === 'dir' && !op.recursive && this.#stmt.hasChild.get(node.id)) {
          throw new LoftError('NOT_EMPTY', `${node.name} is not empty`);
        }
        // Deepest first, so that a client replaying the journal never sees a live node under a tombstone.
        const order: NodeRow[] = [];
        const visit = (n: NodeRow): void => {
          if (n.kind === 'dir') for (const c of this.#stmt.children.all(n.id) as NodeRow[]) visit(c);
          order.push(n);
        };
        visit(node);
        return order.map((n) => this.#tombstone(actor, op.ns, n));
      })
      .immediate();
  }

  // ---- reads --------------------------------------------------------------------------------------

  async getNode(ns: number, ref: NodeRef): Promise<Revision | null> {
    return this.#db.transaction(() => {
      let node: NodeRow | undefined;
      if ('id' in ref) {
        node = this.#stmt.nodeById.get(ref.id, ns) as NodeRow | undefined;
      } else {
        node = this.#lookup(ns, splitPath(ref.path));
      }
      return node ? this.#revision(ns, node.rev) : null;
    })();
  }

  async listChildren(ns: number, dirId: number): Promise<Revision[]> {
    return this.#db.transaction(() => {
      const dir = this.#nodeById(ns, dirId);
      if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a directory`);
      return (this.#stmt.children.all(dir.id) as NodeRow[]).map((n) => this.#revision(ns, n.rev));
    })();
  }

  async listRevisions(ns: number, id: number): Promise<Revision[]> {
    return this.#db.transaction(() => {
      this.#nodeById(ns, id);
      return (this.#stmt.revisionsOf.all(id, ns) as RevisionRow[]).map((r) => this.#toRevision(r));
    })();
  }

  async readJournal(ns: number, after: number, limit: number): Promise<JournalRead> {
    return this.#db.transaction(() => {
      const head = this.#head(ns);
      const rows = this.#stmt.journal.all(ns, after, limit) as RevisionRow[];
      const entries = rows.map((r) => this.#toRevision(r));
      return { entries, last: entries.length ? entries[entries.length - 1]!.rev : after, head };
    })();
  }

  async headSeq(ns: number): Promise<number> {
    return this.#head(ns);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  // ---- internals (run inside a transaction) -----------------------------------------------------

  #head(ns: number): number {
    const row = this.#stmt.head.get(ns) as { head_seq: number } | undefined;
    if (!row) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
    return row.head_seq;
  }

  #root(ns: number): number {
    const row = this.#stmt.rootOf.get(ns) as { root_id: number } | undefined;
    if (!row) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
    return row.root_id;
  }

  #nextSeq(ns: number): number {
    const row = this.#stmt.nextSeq.get(ns) as { head_seq: number } | undefined;
    if (!row) throw new LoftError('NOT_FOUND', `no namespace ${ns}`);
    return row.head_seq;
  }

  #nodeById(ns: number, id: number): NodeRow {
    const node = this.#stmt.nodeById.get(id, ns) as NodeRow | undefined;
    if (!node) throw new LoftError('NOT_FOUND', `no node ${id}`);
    return node;
  }

  #lookup(ns: number, parts: readonly string[]): NodeRow | undefined {
    let node = this.#nodeById(ns, this.#root(ns));
    for (const part of parts) {
      if (node.kind !== 'dir') return undefined;
      const next = this.#stmt.child.get(node.id, part) as NodeRow | undefined;
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  #resolveLive(ns: number, ref: NodeRef): NodeRow {
    if ('id' in ref) {
      const node = this.#nodeById(ns, ref.id);
      if (node.deleted) {
        throw new LoftError('CONFLICT', `node ${node.id} was deleted at rev ${node.rev}`, {
          details: { currentRev: node.rev, id: node.id, deleted: true },
        });
      }
      return node;
    }
    const node = this.#lookup(ns, splitPath(ref.path));
    if (!node) throw new LoftError('NOT_FOUND', `${ref.path} does not exist`);
    return node;
  }

  #resolveDir(ns: number, parts: readonly string[]): number {
    let id = this.#root(ns);
    for (const part of parts) {
      const next = this.#stmt.child.get(id, part) as NodeRow | undefined;
      if (!next) throw new LoftError('NOT_FOUND', `parent directory ${part} does not exist`);
      if (next.kind !== 'dir') throw new LoftError('NOT_DIR', `${part} is not a directory`);
      id = next.id;
    }
    return id;
  }

  /** Resolves the directory at `parts`, creating missing ones (each a revision of its own). */
  #ensureDirs(actor: Actor, ns: number, parts: readonly string[], mtime: number): number {
    let id = this.#root(ns);
    for (const part of parts) {
      const next = this.#stmt.child.get(id, part) as NodeRow | undefined;
      if (next && next.kind !== 'dir') throw new LoftError('NOT_DIR', `${part} is not a directory`);
      id = next ? next.id : this.#mkdirIn(actor, ns, id, part, mtime, 0o755).id;
    }
    return id;
  }

  #mkdirIn(actor: Actor, ns: number, parentId: number, name: string, mtime: number, mode: number): Revision {
    const seq = this.#nextSeq(ns);
    const nodeId = this.#insertNode(ns, parentId, name, 'dir', seq);
    return this.#addRevision(actor, ns, seq, {
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

  #tombstone(actor: Actor, ns: number, node: NodeRow): Revision {
    const current = this.#revision(ns, node.rev);
    const seq = this.#nextSeq(ns);
    this.#stmt.updateNode.run(node.parent_id, node.name, 1, seq, node.id);
    return this.#addRevision(actor, ns, seq, {
      nodeId: node.id,
      op: 'delete',
      parentId: node.parent_id,
      name: node.name,
      kind: node.kind,
      deleted: true,
      size: current.size,
      mtime: current.mtime,
      mode: current.mode,
      contentSeq: this.#contentSeq(ns, node.rev),
    });
  }

  #checkRev(node: NodeRow, parentRev: number): void {
    if (node.rev !== parentRev) {
      throw new LoftError('CONFLICT', `${node.name} is at rev ${node.rev}, not ${parentRev}`, {
        details: { currentRev: node.rev, id: node.id },
      });
    }
  }

  #checkBlocks(userId: number, blocks: readonly BlockRef[], size: number): void {
    let total = 0;
    const unusable: string[] = [];
    for (const b of blocks) {
      total += b.size;
      const row = this.#stmt.blockSize.get(b.hash) as { size: number } | undefined;
      if (!row || !this.#usable(userId, b.hash)) {
        unusable.push(b.hash);
      } else if (row.size !== b.size) {
        throw new LoftError('BAD_REQUEST', `block ${b.hash} is ${row.size} bytes, not ${b.size}`);
      }
    }
    if (unusable.length) {
      throw new LoftError(
        'BLOCK_UNUSABLE',
        `${unusable.length} block(s) must be uploaded before this commit`,
        {
          details: { missing: [...new Set(unusable)] },
        },
      );
    }
    if (total !== size)
      throw new LoftError('BAD_REQUEST', `blocks add up to ${total} bytes, not size ${size}`);
  }

  #insertNode(ns: number, parentId: number, name: string, kind: NodeKind, seq: number): number {
    return (this.#stmt.insertNode.get(ns, parentId, name, kind, seq) as { id: number }).id;
  }

  #insertContent(ns: number, seq: number, blocks: readonly BlockRef[]): void {
    blocks.forEach((b, i) => this.#stmt.insertContent.run(ns, seq, i, b.hash, b.size));
  }

  #contentSeq(ns: number, rev: number): number | null {
    const row = this.#stmt.revision.get(ns, rev) as RevisionRow | undefined;
    return row?.content_seq ?? null;
  }

  #addRevision(actor: Actor, ns: number, seq: number, r: NewRevision): Revision {
    this.#stmt.insertRevision.run(
      ns,
      seq,
      r.nodeId,
      r.op,
      r.parentId,
      r.name,
      r.kind,
      r.deleted ? 1 : 0,
      r.size,
      r.mtime,
      r.mode,
      r.contentSeq,
      actor.deviceId,
      actor.now,
    );
    if (r.op !== 'delete') this.#stmt.updateNode.run(r.parentId, r.name, 0, seq, r.nodeId);
    return this.#revision(ns, seq);
  }

  #revision(ns: number, seq: number): Revision {
    const row = this.#stmt.revision.get(ns, seq) as RevisionRow | undefined;
    if (!row) throw new LoftError('INTERNAL', `revision ${seq} of namespace ${ns} is missing`);
    return this.#toRevision(row);
  }

  #toRevision(row: RevisionRow): Revision {
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
    if (row.kind === 'file' && !rev.deleted && row.content_seq !== null) {
      rev.blocks = this.#stmt.content.all(row.ns_id, row.content_seq) as BlockRef[];
    }
    return rev;
  }
}
