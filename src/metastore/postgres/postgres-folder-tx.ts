/**
 * The shared-folder primitives of MetaTx on PostgreSQL (issue 13 item 1; engine/folder-tx.ts):
 * namespace heads, moving a subtree's rows into a new namespace, members and mounts. Each is one
 * statement and decides nothing.
 */
import type { FolderTx, MemberRow, MountRow } from '../engine/folder-tx.js';
import type { Step } from '../engine/step.js';
import type { Role } from '../metadata-store.js';
import { PostgresSharingTx } from './postgres-sharing-tx.js';

export class PostgresFolderTx extends PostgresSharingTx implements FolderTx {
  *setHead(ns: number, seq: number): Step<void> {
    yield* this.run('UPDATE namespaces SET head_seq = $1 WHERE id = $2', [seq, ns]);
  }
  *setNodeNs(id: number, ns: number): Step<void> {
    yield* this.run('UPDATE nodes SET ns_id = $1 WHERE id = $2', [ns, id]);
  }
  *moveRevisions(from: number, to: number, nodeId: number): Step<void> {
    yield* this.run('UPDATE revisions SET ns_id = $1 WHERE node_id = $2 AND ns_id = $3', [to, nodeId, from]);
  }
  *copyContent(from: number, to: number, seq: number): Step<void> {
    yield* this.run(
      `INSERT INTO content_blocks (ns_id, seq, idx, hash, size)
       SELECT $1, seq, idx, hash, size FROM content_blocks WHERE ns_id = $2 AND seq = $3`,
      [to, from, seq],
    );
  }
  *setMember(ns: number, userId: number, role: Role): Step<void> {
    yield* this.run(
      `INSERT INTO ns_members (ns_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (ns_id, user_id) DO UPDATE SET role = excluded.role`,
      [ns, userId, role],
    );
  }
  *deleteMember(ns: number, userId: number): Step<boolean> {
    return (yield* this.run('DELETE FROM ns_members WHERE ns_id = $1 AND user_id = $2', [ns, userId])) > 0;
  }
  *members(ns: number): Step<MemberRow[]> {
    return yield* this.rows<MemberRow>(
      `SELECT u.name AS user, m.user_id, m.role FROM ns_members m JOIN users u ON u.id = m.user_id
        WHERE m.ns_id = $1 ORDER BY u.name`,
      [ns],
    );
  }
  *insertMount(userId: number, ns: number, parentId: number, name: string): Step<void> {
    yield* this.run('INSERT INTO mounts (user_id, ns_id, parent_id, name) VALUES ($1, $2, $3, $4)', [
      userId,
      ns,
      parentId,
      name,
    ]);
  }
  *deleteMount(userId: number, ns: number): Step<boolean> {
    return (yield* this.run('DELETE FROM mounts WHERE user_id = $1 AND ns_id = $2', [userId, ns])) > 0;
  }
  *mountsOf(userId: number): Step<MountRow[]> {
    return yield* this.rows<MountRow>(
      `SELECT mt.user_id, mt.ns_id, mt.parent_id, mt.name, m.role, s.root_id, u.name AS owner
         FROM mounts mt
         JOIN ns_members m ON m.ns_id = mt.ns_id AND m.user_id = mt.user_id
         JOIN namespaces s ON s.id = mt.ns_id
         JOIN users u ON u.id = s.owner_id
        WHERE mt.user_id = $1 ORDER BY mt.ns_id`,
      [userId],
    );
  }
  *nsOfNode(id: number): Step<number | undefined> {
    return (yield* this.row<{ ns_id: number }>('SELECT ns_id FROM nodes WHERE id = $1', [id]))?.ns_id;
  }
  *userName(id: number): Step<string | undefined> {
    return (yield* this.row<{ name: string }>('SELECT name FROM users WHERE id = $1', [id]))?.name;
  }
}
