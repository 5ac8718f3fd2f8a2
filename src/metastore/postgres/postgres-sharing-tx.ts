/**
 * The sharing primitives of MetaTx on PostgreSQL (engine/sharing-tx.ts): devices, links, quotas.
 * Each is one statement and decides nothing.
 */
import type { DeviceRow, InsertLink, LinkRow, SharingTx } from '../engine/sharing-tx.js';
import type { Step } from '../engine/step.js';
import { PostgresTxBase } from './postgres-tx-base.js';

export class PostgresSharingTx extends PostgresTxBase implements SharingTx {
  *devicesOf(userId: number): Step<DeviceRow[]> {
    return yield* this.rows<DeviceRow>(
      `SELECT id, name, created_at, last_seen_at, expires_at, revoked_at FROM devices
        WHERE user_id = $1 ORDER BY id`,
      [userId],
    );
  }
  *revokeDevices(userId: number, name: string, now: number): Step<number> {
    return yield* this.run(
      'UPDATE devices SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL',
      [now, userId, name],
    );
  }
  *touchDevice(deviceId: number, now: number): Step<void> {
    yield* this.run('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [now, deviceId]);
  }
  *insertLink(l: InsertLink): Step<number> {
    return (yield* this.row<{ id: number }>(
      `INSERT INTO links (secret_hash, user_id, ns_id, node_id, created_at, expires_at, password)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [l.secretHash, l.userId, l.ns, l.nodeId, l.now, l.expiresAt, l.password],
    ))!.id;
  }
  *linkBySecret(secretHash: string): Step<LinkRow | undefined> {
    return yield* this.row<LinkRow>(
      `SELECT id, user_id, ns_id, node_id, created_at, expires_at, password, revoked_at FROM links
        WHERE secret_hash = $1`,
      [secretHash],
    );
  }
  *linksOf(userId: number): Step<LinkRow[]> {
    return yield* this.rows<LinkRow>(
      `SELECT id, user_id, ns_id, node_id, created_at, expires_at, password, revoked_at FROM links
        WHERE user_id = $1 ORDER BY id`,
      [userId],
    );
  }
  *revokeLink(userId: number, id: number, now: number): Step<boolean> {
    return (
      (yield* this.run(
        'UPDATE links SET revoked_at = $1 WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL',
        [now, userId, id],
      )) > 0
    );
  }
  *setQuota(userId: number, bytes: number | null): Step<boolean> {
    return (yield* this.run('UPDATE users SET quota_bytes = $1 WHERE id = $2', [bytes, userId])) > 0;
  }
  *nsQuota(ns: number): Step<{ owner_id: number; quota_bytes: number | null } | undefined> {
    return yield* this.row<{ owner_id: number; quota_bytes: number | null }>(
      `SELECT n.owner_id, u.quota_bytes FROM namespaces n JOIN users u ON u.id = n.owner_id
        WHERE n.id = $1`,
      [ns],
    );
  }
  *usedBytes(userId: number): Step<number> {
    const row = yield* this.row<{ used: string | number }>(
      `SELECT COALESCE(SUM(r.size), 0) AS used FROM namespaces s
         JOIN nodes n ON n.ns_id = s.id AND n.deleted = 0
         JOIN revisions r ON r.ns_id = n.ns_id AND r.seq = n.rev
        WHERE s.owner_id = $1 AND n.kind = 'file'`,
      [userId],
    );
    return Number(row?.used ?? 0);
  }
}
