/**
 * The sharing roles of the MetadataStore (issue 13): a user's devices (list, revoke), share links
 * (a public link to a node, its secret stored only as a hash) and storage quotas. Both engines
 * run them through src/metastore/engine/sharing.ts; test/contract/metadata-store/sharing.ts is
 * their contract.
 */

export interface DeviceInfo {
  id: number;
  name: string;
  createdAt: number;
  /** Last authenticated request, to LAST_SEEN_RESOLUTION_MS; null: never used. */
  lastSeenAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface LinkRecord {
  id: number;
  userId: number;
  ns: number;
  nodeId: number;
  createdAt: number;
  expiresAt: number | null;
  /** scrypt hash of the link's password (src/server/link-secrets.ts), or null. */
  password: string | null;
  revokedAt: number | null;
}

export interface LinkInfo extends Omit<LinkRecord, 'password'> {
  hasPassword: boolean;
  /** The node's path now (it follows moves), or null when the node is deleted. */
  path: string | null;
}

export interface NewLink {
  userId: number;
  ns: number;
  nodeId: number;
  /** SHA-256 of the link's secret. */
  secretHash: string;
  expiresAt: number | null;
  password: string | null;
}

export interface QuotaState {
  /** The namespace's owner, whose quota counts. */
  ownerId: number;
  /** null: no quota. */
  quotaBytes: number | null;
  /** Bytes of the live files of every namespace the owner owns (0 when there is no quota). */
  usedBytes: number;
}

export interface DeviceStore {
  listDevices(userId: number): Promise<DeviceInfo[]>;
  /** Revokes the user's live devices named `name` at `now` (their tokens fail from then on); how many. */
  revokeDevices(userId: number, name: string, now: number): Promise<number>;
}

export interface LinkStore {
  createLink(link: NewLink, now: number): Promise<number>;
  /** The live link with that secret hash: null when unknown, revoked or expired at `now`. */
  findLink(secretHash: string, now: number): Promise<LinkRecord | null>;
  /** The user's links, revoked and expired ones included, by id. */
  listLinks(userId: number): Promise<LinkInfo[]>;
  /** True when the user had this link live. */
  revokeLink(userId: number, id: number, now: number): Promise<boolean>;
}

export interface QuotaStore {
  /** Sets (bytes) or lifts (null) the user's quota; NOT_FOUND for an unknown user. */
  setQuota(userName: string, bytes: number | null): Promise<void>;
  /** The quota that applies to changes of the namespace, with its owner's usage; null: no namespace. */
  quotaOf(ns: number): Promise<QuotaState | null>;
}

export interface SharingStore extends DeviceStore, LinkStore, QuotaStore {}
