/**
 * MetaTx: the row-level primitives one metadata engine offers the domain operations, inside one
 * transaction the engine opened. Each primitive is one statement (or one batch of the same
 * statement); none decides anything. The operations in this folder are written once over it; an
 * engine (src/metastore/sqlite, src/metastore/postgres) implements it and opens the transactions.
 *
 * Locks. SQLite runs every write transaction alone (`BEGIN IMMEDIATE`), so its locks are no-ops.
 * PostgreSQL runs transactions side by side at READ COMMITTED; the operations take, in this order:
 * - `lockGc()`: one per installation, taken first by retention and collection (one collector at a
 *   time, whatever the number of servers);
 * - `lockNs(ns)`: the namespace row (FOR UPDATE), taken by every tree change before it reads
 *   anything, so changes of a namespace — and its sequence — are serialized and each sees the
 *   last one committed; retention takes it before it touches a namespace's history;
 * - `lockBlocks(hashes, shared)`: per block hash, in hash order; shared by a commit that
 *   references the blocks, exclusive by an upload that records one and by collection claiming
 *   one, so a block is never claimed between a commit's check and its insert, and never recorded
 *   between a claim's check and its delete.
 * A statement after a lock sees what was committed before the lock was granted.
 *
 * Savepoints. `savepoint()` / `rollbackToSavepoint()` / `releaseSavepoint()` bracket one op of a
 * batch (engine/tree-batch.ts), so an op that fails leaves nothing behind while the others commit
 * with the transaction. They do not nest. A lock taken after a savepoint may be released when the
 * savepoint is rolled back (PostgreSQL releases row locks of an aborted subtransaction): take the
 * namespace locks a batch needs before its first savepoint.
 */
import type { BlockRef, NodeKind, RevisionOp } from '../../shared/protocol.js';
import type { ChildEntry, Principal, Role } from '../metadata-store.js';
import type { ContentTx } from './content-tx.js';
import type { FolderTx } from './folder-tx.js';
import type { SharingTx } from './sharing-tx.js';
import type { Step } from './step.js';

export interface NodeRow {
  id: number;
  ns_id: number;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  deleted: number;
  rev: number;
  purged: number;
}

export interface RevisionRow {
  ns_id: number;
  seq: number;
  node_id: number;
  op: RevisionOp;
  parent_id: number | null;
  name: string;
  kind: NodeKind;
  deleted: number;
  size: number;
  mtime: number;
  mode: number;
  content_seq: number | null;
  device: string | null;
  created_at: number;
  restored_from: number | null;
  deleted_with: number | null;
}

export interface UserRow {
  id: number;
  name: string;
  home_ns: number;
}

export interface InsertRevision {
  ns: number;
  seq: number;
  nodeId: number;
  op: RevisionOp;
  parentId: number | null;
  name: string;
  kind: NodeKind;
  deleted: boolean;
  size: number;
  mtime: number;
  mode: number;
  contentSeq: number | null;
  deviceId: number | null;
  createdAt: number;
  restoredFrom: number | null;
}

export interface CandidateRow {
  hash: string;
  stored_size: number | null;
  touched_at: number | null;
}

export interface BlockRow {
  size: number;
  stored_size: number;
  touched_at: number;
}

export interface ContentRef {
  ns_id: number;
  seq: number;
  content_seq: number | null;
}

export interface MetaTx extends SharingTx, FolderTx {
  /** Content search primitives (engine/content-tx.ts). */
  readonly contentTx: ContentTx;

  // locks (see above)
  lockGc(): Step<void>;
  lockNs(ns: number): Step<void>;
  lockBlocks(hashes: readonly string[], shared: boolean): Step<void>;

  // savepoints (see above)
  savepoint(): Step<void>;
  rollbackToSavepoint(): Step<void>;
  releaseSavepoint(): Step<void>;

  // accounts
  findUser(name: string): Step<UserRow | undefined>;
  insertUser(name: string, now: number): Step<number>;
  setHome(ns: number, userId: number): Step<void>;
  insertNs(ownerId: number, now: number): Step<number>;
  setRoot(rootId: number, ns: number): Step<void>;
  insertMember(ns: number, userId: number, role: Role): Step<void>;
  insertDevice(
    userId: number,
    name: string,
    tokenHash: string,
    now: number,
    expiresAt: number | null,
  ): Step<number>;
  auth(tokenHash: string, now: number): Step<Principal | undefined>;
  role(ns: number, userId: number): Step<Role | undefined>;
  /** Sets (or with null clears) the user's web password hash. */
  setPasswordHash(userId: number, hash: string | null): Step<void>;
  /** The user's id and web password hash (null: none set). */
  passwordHash(name: string): Step<{ id: number; password_hash: string | null } | undefined>;
  /** Revokes the device holding that token (a web session ends); false when none was live. */
  revokeDevice(tokenHash: string, now: number): Step<boolean>;
  /** The installation's id (made once by the schema migration; kept by `loft migrate`). */
  installationId(): Step<string>;

