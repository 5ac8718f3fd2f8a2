/**
 * The SQLite statements of sharing (issue 13; engine/sharing-tx.ts), merged into the store's
 * statements so that the query-plan test checks them too.
 */
import type { Preparer } from '../../shared/lazy-statements.js';

export function prepareSharingStatements(db: Preparer) {
  return {
    devicesOf: db.prepare(
      `SELECT id, name, created_at, last_seen_at, expires_at, revoked_at FROM devices
        WHERE user_id = ? ORDER BY id`,
    ),
    revokeDevices: db.prepare(
      'UPDATE devices SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL',
    ),
    touchDevice: db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?'),
    insertLink: db.prepare(
      `INSERT INTO links (secret_hash, user_id, ns_id, node_id, created_at, expires_at, password)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    linkBySecret: db.prepare(
      `SELECT id, user_id, ns_id, node_id, created_at, expires_at, password, revoked_at FROM links
        WHERE secret_hash = ?`,
    ),
    linksOf: db.prepare(
      `SELECT id, user_id, ns_id, node_id, created_at, expires_at, password, revoked_at FROM links
        WHERE user_id = ? ORDER BY id`,
    ),
    revokeLink: db.prepare(
      'UPDATE links SET revoked_at = ? WHERE user_id = ? AND id = ? AND revoked_at IS NULL',
    ),
    setQuota: db.prepare('UPDATE users SET quota_bytes = ? WHERE id = ?'),
    nsQuota: db.prepare(
      `SELECT n.owner_id, u.quota_bytes FROM namespaces n JOIN users u ON u.id = n.owner_id
        WHERE n.id = ?`,
    ),
    usedBytes: db.prepare(
      `SELECT COALESCE(SUM(r.size), 0) AS used FROM namespaces s
         JOIN nodes n INDEXED BY nodes_ns_live ON n.ns_id = s.id AND n.deleted = 0
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
        WHERE s.owner_id = ? AND n.kind = 'file'`,
    ),
  };
}
