/**
 * MetadataStore: users, devices, namespaces, the node tree with its revisions and journal, and the
 * block-possession records that keep dedup safe.
 *
 * Every method is one domain operation and one transaction; callers never see transactions or SQL.
 * The SQLite implementation is the embedded default; a PostgreSQL one must pass the same contract
 * suite (test/contract/metadata-store-contract.ts).
 *
 * Invariants every implementation keeps:
 * - Each namespace has one root directory (parentId null); every other live node has a live
 *   directory parent in the same namespace, and no two live siblings share a name.
 * - Every change takes the namespace's next sequence number; a node's rev is its latest one. Old
 *   revisions are kept; deletes are tombstones with history.
 * - A file revision references only blocks the committing user could use (uploaded by them, or
 *   referenced by a namespace they can read) and whose recorded size matches.
 */
import type { BlockRef, NodeKind, Revision } from '../shared/protocol.js';

export type Role = 'owner' | 'write' | 'read';

export interface Principal {
  userId: number;
  userName: string;
  deviceId: number;
  deviceName: string;
  homeNs: number;
}

export interface UserRecord {
  id: number;
  name: string;
  homeNs: number;
}

/** Addresses a node either by path from the namespace root or by stable id. */
export type NodeRef = { path: string } | { id: number };

export interface Actor {
  userId: number;
  deviceId: number;
  now: number;
}

export interface CommitFileOp {
  ns: number;
  node: NodeRef;
  /** Revision the client's content is based on; null/0 to create a new file. */
  parentRev: number | null;
  blocks: BlockRef[];
  size: number;
  mtime: number;
  mode: number;
}

export interface MkdirOp {
  ns: number;
  path: string;
  mtime: number;
  mode: number;
  /** Create missing ancestors too (like mkdir -p). */
  parents: boolean;
}

export interface MoveOp {
  ns: number;
  node: NodeRef;
  parentRev: number;
  toPath: string;
  /** Replace an existing target (POSIX rename); when targetRev is set the target must be at it. */
  overwrite: boolean;
  targetRev?: number | undefined;
}

export interface RemoveOp {
  ns: number;
  node: NodeRef;
  parentRev: number;
  /** Delete a non-empty directory with everything below it. */
  recursive: boolean;
}

export interface JournalRead {
  entries: Revision[];
  /** Sequence number of the last entry returned (or `after` when none). */
  last: number;
  head: number;
}

export interface MetadataStore {
  // Users and devices
  createUser(name: string, now: number): Promise<UserRecord>;
  findUser(name: string): Promise<UserRecord | null>;
  /** Registers a device; `tokenHash` is the SHA-256 of the device token (the token itself is never stored). */
  addDevice(
    userId: number,
    name: string,
    tokenHash: string,
    expiresAt: number | null,
    now: number,
  ): Promise<number>;
  /** The device's principal, or null for an unknown, revoked or expired token. */
  authenticate(tokenHash: string, now: number): Promise<Principal | null>;
  /** The user's role in the namespace, or null when they have none. */
  role(userId: number, ns: number): Promise<Role | null>;

  // Blocks (bytes live in a BlockStore; these are the possession records)
  /**
   * Records that `userId` sent the block's bytes (verified). Idempotent. Returns true when this user
   * had not sent it before (whether anyone else had is never revealed).
   */
  recordUpload(userId: number, hash: string, size: number, storedSize: number, now: number): Promise<boolean>;
  /** Of `hashes`, those the user may not use yet and so must send. Never depends on other users' blocks. */
  missingBlocks(userId: number, hashes: readonly string[]): Promise<string[]>;
  /** True when the user sent this block or a namespace they can read references it. */
  canReadBlock(userId: number, hash: string): Promise<boolean>;

  // Tree operations: each returns the new revision(s) or throws LoftError (CONFLICT, EXISTS, …)
  commitFile(actor: Actor, op: CommitFileOp): Promise<Revision>;
  mkdir(actor: Actor, op: MkdirOp): Promise<Revision>;
  move(actor: Actor, op: MoveOp): Promise<Revision>;
  /** Tombstones the node (and, when recursive, everything below it); returns the new revisions. */
  remove(actor: Actor, op: RemoveOp): Promise<Revision[]>;

  // Reads
  getNode(ns: number, node: NodeRef): Promise<Revision | null>;
  listChildren(ns: number, dirId: number): Promise<Revision[]>;
  listRevisions(ns: number, id: number): Promise<Revision[]>;
  /** Up to `limit` journal entries with sequence numbers above `after`, in order. */
  readJournal(ns: number, after: number, limit: number): Promise<JournalRead>;
  headSeq(ns: number): Promise<number>;

  close(): Promise<void>;
}

export type { NodeKind };
