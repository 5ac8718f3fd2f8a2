/**
 * Sharing operations (issue 13): devices, share links, quotas. Written once over MetaTx like the
 * tree's; the row primitives are in sharing-tx.ts.
 */
import { LoftError } from '../../shared/errors.js';
import type { DeviceInfo, LinkInfo, LinkRecord, NewLink, QuotaState } from '../sharing-store.js';
import type { MetaTx } from './meta-tx.js';
import type { LinkRow } from './sharing-tx.js';
import type { Step } from './step.js';
import { pathOf } from './tree-paths.js';

export function* listDevices(tx: MetaTx, userId: number): Step<DeviceInfo[]> {
  return (yield* tx.devicesOf(userId)).map((d) => ({
    id: d.id,
    name: d.name,
    createdAt: d.created_at,
    lastSeenAt: d.last_seen_at,
    expiresAt: d.expires_at,
    revokedAt: d.revoked_at,
  }));
}

export function* revokeDevices(tx: MetaTx, userId: number, name: string, now: number): Step<number> {
  return yield* tx.revokeDevices(userId, name, now);
}

function record(r: LinkRow): LinkRecord {
  return {
    id: r.id,
    userId: r.user_id,
    ns: r.ns_id,
    nodeId: r.node_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    password: r.password,
    revokedAt: r.revoked_at,
  };
}

export function* createLink(tx: MetaTx, link: NewLink, now: number): Step<number> {
  const node = yield* tx.nodeById(link.nodeId, link.ns);
  if (!node || node.deleted) throw new LoftError('NOT_FOUND', 'no such file or folder');
  return yield* tx.insertLink({ ...link, now });
}

export function* findLink(tx: MetaTx, secretHash: string, now: number): Step<LinkRecord | null> {
  const row = yield* tx.linkBySecret(secretHash);
  if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
  return record(row);
}

export function* listLinks(tx: MetaTx, userId: number): Step<LinkInfo[]> {
  const out: LinkInfo[] = [];
  for (const row of yield* tx.linksOf(userId)) {
    const { password, ...rest } = record(row);
    const node = yield* tx.nodeById(row.node_id, row.ns_id);
    const path = node && !node.deleted ? '/' + (yield* pathOf(tx, row.ns_id, node)).join('/') : null;
    out.push({ ...rest, hasPassword: password !== null, path });
  }
  return out;
}

export function* revokeLink(tx: MetaTx, userId: number, id: number, now: number): Step<boolean> {
  return yield* tx.revokeLink(userId, id, now);
}

export function* setQuota(tx: MetaTx, userName: string, bytes: number | null): Step<void> {
  const user = yield* tx.findUser(userName);
  if (!user) throw new LoftError('NOT_FOUND', `no user ${userName}`);
  yield* tx.setQuota(user.id, bytes);
}

export function* quotaOf(tx: MetaTx, ns: number): Step<QuotaState | null> {
  const q = yield* tx.nsQuota(ns);
  if (!q) return null;
  const usedBytes = q.quota_bytes === null ? 0 : yield* tx.usedBytes(q.owner_id);
  return { ownerId: q.owner_id, quotaBytes: q.quota_bytes, usedBytes };
}