  // search (engine/search.ts)
  /**
   * Up to `limit` live nodes, in namespaces the user is a member of, whose name contains `query`
   * (case-insensitively for ASCII), by id.
   */
  searchNames(userId: number, query: string, limit: number): Step<NodeRow[]>;

  // namespaces and nodes
  rootOf(ns: number): Step<number | undefined>;
  head(ns: number): Step<number | undefined>;
  /** Takes the namespace's next sequence number (undefined: no such namespace). */
  nextSeq(ns: number): Step<number | undefined>;
  insertNode(ns: number, parentId: number | null, name: string, kind: NodeKind, rev: number): Step<number>;
  updateNode(parentId: number | null, name: string, deleted: boolean, rev: number, id: number): Step<void>;
  setDeletedAt(now: number, id: number): Step<void>;
  nodeById(id: number, ns: number): Step<NodeRow | undefined>;
  /** The live child of that name. */
  child(parentId: number, name: string): Step<NodeRow | undefined>;
  /** Live children by name. */
  children(parentId: number): Step<NodeRow[]>;
  hasChild(parentId: number): Step<boolean>;
  /** The current revisions of a folder's live children, by name. */
  childRevisions(parentId: number): Step<RevisionRow[]>;
  /** The live children's listing fields only (no order: the page sorts), for big folders. */
  childEntries(parentId: number): Step<ChildEntry[]>;
  /** Every child, live or deleted, by name then id. */
  allChildren(parentId: number): Step<NodeRow[]>;
  /** The current revisions of the namespace's live nodes with ids above `after`, by id (up to `limit`). */
  liveRevisions(ns: number, after: number, limit: number): Step<RevisionRow[]>;

  // revisions and content
  insertRevision(r: InsertRevision): Step<void>;
  setDeletedWith(batch: number, ns: number, seq: number): Step<void>;
  /** The node's previous revision stops being current at `now`. */
  supersede(now: number, ns: number, nodeId: number, seq: number): Step<void>;
  revision(ns: number, seq: number): Step<RevisionRow | undefined>;
  revisionsOf(nodeId: number, ns: number): Step<RevisionRow[]>;
  journal(ns: number, after: number, limit: number): Step<RevisionRow[]>;
  /** The seq of the node's last revision before `seq` (null: none). */
  prevRev(nodeId: number, ns: number, seq: number): Step<number | null>;
  insertContent(ns: number, seq: number, blocks: readonly BlockRef[]): Step<void>;
  content(ns: number, contentSeq: number): Step<BlockRef[]>;
  /** The block lists of several revisions of a namespace at once (a journal page, a history). */
  contents(ns: number, contentSeqs: readonly number[]): Step<Map<number, BlockRef[]>>;

  // blocks
  block(hash: string): Step<BlockRow | undefined>;
  /** The stored blocks among `hashes` (distinct), by hash. */
  blocks(hashes: readonly string[]): Step<Map<string, BlockRow>>;
  /**
   * Of `hashes` (distinct), those stored that the user may use: sent by them, or referenced by a
   * namespace they are a member of.
   */
  usableBlocks(userId: number, hashes: readonly string[]): Step<Set<string>>;
  /** Inserts the block, or raises its touched time to `now`. */
  insertBlock(hash: string, size: number, storedSize: number, now: number): Step<void>;
  /** True when this user had not recorded the block before. */
  insertUserBlock(userId: number, hash: string, now: number): Step<boolean>;
  uploadedBy(userId: number, hash: string): Step<boolean>;
  /** A namespace the user is a member of references the block. */
  readableRef(hash: string, userId: number): Step<boolean>;
  referenced(hash: string): Step<boolean>;
  deleteBlock(hash: string): Step<void>;
  deleteUserBlocks(hash: string): Step<void>;

  // garbage collection
  claimOf(hash: string): Step<boolean>;
  scanCandidates(afterHash: string, limit: number): Step<CandidateRow[]>;
  addCandidate(hash: string): Step<void>;
  dropCandidate(hash: string): Step<void>;
  /** Every block of that block list becomes a candidate. */
  addContentCandidates(ns: number, contentSeq: number): Step<void>;
  insertClaim(hash: string, now: number): Step<void>;
  /** Claims older than `before`, by hash; an engine with concurrent collectors skips those being taken. */
  staleClaims(before: number, limit: number): Step<string[]>;
  renewClaim(now: number, hash: string): Step<void>;
  deleteClaim(hash: string): Step<void>;

  // retention
  oldTombstones(cutoff: number, limit: number): Step<NodeRow[]>;
  supersededRevs(cutoff: number, limit: number): Step<ContentRef[]>;
  /** The node's revisions in order, seq and content only. */
  revTimes(nodeId: number, ns: number): Step<{ seq: number; content_seq: number | null }[]>;
  /** Superseded at or before `cutoff` (still there, still a file revision). */
  isSuperseded(ns: number, seq: number, cutoff: number): Step<boolean>;
  deleteRevision(ns: number, seq: number): Step<void>;
  stripContent(ns: number, seq: number): Step<void>;
  markPurged(id: number): Step<void>;
  contentUsed(ns: number, contentSeq: number): Step<boolean>;
  deleteContent(ns: number, contentSeq: number): Step<void>;
}
