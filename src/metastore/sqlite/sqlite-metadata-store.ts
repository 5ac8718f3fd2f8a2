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
import { joinPath, splitPath, validateName } from '../../shared/paths.js';
import type { BlockRef, DeletedEntry, NodeKind, Revision, RevisionOp } from '../../shared/protocol.js';
import type {
  Actor,
  BlockState,
  ClaimBatch,
  ClaimedBlock,
  CommitFileOp,
  DeletedList,
  JournalRead,
  MetadataStore,
  MkdirOp,
  MoveOp,
  NodeRef,
  Place,
  Principal,
  PurgeBatch,
  RemoveOp,
  RestoreOp,
  Role,
  TreePage,
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
  purged: number;
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
  restored_from: number | null;
  deleted_with: number | null;
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
  restoredFrom?: number | null;
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
      // Each live node's current revision in one statement (a node's rev is its latest revision).
      treePage: db.prepare(
        `SELECT r.*, d.name AS device FROM nodes n INDEXED BY nodes_ns_live
           JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
           LEFT JOIN devices d ON d.id = r.device_id
          WHERE n.ns_id = ? AND n.deleted = 0 AND n.id > ? ORDER BY n.id LIMIT ?`,
      ),
      hasChild: db.prepare('SELECT 1 FROM nodes WHERE parent_id = ? AND deleted = 0 LIMIT 1'),
      setDeletedWith: db.prepare('UPDATE revisions SET deleted_with = ? WHERE ns_id = ? AND seq = ?'),
      insertRevision: db.prepare(
        `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode,
                                content_seq, device_id, created_at, restored_from)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      revision: db.prepare(
        `SELECT r.*, d.name AS device FROM revisions r LEFT JOIN devices d ON d.id = r.device_id
          WHERE r.ns_id = ? AND r.seq = ?`,
      ),
      revisionsOf: db.prepare(
        `SELECT r.*, d.name AS device FROM revisions r INDEXED BY revisions_node
           LEFT JOIN devices d ON d.id = r.device_id
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
        `INSERT INTO blocks (hash, size, stored_size, created_at, touched_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (hash) DO UPDATE SET touched_at = MAX(touched_at, excluded.touched_at)`,
      ),
      claimOf: db.prepare('SELECT 1 FROM gc_claims WHERE hash = ?'),
      scanCandidates: db.prepare(
        `SELECT c.hash, b.stored_size, b.touched_at FROM gc_candidates c LEFT JOIN blocks b ON b.hash = c.hash
          WHERE c.hash > ? ORDER BY c.hash LIMIT ?`,
      ),
      addCandidate: db.prepare('INSERT INTO gc_candidates (hash) VALUES (?) ON CONFLICT DO NOTHING'),
      dropCandidate: db.prepare('DELETE FROM gc_candidates WHERE hash = ?'),
      addContentCandidates: db.prepare(
        `INSERT INTO gc_candidates (hash) SELECT hash FROM content_blocks WHERE ns_id = ? AND seq = ?
         ON CONFLICT DO NOTHING`,
      ),
      referenced: db.prepare('SELECT 1 FROM content_blocks WHERE hash = ? LIMIT 1'),
      deleteBlock: db.prepare('DELETE FROM blocks WHERE hash = ?'),
      deleteUserBlocks: db.prepare('DELETE FROM user_blocks WHERE hash = ?'),
      insertClaim: db.prepare('INSERT INTO gc_claims (hash, claimed_at) VALUES (?, ?)'),
      staleClaims: db.prepare('SELECT hash FROM gc_claims WHERE claimed_at < ? ORDER BY hash LIMIT ?'),
      renewClaim: db.prepare('UPDATE gc_claims SET claimed_at = ? WHERE hash = ?'),
      deleteClaim: db.prepare('DELETE FROM gc_claims WHERE hash = ?'),
      allChildren: db.prepare('SELECT * FROM nodes WHERE parent_id = ? ORDER BY name, id'),
      prevRev: db.prepare(
        'SELECT MAX(seq) AS seq FROM revisions INDEXED BY revisions_node WHERE node_id = ? AND ns_id = ? AND seq < ?',
      ),
      // A node's revisions: INDEXED BY, because the primary key (ns_id, seq) also matches `ns_id = ?`
      // and ORDER BY seq, is covering, and so looks cheaper to the planner without statistics; it
      // walks the whole namespace per node (issue 18). INDEXED BY fails loudly if the index is gone.
      revTimes: db.prepare(
        `SELECT seq, created_at, content_seq FROM revisions INDEXED BY revisions_node
          WHERE node_id = ? AND ns_id = ? ORDER BY seq`,
      ),
      oldTombstones: db.prepare(
        `SELECT * FROM nodes WHERE deleted = 1 AND purged = 0 AND deleted_at <= ?
          ORDER BY deleted_at LIMIT ?`,
      ),
      supersededRevs: db.prepare(
        `SELECT ns_id, seq, content_seq FROM revisions
          WHERE superseded_at IS NOT NULL AND kind = 'file' AND superseded_at <= ?
          ORDER BY superseded_at LIMIT ?`,
      ),
      supersede: db.prepare(
        `UPDATE revisions SET superseded_at = ?
          WHERE ns_id = ? AND seq = (SELECT MAX(seq) FROM revisions INDEXED BY revisions_node
                                      WHERE node_id = ? AND ns_id = ? AND seq < ?)`,
      ),
      setDeletedAt: db.prepare('UPDATE nodes SET deleted_at = ? WHERE id = ?'),
      deleteRevision: db.prepare('DELETE FROM revisions WHERE ns_id = ? AND seq = ?'),
      stripContent: db.prepare('UPDATE revisions SET content_seq = NULL WHERE ns_id = ? AND seq = ?'),
      markPurged: db.prepare('UPDATE nodes SET purged = 1 WHERE id = ?'),
      contentUsed: db.prepare('SELECT 1 FROM revisions WHERE ns_id = ? AND content_seq = ? LIMIT 1'),
      deleteContent: db.prepare('DELETE FROM content_blocks WHERE ns_id = ? AND seq = ?'),
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
        s.insertRevision.run(
          ns,
          0,
          rootId,
          'mkdir',
          null,
          '',
          'dir',
          0,
          0,
          now,
          0o755,
          null,
          null,
          now,
          null,
        );
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
    seen?: BlockState,
  ): Promise<boolean> {
    return this.#db
      .transaction(() => {
        const s = this.#stmt;
        if (s.claimOf.get(hash))
          throw new LoftError('UNAVAILABLE', `block ${hash} is being garbage-collected; send it again`);
        if (seen === 'live' && !s.blockSize.get(hash))
          throw new LoftError('UNAVAILABLE', `block ${hash} was garbage-collected meanwhile; send it again`);
        s.insertBlock.run(hash, size, storedSize, now, now);
        // Unreferenced until a commit says otherwise: collection looks at it after the grace.
        s.addCandidate.run(hash);
        return s.insertUserBlock.run(userId, hash, now).changes > 0;
      })
      .immediate();
  }

  async blockState(hash: string): Promise<BlockState> {
    return this.#db.transaction((): BlockState => {
      if (this.#stmt.claimOf.get(hash)) return 'collecting';
      return this.#stmt.blockSize.get(hash) ? 'live' : 'absent';
    })();
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
          ({ parentId, name } = this.#placeOf(
            op.ns,
            op.node,
            (parts) => this.#ensureDirs(actor, op.ns, parts, op.mtime),
            () => new LoftError('IS_DIR', 'the root is a directory'),
          ));
          node = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
          if (!node && op.parentRev) {
            throw new LoftError('CONFLICT', `${'path' in op.node ? op.node.path : name} no longer exists`, {
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
        const { parentId, name } = this.#placeOf(
          op.ns,
          op,
          (parts) =>
            op.parents ? this.#ensureDirs(actor, op.ns, parts, op.mtime) : this.#resolveDir(op.ns, parts),
          () => new LoftError('EXISTS', 'the root exists', { details: { id: this.#root(op.ns) } }),
        );
        const existing = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
        if (existing) {
          throw new LoftError('EXISTS', `${'path' in op ? op.path : name} already exists`, {
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
        const { parentId, name } = this.#placeOf(
          op.ns,
          'toParentId' in op ? { parentId: op.toParentId, name: op.toName } : { path: op.toPath },
          (parts) => this.#resolveDir(op.ns, parts),
          () => new LoftError('EXISTS', 'the root exists'),
        );
        const toPath = 'toPath' in op ? op.toPath : name;
        if (parentId === node.parent_id && name === node.name) return this.#revision(op.ns, node.rev);
        if (node.kind === 'dir') {
          for (let at: number | null = parentId; at !== null; at = this.#nodeById(op.ns, at).parent_id) {
            if (at === node.id) throw new LoftError('CYCLE', `cannot move a directory into itself`);
          }
        }
        const target = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
        if (target) {
          if (!op.overwrite) {
            throw new LoftError('EXISTS', `${toPath} already exists`, {
              details: { id: target.id, currentRev: target.rev, kind: target.kind },
            });
          }
          if (op.targetRev !== undefined && op.targetRev !== target.rev) {
            throw new LoftError('CONFLICT', `${toPath} is at rev ${target.rev}, not ${op.targetRev}`, {
              details: { id: target.id, currentRev: target.rev },
            });
          }
          if (node.kind === 'dir' && target.kind !== 'dir')
            throw new LoftError('NOT_DIR', `${toPath} is not a directory`);
          if (node.kind !== 'dir' && target.kind === 'dir')
            throw new LoftError('IS_DIR', `${toPath} is a directory`);
          if (target.kind === 'dir' && this.#stmt.hasChild.get(target.id)) {
            throw new LoftError('NOT_EMPTY', `${toPath} is not empty`);
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
        // With `expect`, a node the caller did not see as it is stays, with the folders above it.
        const expect = op.expect ? new Map(op.expect.map(([id, rev]) => [id, rev])) : null;
        const order: NodeRow[] = [];
        const visit = (n: NodeRow): boolean => {
          let all = true;
          if (n.kind === 'dir')
            for (const c of this.#stmt.children.all(n.id) as NodeRow[]) if (!visit(c)) all = false;
          if (!all || (expect && n !== node && expect.get(n.id) !== n.rev)) return false;
          order.push(n);
          return true;
        };
        visit(node);
        let batch: number | undefined;
        return order.map((n) => {
          const r = this.#tombstone(actor, op.ns, n, batch);
          batch ??= r.rev;
          return r;
        });
      })
      .immediate();
  }

  async restore(actor: Actor, op: RestoreOp): Promise<Revision[]> {
    return this.#db
      .transaction(() => {
        const s = this.#stmt;
        const source = s.revision.get(op.ns, op.rev) as RevisionRow | undefined;
        const what = 'id' in op.node ? `node ${op.node.id}` : op.node.path;
        const notOf = () => new LoftError('NOT_FOUND', `rev ${op.rev} is not a kept revision of ${what}`);
        if (!source) throw notOf();
        const node = this.#nodeById(op.ns, source.node_id);
        if ('id' in op.node) {
          if (op.node.id !== node.id) throw notOf();
        } else if (joinPath(this.#pathOf(op.ns, node)) !== joinPath(splitPath(op.node.path))) {
          throw notOf();
        }
        if (node.kind === 'dir') {
          if (!node.deleted)
            throw new LoftError('IS_DIR', `${node.name} is a live directory; restore the files in it`);
          if (op.toPath !== undefined)
            throw new LoftError('BAD_REQUEST', 'a deleted folder comes back at its last place only');
          return this.#restoreDir(actor, op.ns, node);
        }
        if (node.purged || source.content_seq === null) throw notOf();
        const created: Revision[] = [];
        const content = (seq: number, nodeId: number, parentId: number, name: string, op2: RevisionOp) =>
          this.#addRevision(actor, op.ns, seq, {
            nodeId,
            op: op2,
            parentId,
            name,
            kind: 'file',
            deleted: false,
            size: source.size,
            mtime: source.mtime,
            mode: source.mode,
            contentSeq: source.content_seq,
            restoredFrom: source.seq,
          });
        if (op.toPath !== undefined) {
          // A copy at another path: a new node, the original untouched.
          const parts = splitPath(op.toPath);
          if (parts.length === 0) throw new LoftError('EXISTS', 'the root exists');
          const name = parts.pop()!;
          const parentId = this.#ensureDirsFrom(actor, op.ns, this.#root(op.ns), parts, actor.now, created);
          this.#assertFree(parentId, name, op.toPath);
          const seq = this.#nextSeq(op.ns);
          const nodeId = this.#insertNode(op.ns, parentId, name, 'file', seq);
          created.push(content(seq, nodeId, parentId, name, 'create'));
          return created;
        }
        if (!node.deleted) {
          if (op.parentRev !== undefined) this.#checkRev(node, op.parentRev);
          const seq = this.#nextSeq(op.ns);
          created.push(content(seq, node.id, node.parent_id!, node.name, 'commit'));
          return created;
        }
        // A deleted file comes back at its last place: below its nearest live ancestor, through
        // directories of the names it had (existing live ones are used, missing ones created anew).
        const missing: string[] = [];
        let at = this.#nodeById(op.ns, node.parent_id!);
        while (at.deleted) {
          missing.unshift(at.name);
          at = this.#nodeById(op.ns, at.parent_id!);
        }
        const parentId = this.#ensureDirsFrom(actor, op.ns, at.id, missing, actor.now, created);
        this.#assertFree(parentId, node.name, joinPath(this.#pathOf(op.ns, node)));
        const seq = this.#nextSeq(op.ns);
        created.push(content(seq, node.id, parentId, node.name, 'create'));
        return created;
      })
      .immediate();
  }

  /**
   * A deleted folder comes back as it was when it was deleted: the same node at its last place
   * (missing ancestors created anew, as for a file), with everything that delete took along, each
   * node with its id and its last content. A recursive delete tombstones the subtree (children
   * before their folder) in one transaction, so what it took is the run of deletes of nodes below
   * the folder just before the folder's own; nodes brought back or purged since stay as they are. Returns the new
   * revisions, the folder's last (the one the answer is about; in the journal it comes first).
   */
  #restoreDir(actor: Actor, ns: number, dir: NodeRow): Revision[] {
    const s = this.#stmt;
    const below = (n: NodeRow): boolean => {
      for (let at = n.parent_id; at !== null; at = this.#nodeById(ns, at).parent_id)
        if (at === dir.id) return true;
      return false;
    };
    const taken: NodeRow[] = [];
    // Tombstones from before schema v3 have no batch: the run of deletes below it stands for it.
    const batch = (s.revision.get(ns, dir.rev) as RevisionRow | undefined)?.deleted_with ?? 0;
    for (let seq = dir.rev - 1; seq >= batch && seq > 0; seq--) {
      const r = s.revision.get(ns, seq) as RevisionRow | undefined;
      if (!r || r.op !== 'delete' || (batch && r.deleted_with !== batch)) break;
      const n = this.#nodeById(ns, r.node_id);
      if (!below(n)) break;
      if (n.rev === seq && !n.purged) taken.push(n);
    }
    const created: Revision[] = [];
    const missing: string[] = [];
    let at = this.#nodeById(ns, dir.parent_id!);
    while (at.deleted) {
      missing.unshift(at.name);
      at = this.#nodeById(ns, at.parent_id!);
    }
    const parentId = this.#ensureDirsFrom(actor, ns, at.id, missing, actor.now, created);
    this.#assertFree(parentId, dir.name, joinPath([...this.#pathOf(ns, at), ...missing, dir.name]));
    const back = new Set<number>();
    const revive = (n: NodeRow, parentId: number): Revision | null => {
      const lastSeq = (s.prevRev.get(n.id, ns, n.rev) as { seq: number | null }).seq;
      const last = lastSeq === null ? undefined : (s.revision.get(ns, lastSeq) as RevisionRow | undefined);
      if (!last || (n.kind === 'file' && last.content_seq === null)) return null;
      back.add(n.id);
      const rev = this.#addRevision(actor, ns, this.#nextSeq(ns), {
        nodeId: n.id,
        op: n.kind === 'dir' ? 'mkdir' : 'create',
        parentId,
        name: n.name,
        kind: n.kind,
        deleted: false,
        size: n.kind === 'dir' ? 0 : last.size,
        mtime: last.mtime,
        mode: last.mode,
        contentSeq: n.kind === 'dir' ? null : last.content_seq,
        ...(n.kind === 'dir' ? {} : { restoredFrom: last.seq }),
      });
      created.push(rev);
      return rev;
    };
    const folder = revive(dir, parentId);
    if (!folder) throw new LoftError('NOT_FOUND', `${dir.name} has no kept revision to restore`);
    // A delete tombstones what a folder holds before the folder: walked backwards (as `taken` was
    // collected), every folder comes back before what it held.
    for (const n of taken) if (back.has(n.parent_id!)) revive(n, n.parent_id!);
    return [...created.filter((r) => r !== folder), folder];
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

  async listTree(ns: number, after: number, limit: number, maxBlocks: number): Promise<TreePage> {
    return this.#db.transaction(() => {
      this.#head(ns); // NOT_FOUND for an unknown namespace
      // One more row than asked tells whether another page follows.
      const rows = this.#stmt.treePage.all(ns, after, limit + 1) as RevisionRow[];
      const entries: Revision[] = [];
      let blocks = 0;
      for (const row of rows.slice(0, limit)) {
        if (entries.length > 0 && blocks >= maxBlocks) break;
        const r = this.#toRevision(row);
        blocks += r.blocks?.length ?? 0;
        entries.push(r);
      }
      const more = entries.length < rows.length;
      return { entries, next: more ? entries[entries.length - 1]!.id : null };
    })();
  }

  async listDeleted(ns: number, dirId: number, limit: number): Promise<DeletedList> {
    return this.#db.transaction(() => {
      const s = this.#stmt;
      const dir = this.#nodeById(ns, dirId);
      if (dir.deleted) throw new LoftError('NOT_FOUND', `${dir.name} does not exist`);
      if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `${dir.name} is not a directory`);
      const entries: DeletedEntry[] = [];
      let truncated = false;
      // Breadth first through every directory below, live or deleted (a deleted directory's files
      // are listed with their paths inside it).
      const queue: { id: number; path: string }[] = [{ id: dir.id, path: joinPath(this.#pathOf(ns, dir)) }];
      while (queue.length && !truncated) {
        const { id, path } = queue.shift()!;
        for (const child of s.allChildren.all(id) as NodeRow[]) {
          const childPath = (path === '/' ? '' : path) + '/' + child.name;
          if (child.kind === 'dir') queue.push({ id: child.id, path: childPath });
          if (!child.deleted || child.purged) continue;
          if (entries.length === limit) {
            truncated = true;
            break;
          }
          const tomb = this.#revision(ns, child.rev);
          const prev = s.prevRev.get(child.id, ns, child.rev) as { seq: number | null };
          entries.push({
            id: child.id,
            path: childPath,
            kind: child.kind,
            size: tomb.size,
            rev: tomb.rev,
            deletedAt: tomb.time,
            device: tomb.device,
            lastRev: prev.seq,
          });
        }
      }
      entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : b.rev - a.rev));
      return { entries, truncated };
    })();
  }

  // ---- retention and garbage collection -----------------------------------------------------------

  async purgeHistory(cutoff: number, batch: number): Promise<PurgeBatch> {
    return this.#db
      .transaction((): PurgeBatch => {
        const s = this.#stmt;
        let revisions = 0;
        let purgedNodes = 0;
        let looked = 0;
        const freed = new Map<number, Set<number>>();
        const free = (ns: number, contentSeq: number | null) => {
          if (contentSeq === null) return;
          if (!freed.has(ns)) freed.set(ns, new Set());
          freed.get(ns)!.add(contentSeq);
        };
        const drop = (ns: number, seq: number, contentSeq: number | null) => {
          s.deleteRevision.run(ns, seq);
          revisions++;
          free(ns, contentSeq);
        };
        // Deleted long enough: only the delete revision stays (for the journal), without content.
        // Each node leaves the partial index nodes_tombstones as it is marked purged.
        for (const node of s.oldTombstones.all(cutoff, batch) as NodeRow[]) {
          looked++;
          const revs = s.revTimes.all(node.id, node.ns_id) as {
            seq: number;
            content_seq: number | null;
          }[];
          const last = revs[revs.length - 1];
          if (last) {
            for (const r of revs.slice(0, -1)) drop(node.ns_id, r.seq, r.content_seq);
            if (last.content_seq !== null) {
              s.stripContent.run(node.ns_id, last.seq);
              free(node.ns_id, last.content_seq);
            }
          }
          s.markPurged.run(node.id);
          purgedNodes++;
        }
        // A file revision is kept while it was current at some time within the window: the ones
        // superseded at or before the cutoff go (each leaves revisions_superseded as it is deleted).
        // Directories keep every revision: they carry no content, and a device replaying the
        // journal must meet a directory before the files placed in it.
        if (looked < batch) {
          const revs = s.supersededRevs.all(cutoff, batch - looked) as {
            ns_id: number;
            seq: number;
            content_seq: number | null;
          }[];
          looked += revs.length;
          for (const r of revs) drop(r.ns_id, r.seq, r.content_seq);
        }
        for (const [ns, seqs] of freed) {
          for (const seq of seqs) {
            if (s.contentUsed.get(ns, seq)) continue;
            s.addContentCandidates.run(ns, seq);
            s.deleteContent.run(ns, seq);
          }
        }
        return { revisions, nodes: purgedNodes, more: looked >= batch };
      })
      .immediate();
  }

  async claimGarbage(
    touchedBefore: number,
    now: number,
    afterHash: string,
    scan: number,
  ): Promise<ClaimBatch> {
    return this.#db
      .transaction((): ClaimBatch => {
        const s = this.#stmt;
        const rows = s.scanCandidates.all(afterHash, scan) as {
          hash: string;
          stored_size: number | null;
          touched_at: number | null;
        }[];
        const claimed: ClaimedBlock[] = [];
        for (const row of rows) {
          if (row.touched_at === null || row.stored_size === null) {
            s.dropCandidate.run(row.hash); // no longer stored (claimed by another collector)
            continue;
          }
          if (row.touched_at >= touchedBefore) continue; // within the grace: looked at again later
          s.dropCandidate.run(row.hash);
          // Referenced: no longer a candidate; retention makes it one again if it drops the last list.
          if (s.referenced.get(row.hash)) continue;
          s.deleteBlock.run(row.hash);
          s.deleteUserBlocks.run(row.hash);
          s.insertClaim.run(row.hash, now);
          claimed.push({ hash: row.hash, storedSize: row.stored_size });
        }
        return {
          claimed,
          next: rows.length < scan ? null : rows[rows.length - 1]!.hash,
          scanned: rows.length,
        };
      })
      .immediate();
  }

  async takeStaleClaims(claimedBefore: number, now: number, limit: number): Promise<string[]> {
    return this.#db
      .transaction(() => {
        const rows = this.#stmt.staleClaims.all(claimedBefore, limit) as { hash: string }[];
        for (const r of rows) this.#stmt.renewClaim.run(now, r.hash);
        return rows.map((r) => r.hash);
      })
      .immediate();
  }

  async finishClaims(hashes: readonly string[]): Promise<void> {
    this.#db
      .transaction(() => {
        for (const h of hashes) this.#stmt.deleteClaim.run(h);
      })
      .immediate();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /**
   * EXPLAIN QUERY PLAN of every statement this store prepares, by name (for the plan test, and for
   * an operator wondering why a query is slow). Parameters are bound as NULL: the plan depends on
   * the shape of the query and the indexes, not on the values.
   */
  queryPlans(): { name: string; sql: string; plan: string[] }[] {
    return Object.entries(this.#stmt).map(([name, stmt]) => {
      const sql = stmt.source;
      const params = (sql.match(/\?/g) ?? []).map(() => null);
      const rows = this.#db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      return { name, sql, plan: rows.map((r) => r.detail) };
    });
  }

  /** Updates the planner's statistics (sqlite_stat1), as `PRAGMA optimize` would when they are stale. */
  analyze(): void {
    this.#db.exec('ANALYZE');
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

  /**
   * The folder and name a Place names: by id, a live folder (#liveDir); by path, the folder
   * `dirOf` finds (or makes) for the path's parent components. The root itself: `atRoot()`.
   */
  #placeOf(
    ns: number,
    place: Place,
    dirOf: (parts: readonly string[]) => number,
    atRoot: () => LoftError,
  ): { parentId: number; name: string } {
    if ('parentId' in place) {
      validateName(place.name);
      return { parentId: this.#liveDir(ns, place.parentId), name: place.name };
    }
    const parts = splitPath(place.path);
    const name = parts.pop();
    if (name === undefined) throw atRoot();
    return { parentId: dirOf(parts), name };
  }

  /** A live folder given by id (a place to put a node in); deleted: NOT_FOUND, details.deleted. */
  #liveDir(ns: number, id: number): number {
    const dir = this.#nodeById(ns, id);
    if (dir.deleted) {
      throw new LoftError('NOT_FOUND', `folder ${id} was deleted at rev ${dir.rev}`, {
        details: { id, deleted: true },
      });
    }
    if (dir.kind !== 'dir') throw new LoftError('NOT_DIR', `node ${id} is not a directory`);
    return dir.id;
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
    return this.#ensureDirsFrom(actor, ns, this.#root(ns), parts, mtime);
  }

  #ensureDirsFrom(
    actor: Actor,
    ns: number,
    from: number,
    parts: readonly string[],
    mtime: number,
    created?: Revision[],
  ): number {
    let id = from;
    for (const part of parts) {
      const next = this.#stmt.child.get(id, part) as NodeRow | undefined;
      if (next && next.kind !== 'dir') throw new LoftError('NOT_DIR', `${part} is not a directory`);
      if (next) {
        id = next.id;
      } else {
        const made = this.#mkdirIn(actor, ns, id, part, mtime, 0o755);
        created?.push(made);
        id = made.id;
      }
    }
    return id;
  }

  /** The node's path components from the root, through its (possibly deleted) ancestors' last names. */
  #pathOf(ns: number, node: NodeRow): string[] {
    const parts: string[] = [];
    for (let at = node; at.parent_id !== null; at = this.#nodeById(ns, at.parent_id)) parts.unshift(at.name);
    return parts;
  }

  #assertFree(parentId: number, name: string, path: string): void {
    const holder = this.#stmt.child.get(parentId, name) as NodeRow | undefined;
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

  /** `batch`: the seq of the first tombstone of the same delete (default: this one's). */
  #tombstone(actor: Actor, ns: number, node: NodeRow, batch?: number): Revision {
    const current = this.#revision(ns, node.rev);
    const seq = this.#nextSeq(ns);
    this.#stmt.updateNode.run(node.parent_id, node.name, 1, seq, node.id);
    this.#stmt.setDeletedAt.run(actor.now, node.id);
    this.#deletedWith = batch ?? seq;
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

  /** The batch of the tombstone being added (see #tombstone). */
  #deletedWith: number | null = null;

  #addRevision(actor: Actor, ns: number, seq: number, r: NewRevision): Revision {
    // The node's previous revision stops being current now (retention counts from this time).
    this.#stmt.supersede.run(actor.now, ns, r.nodeId, ns, seq);
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
      r.restoredFrom ?? null,
    );
    if (r.op === 'delete') this.#stmt.setDeletedWith.run(this.#deletedWith ?? seq, ns, seq);
    else this.#stmt.updateNode.run(r.parentId, r.name, 0, seq, r.nodeId);
    this.#deletedWith = null;
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
    if (row.restored_from !== null) rev.restoredFrom = row.restored_from;
    if (row.kind === 'file' && !rev.deleted && row.content_seq !== null) {
      rev.blocks = this.#stmt.content.all(row.ns_id, row.content_seq) as BlockRef[];
    }
    return rev;
  }
}
