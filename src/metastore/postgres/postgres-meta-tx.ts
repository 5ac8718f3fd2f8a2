/**
 * MetaTx on PostgreSQL (node-postgres): every primitive yields the Promise of its query and is
 * resumed with the result (engine/step.ts), inside the transaction the store opened on one pooled
 * connection. The locks are real here (see engine/meta-tx.ts for what each protects):
 * - lockGc: a transaction-scoped advisory lock (LOCK_CLASS, GC_LOCK);
 * - lockNs: the namespace row FOR UPDATE, once per transaction and namespace;
 * - lockBlocks: transaction-scoped advisory locks keyed by the first 64 bits of each hash, taken
 *   in the order given (callers sort), shared or exclusive.
 * This file holds the tree, blocks and collection primitives; the others are in the classes it
 * extends (postgres-folder-tx.ts, postgres-sharing-tx.ts, postgres-tx-base.ts) and in contentTx
 * (postgres-content-tx.ts), split by concept as on the SQLite side.
 */
import type { BlockRef, NodeKind } from '../../shared/protocol.js';
import type {
  BlockRow,
  CandidateRow,
  ContentRef,
  InsertRevision,
  MetaTx,
  NodeRow,
  RevisionRow,
  UserRow,
} from '../engine/meta-tx.js';
import type { Step } from '../engine/step.js';
import type { ChildEntry, Principal, Role } from '../metadata-store.js';
import { PostgresFolderTx } from './postgres-folder-tx.js';
import { PostgresContentTx } from './postgres-content-tx.js';
import { nameSearch } from './postgres-name-search.js';
import type { Queryable } from './postgres-tx-base.js';
import { GC_LOCK, LOCK_CLASS } from './schema.js';

const REVISION = `SELECT r.*, d.name AS device FROM revisions r LEFT JOIN devices d ON d.id = r.device_id`;
/** A page of the live tree: $1 namespace, $2 after this node id, $3 limit (exported for the plan test). */
export const LIVE_REVISIONS = `SELECT r.*, d.name AS device FROM nodes n
   JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
   LEFT JOIN devices d ON d.id = r.device_id
  WHERE n.ns_id = $1 AND n.deleted = 0 AND n.id > $2 ORDER BY n.id LIMIT $3`;
const HASH_KEY = `('x' || substr(h, 1, 16))::bit(64)::bigint`;

export class PostgresMetaTx extends PostgresFolderTx implements MetaTx {
  #lockedNs = new Set<number>();
  /** The namespaces locked when the savepoint was set (a rollback to it may release later ones). */
  #lockedAtSavepoint: Set<number> | null = null;

  readonly contentTx: PostgresContentTx;

  constructor(db: Queryable) {
    super(db);
    this.contentTx = new PostgresContentTx(db);
  }

