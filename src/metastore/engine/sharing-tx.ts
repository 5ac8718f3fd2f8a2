/**
 * The row-level primitives of sharing (issue 13) that MetaTx offers besides the tree's: device
 * listing and revocation, share links, quotas. Like the rest of MetaTx, each is one statement and
 * decides nothing; the operations are in devices.ts, links.ts and quota.ts beside this file.
 */
import type { Step } from './step.js';

export interface DeviceRow {
  id: number;
  name: string;
  created_at: number;
  last_seen_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface LinkRow {
  id: number;
  user_id: number;
  ns_id: number;
  node_id: number;
  created_at: number;
  expires_at: number | null;
  password: string | null;
  revoked_at: number | null;
}

export interface InsertLink {
  secretHash: string;
  userId: number;
  ns: number;
  nodeId: number;
  now: number;
  expiresAt: number | null;
  password: string | null;
}

export interface SharingTx {
  /** Every device of the user, by id (revoked and expired ones too). */
  devicesOf(userId: number): Step<DeviceRow[]>;
  /** Revokes the user's live devices of that name at `now`; how many. */
  revokeDevices(userId: number, name: string, now: number): Step<number>;
  touchDevice(deviceId: number, now: number): Step<void>;

  insertLink(link: InsertLink): Step<number>;
  linkBySecret(secretHash: string): Step<LinkRow | undefined>;
  linksOf(userId: number): Step<LinkRow[]>;
  /** Revokes the user's link (not revoked yet) at `now`; true when there was one. */
  revokeLink(userId: number, id: number, now: number): Step<boolean>;

  setQuota(userId: number, bytes: number | null): Step<boolean>;
  /** The quota of the user owning the namespace (null: none), undefined: no such namespace. */
  nsQuota(ns: number): Step<{ owner_id: number; quota_bytes: number | null } | undefined>;
  /** Bytes of the live files of every namespace the user owns. */
  usedBytes(userId: number): Step<number>;
}
