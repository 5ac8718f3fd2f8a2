/**
 * The SQLite statements of shared folders (issue 13 item 1; engine/folder-tx.ts), merged into the
 * store's statements so that the query-plan test checks them too.
 */
import type { Preparer } from '../../shared/lazy-statements.js';

export function prepareFolderStatements(db: Preparer) {
  return {
    setHead: db.prepare('UPDATE namespaces SET head_seq = ? WHERE id = ?'),
    setNodeNs: db.prepare('UPDATE nodes SET ns_id = ? WHERE id = ?'),
    moveRevisions: db.prepare(
      'UPDATE revisions INDEXED BY revisions_node SET ns_id = ? WHERE node_id = ? AND ns_id = ?',
    ),
    copyContent: db.prepare(
      `INSERT INTO content_blocks (ns_id, seq, idx, hash, size)
       SELECT ?, seq, idx, hash, size FROM content_blocks WHERE ns_id = ? AND seq = ?`,
    ),
    setMember: db.prepare(
      `INSERT INTO ns_members (ns_id, user_id, role) VALUES (?, ?, ?)
       ON CONFLICT (ns_id, user_id) DO UPDATE SET role = excluded.role`,
    ),
    deleteMember: db.prepare('DELETE FROM ns_members WHERE ns_id = ? AND user_id = ?'),
    members: db.prepare(
      `SELECT u.name AS user, m.user_id, m.role FROM ns_members m JOIN users u ON u.id = m.user_id
        WHERE m.ns_id = ? ORDER BY u.name`,
    ),
    insertMount: db.prepare('INSERT INTO mounts (user_id, ns_id, parent_id, name) VALUES (?, ?, ?, ?)'),
    deleteMount: db.prepare('DELETE FROM mounts WHERE user_id = ? AND ns_id = ?'),
    mountsOf: db.prepare(
      `SELECT mt.user_id, mt.ns_id, mt.parent_id, mt.name, m.role, s.root_id, u.name AS owner
         FROM mounts mt
         JOIN ns_members m ON m.ns_id = mt.ns_id AND m.user_id = mt.user_id
         JOIN namespaces s ON s.id = mt.ns_id
         JOIN users u ON u.id = s.owner_id
        WHERE mt.user_id = ? ORDER BY mt.ns_id`,
    ),
    nsOfNode: db.prepare('SELECT ns_id FROM nodes WHERE id = ?'),
    userName: db.prepare('SELECT name FROM users WHERE id = ?'),
  };
}