  *lockGc(): Step<void> {
    yield* this.run('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, GC_LOCK]);
  }
  *lockNs(ns: number): Step<void> {
    if (this.#lockedNs.has(ns)) return;
    yield* this.run('SELECT 1 FROM namespaces WHERE id = $1 FOR UPDATE', [ns]);
    this.#lockedNs.add(ns);
  }
  // Utility statements, sent unnamed (nothing to plan).
  *savepoint(): Step<void> {
    yield this.db.query({ text: 'SAVEPOINT loft_op' });
    this.#lockedAtSavepoint = new Set(this.#lockedNs);
  }
  *rollbackToSavepoint(): Step<void> {
    yield this.db.query({ text: 'ROLLBACK TO SAVEPOINT loft_op' });
    if (this.#lockedAtSavepoint) this.#lockedNs = new Set(this.#lockedAtSavepoint);
  }
  *releaseSavepoint(): Step<void> {
    yield this.db.query({ text: 'RELEASE SAVEPOINT loft_op' });
    this.#lockedAtSavepoint = null;
  }

  *lockBlocks(hashes: readonly string[], shared: boolean): Step<void> {
    if (hashes.length === 0) return;
    const fn = shared ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
    yield* this.run(
      `SELECT ${fn}(${HASH_KEY}) FROM unnest($1::text[]) WITH ORDINALITY AS t(h, i) ORDER BY i`,
      [hashes],
    );
  }

  *findUser(name: string): Step<UserRow | undefined> {
    return yield* this.row<UserRow>('SELECT id, name, home_ns FROM users WHERE name = $1', [name]);
  }
  *insertUser(name: string, now: number): Step<number> {
    return (yield* this.row<{ id: number }>(
      'INSERT INTO users (name, home_ns, created_at) VALUES ($1, 0, $2) RETURNING id',
      [name, now],
    ))!.id;
  }
  *setHome(ns: number, userId: number): Step<void> {
    yield* this.run('UPDATE users SET home_ns = $1 WHERE id = $2', [ns, userId]);
  }
  *insertNs(ownerId: number, now: number): Step<number> {
    return (yield* this.row<{ id: number }>(
      'INSERT INTO namespaces (owner_id, root_id, head_seq, created_at) VALUES ($1, 0, 0, $2) RETURNING id',
      [ownerId, now],
    ))!.id;
  }
  *setRoot(rootId: number, ns: number): Step<void> {
    yield* this.run('UPDATE namespaces SET root_id = $1 WHERE id = $2', [rootId, ns]);
  }
  *insertMember(ns: number, userId: number, role: Role): Step<void> {
    yield* this.run('INSERT INTO ns_members (ns_id, user_id, role) VALUES ($1, $2, $3)', [ns, userId, role]);
  }
  *insertDevice(
    userId: number,
    name: string,
    tokenHash: string,
    now: number,
    expiresAt: number | null,
  ): Step<number> {
    return (yield* this.row<{ id: number }>(
      `INSERT INTO devices (user_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING id`,
      [userId, name, tokenHash, now, expiresAt],
    ))!.id;
  }
  *auth(tokenHash: string, now: number): Step<Principal | undefined> {
    return yield* this.row<Principal>(
      `SELECT d.id AS "deviceId", d.name AS "deviceName", u.id AS "userId", u.name AS "userName",
              u.home_ns AS "homeNs", d.last_seen_at AS "lastSeenAt"
         FROM devices d JOIN users u ON u.id = d.user_id
        WHERE d.token_hash = $1 AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $2)`,
      [tokenHash, now],
    );
  }
  *setPasswordHash(userId: number, hash: string | null): Step<void> {
    yield* this.run('UPDATE users SET password_hash = $1 WHERE id = $2', [hash, userId]);
  }
  *passwordHash(name: string): Step<{ id: number; password_hash: string | null } | undefined> {
    return yield* this.row<{ id: number; password_hash: string | null }>(
      'SELECT id, password_hash FROM users WHERE name = $1',
      [name],
    );
  }
  *installationId(): Step<string> {
    return (yield* this.row<{ id: string }>('SELECT id FROM installation WHERE singleton = 1', []))!.id;
  }
  *revokeDevice(tokenHash: string, now: number): Step<boolean> {
    return (
      (yield* this.run('UPDATE devices SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL', [
        now,
        tokenHash,
      ])) > 0
    );
  }
  *searchNames(userId: number, query: string, limit: number): Step<NodeRow[]> {
    // A probe, then pg_trgm or the short-gram index (postgres-name-search.ts).
    const like = `%${query.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    return yield* nameSearch(this.db, userId, query, like, limit);
  }
  *role(ns: number, userId: number): Step<Role | undefined> {
    return (yield* this.row<{ role: Role }>('SELECT role FROM ns_members WHERE ns_id = $1 AND user_id = $2', [
      ns,
      userId,
    ]))?.role;
  }

  *rootOf(ns: number): Step<number | undefined> {
    return (yield* this.row<{ root_id: number }>('SELECT root_id FROM namespaces WHERE id = $1', [ns]))
      ?.root_id;
  }
  *head(ns: number): Step<number | undefined> {
    return (yield* this.row<{ head_seq: number }>('SELECT head_seq FROM namespaces WHERE id = $1', [ns]))
      ?.head_seq;
  }
  *nextSeq(ns: number): Step<number | undefined> {
    return (yield* this.row<{ head_seq: number }>(
      'UPDATE namespaces SET head_seq = head_seq + 1 WHERE id = $1 RETURNING head_seq',
      [ns],
    ))?.head_seq;
  }
  *insertNode(ns: number, parentId: number | null, name: string, kind: NodeKind, rev: number): Step<number> {
    return (yield* this.row<{ id: number }>(
      'INSERT INTO nodes (ns_id, parent_id, name, kind, deleted, rev) VALUES ($1, $2, $3, $4, 0, $5) RETURNING id',
      [ns, parentId, name, kind, rev],
    ))!.id;
  }
  *updateNode(parentId: number | null, name: string, deleted: boolean, rev: number, id: number): Step<void> {
    yield* this.run('UPDATE nodes SET parent_id = $1, name = $2, deleted = $3, rev = $4 WHERE id = $5', [
      parentId,
      name,
      deleted ? 1 : 0,
      rev,
      id,
    ]);
  }
  *setDeletedAt(now: number, id: number): Step<void> {
    yield* this.run('UPDATE nodes SET deleted_at = $1 WHERE id = $2', [now, id]);
  }
  *nodeById(id: number, ns: number): Step<NodeRow | undefined> {
    return yield* this.row<NodeRow>('SELECT * FROM nodes WHERE id = $1 AND ns_id = $2', [id, ns]);
  }
  *child(parentId: number, name: string): Step<NodeRow | undefined> {
    return yield* this.row<NodeRow>(
      'SELECT * FROM nodes WHERE parent_id = $1 AND name = $2 AND deleted = 0',
      [parentId, name],
    );
  }
  *children(parentId: number): Step<NodeRow[]> {
    return yield* this.rows<NodeRow>(
      'SELECT * FROM nodes WHERE parent_id = $1 AND deleted = 0 ORDER BY name',
      [parentId],
    );
  }
  *childRevisions(parentId: number): Step<RevisionRow[]> {
    return yield* this.rows<RevisionRow>(
      `SELECT r.*, d.name AS device FROM nodes n
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
         LEFT JOIN devices d ON d.id = r.device_id
        WHERE n.parent_id = $1 AND n.deleted = 0 ORDER BY n.name`,
      [parentId],
    );
  }
  *childEntries(parentId: number): Step<ChildEntry[]> {
    return yield* this.rows<ChildEntry>(
      `SELECT n.id, n.name, n.kind, r.size, r.mtime, n.rev FROM nodes n
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
        WHERE n.parent_id = $1 AND n.deleted = 0`,
      [parentId],
    );
  }
  *hasChild(parentId: number): Step<boolean> {
    return yield* this.exists('SELECT 1 FROM nodes WHERE parent_id = $1 AND deleted = 0 LIMIT 1', [parentId]);
  }
  *allChildren(parentId: number): Step<NodeRow[]> {
    return yield* this.rows<NodeRow>('SELECT * FROM nodes WHERE parent_id = $1 ORDER BY name, id', [
      parentId,
    ]);
  }
  *liveRevisions(ns: number, after: number, limit: number): Step<RevisionRow[]> {
    // nodes_ns_live (schema v2): the namespace's live nodes by id, neither other namespaces' nor tombstones.
    return yield* this.rows<RevisionRow>(LIVE_REVISIONS, [ns, after, limit]);
  }

  *insertRevision(r: InsertRevision): Step<void> {
    yield* this.run(
      `INSERT INTO revisions (ns_id, seq, node_id, op, parent_id, name, kind, deleted, size, mtime, mode,
                              content_seq, device_id, created_at, restored_from)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        r.ns,
        r.seq,
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
        r.deviceId,
        r.createdAt,
        r.restoredFrom,
      ],
    );
  }
  *setDeletedWith(batch: number, ns: number, seq: number): Step<void> {
    yield* this.run('UPDATE revisions SET deleted_with = $1 WHERE ns_id = $2 AND seq = $3', [batch, ns, seq]);
  }
  *supersede(now: number, ns: number, nodeId: number, seq: number): Step<void> {
    yield* this.run(
      `UPDATE revisions SET superseded_at = $1
        WHERE ns_id = $2 AND seq = (SELECT MAX(seq) FROM revisions WHERE node_id = $3 AND ns_id = $2 AND seq < $4)`,
      [now, ns, nodeId, seq],
    );
  }
  *revision(ns: number, seq: number): Step<RevisionRow | undefined> {
    return yield* this.row<RevisionRow>(`${REVISION} WHERE r.ns_id = $1 AND r.seq = $2`, [ns, seq]);
  }
  *revisionsOf(nodeId: number, ns: number): Step<RevisionRow[]> {
    return yield* this.rows<RevisionRow>(`${REVISION} WHERE r.node_id = $1 AND r.ns_id = $2 ORDER BY r.seq`, [
      nodeId,
      ns,
    ]);
  }
  *journal(ns: number, after: number, limit: number): Step<RevisionRow[]> {
    return yield* this.rows<RevisionRow>(
      `${REVISION} WHERE r.ns_id = $1 AND r.seq > $2 ORDER BY r.seq LIMIT $3`,
      [ns, after, limit],
    );
  }
  *prevRev(nodeId: number, ns: number, seq: number): Step<number | null> {
    return (yield* this.row<{ seq: number | null }>(
      'SELECT MAX(seq) AS seq FROM revisions WHERE node_id = $1 AND ns_id = $2 AND seq < $3',
      [nodeId, ns, seq],
    ))!.seq;
  }
  *insertContent(ns: number, seq: number, blocks: readonly BlockRef[]): Step<void> {
    if (blocks.length === 0) return;
    yield* this.run(
      `INSERT INTO content_blocks (ns_id, seq, idx, hash, size)
       SELECT $1, $2, t.i - 1, t.h, t.s FROM unnest($3::text[], $4::bigint[]) WITH ORDINALITY AS t(h, s, i)`,
      [ns, seq, blocks.map((b) => b.hash), blocks.map((b) => b.size)],
    );
  }
  *content(ns: number, contentSeq: number): Step<BlockRef[]> {
    return yield* this.rows<BlockRef>(
      'SELECT hash, size FROM content_blocks WHERE ns_id = $1 AND seq = $2 ORDER BY idx',
      [ns, contentSeq],
    );
  }

  *contents(ns: number, contentSeqs: readonly number[]): Step<Map<number, BlockRef[]>> {
    const out = new Map<number, BlockRef[]>(contentSeqs.map((seq) => [seq, []]));
    if (contentSeqs.length === 0) return out;
    const rows = yield* this.rows<{ seq: number; hash: string; size: number }>(
      'SELECT seq, hash, size FROM content_blocks WHERE ns_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq, idx',
      [ns, contentSeqs],
    );
    for (const r of rows) out.get(r.seq)!.push({ hash: r.hash, size: r.size });
    return out;
  }

  *block(hash: string): Step<BlockRow | undefined> {
    return yield* this.row<BlockRow>('SELECT size, stored_size, touched_at FROM blocks WHERE hash = $1', [
      hash,
    ]);
  }
  *blocks(hashes: readonly string[]): Step<Map<string, BlockRow>> {
    if (hashes.length === 0) return new Map();
    const rows = yield* this.rows<BlockRow & { hash: string }>(
      'SELECT hash, size, stored_size, touched_at FROM blocks WHERE hash = ANY($1::text[])',
      [hashes],
    );
    return new Map(rows.map(({ hash, ...row }) => [hash, row]));
  }
  *usableBlocks(userId: number, hashes: readonly string[]): Step<Set<string>> {
    if (hashes.length === 0) return new Set();
    const rows = yield* this.rows<{ hash: string }>(
      `SELECT b.hash FROM blocks b
        WHERE b.hash = ANY($2::text[])
          AND (EXISTS (SELECT 1 FROM user_blocks ub WHERE ub.user_id = $1 AND ub.hash = b.hash)
               OR EXISTS (SELECT 1 FROM content_blocks cb JOIN ns_members m ON m.ns_id = cb.ns_id
                           WHERE cb.hash = b.hash AND m.user_id = $1))`,
      [userId, hashes],
    );
    return new Set(rows.map((r) => r.hash));
  }
  *insertBlock(hash: string, size: number, storedSize: number, now: number): Step<void> {
    yield* this.run(
      `INSERT INTO blocks (hash, size, stored_size, created_at, touched_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (hash) DO UPDATE SET touched_at = GREATEST(blocks.touched_at, excluded.touched_at)`,
      [hash, size, storedSize, now],
    );
  }
  *insertUserBlock(userId: number, hash: string, now: number): Step<boolean> {
    return (
      (yield* this.run(
        'INSERT INTO user_blocks (user_id, hash, uploaded_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [userId, hash, now],
      )) > 0
    );
  }
  *uploadedBy(userId: number, hash: string): Step<boolean> {
    return yield* this.exists('SELECT 1 FROM user_blocks WHERE user_id = $1 AND hash = $2', [userId, hash]);
  }
  *readableRef(hash: string, userId: number): Step<boolean> {
    return yield* this.exists(
      `SELECT 1 FROM content_blocks cb JOIN ns_members m ON m.ns_id = cb.ns_id
        WHERE cb.hash = $1 AND m.user_id = $2 LIMIT 1`,
      [hash, userId],
    );
  }
  *referenced(hash: string): Step<boolean> {
    return yield* this.exists('SELECT 1 FROM content_blocks WHERE hash = $1 LIMIT 1', [hash]);
  }
  *deleteBlock(hash: string): Step<void> {
    yield* this.run('DELETE FROM blocks WHERE hash = $1', [hash]);
  }
  *deleteUserBlocks(hash: string): Step<void> {
    yield* this.run('DELETE FROM user_blocks WHERE hash = $1', [hash]);
  }

  *claimOf(hash: string): Step<boolean> {
    return yield* this.exists('SELECT 1 FROM gc_claims WHERE hash = $1', [hash]);
  }
  *scanCandidates(afterHash: string, limit: number): Step<CandidateRow[]> {
    return yield* this.rows<CandidateRow>(
      `SELECT c.hash, b.stored_size, b.touched_at FROM gc_candidates c LEFT JOIN blocks b ON b.hash = c.hash
        WHERE c.hash > $1 ORDER BY c.hash LIMIT $2`,
      [afterHash, limit],
    );
  }
  *addCandidate(hash: string): Step<void> {
    yield* this.run('INSERT INTO gc_candidates (hash) VALUES ($1) ON CONFLICT DO NOTHING', [hash]);
  }
  *dropCandidate(hash: string): Step<void> {
    yield* this.run('DELETE FROM gc_candidates WHERE hash = $1', [hash]);
  }
  *addContentCandidates(ns: number, contentSeq: number): Step<void> {
    yield* this.run(
      `INSERT INTO gc_candidates (hash) SELECT hash FROM content_blocks WHERE ns_id = $1 AND seq = $2
       ON CONFLICT DO NOTHING`,
      [ns, contentSeq],
    );
  }
  *insertClaim(hash: string, now: number): Step<void> {
    yield* this.run('INSERT INTO gc_claims (hash, claimed_at) VALUES ($1, $2)', [hash, now]);
  }
  *staleClaims(before: number, limit: number): Step<string[]> {
    // SKIP LOCKED: a claim another collector is taking over right now is its, not ours.
    const rows = yield* this.rows<{ hash: string }>(
      'SELECT hash FROM gc_claims WHERE claimed_at < $1 ORDER BY hash LIMIT $2 FOR UPDATE SKIP LOCKED',
      [before, limit],
    );
    return rows.map((r) => r.hash);
  }
  *renewClaim(now: number, hash: string): Step<void> {
    yield* this.run('UPDATE gc_claims SET claimed_at = $1 WHERE hash = $2', [now, hash]);
  }
  *deleteClaim(hash: string): Step<void> {
    yield* this.run('DELETE FROM gc_claims WHERE hash = $1', [hash]);
  }

  *oldTombstones(cutoff: number, limit: number): Step<NodeRow[]> {
    return yield* this.rows<NodeRow>(
      `SELECT * FROM nodes WHERE deleted = 1 AND purged = 0 AND deleted_at <= $1 ORDER BY deleted_at LIMIT $2`,
      [cutoff, limit],
    );
  }
  *supersededRevs(cutoff: number, limit: number): Step<ContentRef[]> {
    return yield* this.rows<ContentRef>(
      `SELECT ns_id, seq, content_seq FROM revisions
        WHERE superseded_at IS NOT NULL AND kind = 'file' AND superseded_at <= $1
        ORDER BY superseded_at LIMIT $2`,
      [cutoff, limit],
    );
  }
  *revTimes(nodeId: number, ns: number): Step<{ seq: number; content_seq: number | null }[]> {
    return yield* this.rows<{ seq: number; content_seq: number | null }>(
      'SELECT seq, content_seq FROM revisions WHERE node_id = $1 AND ns_id = $2 ORDER BY seq',
      [nodeId, ns],
    );
  }
  *isSuperseded(ns: number, seq: number, cutoff: number): Step<boolean> {
    return yield* this.exists(
      `SELECT 1 FROM revisions WHERE ns_id = $1 AND seq = $2 AND kind = 'file' AND superseded_at <= $3`,
      [ns, seq, cutoff],
    );
  }
  *deleteRevision(ns: number, seq: number): Step<void> {
    yield* this.run('DELETE FROM revisions WHERE ns_id = $1 AND seq = $2', [ns, seq]);
  }
  *stripContent(ns: number, seq: number): Step<void> {
    yield* this.run('UPDATE revisions SET content_seq = NULL WHERE ns_id = $1 AND seq = $2', [ns, seq]);
  }
  *markPurged(id: number): Step<void> {
    yield* this.run('UPDATE nodes SET purged = 1 WHERE id = $1', [id]);
  }
  *contentUsed(ns: number, contentSeq: number): Step<boolean> {
    return yield* this.exists('SELECT 1 FROM revisions WHERE ns_id = $1 AND content_seq = $2 LIMIT 1', [
      ns,
      contentSeq,
    ]);
  }
  *deleteContent(ns: number, contentSeq: number): Step<void> {
    yield* this.run('DELETE FROM content_blocks WHERE ns_id = $1 AND seq = $2', [ns, contentSeq]);
  }
}
