/**
 * Every statement the SQLite engine runs, prepared once per connection. Each is checked with
 * EXPLAIN QUERY PLAN in test/unit/metastore/sqlite-query-plans.test.ts: a full scan of a large
 * table fails a test.
 */
import type { Preparer } from '../../shared/lazy-statements.js';
import { prepareWebStatements } from './sqlite-web-statements.js';
import { prepareFolderStatements } from './sqlite-folder-statements.js';
import { prepareSharingStatements } from './sqlite-sharing-statements.js';
import { prepareContentStatements } from './sqlite-content-statements.js';

export type SqliteStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Preparer) {
  return {
    ...prepareSharingStatements(db),
    ...prepareFolderStatements(db),
    ...prepareWebStatements(db),
    ...prepareContentStatements(db),
    // One op of a batch (engine/tree-batch.ts); `ROLLBACK TO` keeps the savepoint, RELEASE ends it.
    savepoint: db.prepare('SAVEPOINT loft_op'),
    rollbackToSavepoint: db.prepare('ROLLBACK TO loft_op'),
    releaseSavepoint: db.prepare('RELEASE loft_op'),
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
      `SELECT d.id AS deviceId, d.name AS deviceName, u.id AS userId, u.name AS userName, u.home_ns AS homeNs,
              d.last_seen_at AS lastSeenAt
         FROM devices d JOIN users u ON u.id = d.user_id
        WHERE d.token_hash = ? AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > ?)`,
    ),
    role: db.prepare('SELECT role FROM ns_members WHERE ns_id = ? AND user_id = ?'),
    setPasswordHash: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
    passwordHash: db.prepare('SELECT id, password_hash FROM users WHERE name = ?'),
    installationId: db.prepare('SELECT id FROM installation WHERE singleton = 1'),
    revokeDevice: db.prepare(
      'UPDATE devices SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL RETURNING id',
    ),
    // FTS5 trigram match (3 characters or more): the index finds the names, the join keeps the
    // caller's live nodes. The phrase is quoted by the caller (sqlite-meta-tx.ts), or an OR of
    // the trigrams that hold a 1-2 character query.
    searchNames: db.prepare(
      `SELECT n.* FROM nodes_fts f
         JOIN nodes n ON n.id = f.rowid
         JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = ?
        WHERE nodes_fts MATCH ? AND n.deleted = 0 AND n.parent_id IS NOT NULL
        LIMIT CAST(? AS INTEGER)`,
    ),
    // Common 1-2 character queries (held by many trigrams; sqlite-meta-tx.ts searchNames): a
    // scan of the node table itself, the caller's namespaces
    // checked only for names that match (CROSS JOIN keeps nodes the outer loop). Measured 61 ms
    // over a million names where the FTS table's LIKE (each row read back from nodes) took 315 ms;
    // LIMIT ends it early when the term is common.
    searchNamesShort: db.prepare(
      `SELECT n.* FROM nodes n
         CROSS JOIN ns_members m ON m.ns_id = n.ns_id AND m.user_id = ?
        WHERE n.name LIKE ? ESCAPE '\\' AND n.deleted = 0 AND n.parent_id IS NOT NULL
        LIMIT CAST(? AS INTEGER)`,
    ),
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
    childRevisions: db.prepare(
      `SELECT r.*, d.name AS device FROM nodes n
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
         LEFT JOIN devices d ON d.id = r.device_id
        WHERE n.parent_id = ? AND n.deleted = 0 ORDER BY n.name`,
    ),
    // Each live node's current revision in one statement (a node's rev is its latest revision).
    treePage: db.prepare(
      `SELECT r.*, d.name AS device FROM nodes n INDEXED BY nodes_ns_live
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
         LEFT JOIN devices d ON d.id = r.device_id
        WHERE n.ns_id = ? AND n.deleted = 0 AND n.id > ? ORDER BY n.id LIMIT CAST(? AS INTEGER)`,
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
        WHERE r.ns_id = ? AND r.seq > ? ORDER BY r.seq LIMIT CAST(? AS INTEGER)`,
    ),
    insertContent: db.prepare(
      'INSERT INTO content_blocks (ns_id, seq, idx, hash, size) VALUES (?, ?, ?, ?, ?)',
    ),
    content: db.prepare('SELECT hash, size FROM content_blocks WHERE ns_id = ? AND seq = ? ORDER BY idx'),
    block: db.prepare('SELECT size, stored_size, touched_at FROM blocks WHERE hash = ?'),
    insertBlock: db.prepare(
      `INSERT INTO blocks (hash, size, stored_size, created_at, touched_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (hash) DO UPDATE SET touched_at = MAX(touched_at, excluded.touched_at)`,
    ),
    claimOf: db.prepare('SELECT 1 FROM gc_claims WHERE hash = ?'),
    scanCandidates: db.prepare(
      `SELECT c.hash, b.stored_size, b.touched_at FROM gc_candidates c LEFT JOIN blocks b ON b.hash = c.hash
        WHERE c.hash > ? ORDER BY c.hash LIMIT CAST(? AS INTEGER)`,
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
    staleClaims: db.prepare('SELECT hash FROM gc_claims WHERE claimed_at < ? ORDER BY hash LIMIT CAST(? AS INTEGER)'),
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
        ORDER BY deleted_at LIMIT CAST(? AS INTEGER)`,
    ),
    supersededRevs: db.prepare(
      `SELECT ns_id, seq, content_seq FROM revisions
        WHERE superseded_at IS NOT NULL AND kind = 'file' AND superseded_at <= ?
        ORDER BY superseded_at LIMIT CAST(? AS INTEGER)`,
    ),
    isSuperseded: db.prepare(
      `SELECT 1 FROM revisions WHERE ns_id = ? AND seq = ? AND kind = 'file' AND superseded_at <= ?`,
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
