/**
 * MetadataStore: users, devices, namespaces, the node tree with its revisions and journal, and the
 * block-possession records that keep dedup safe.
 *
 * Every method is one domain operation and one transaction; callers never see transactions or SQL.
 * It is made of role interfaces (AccountStore, BlockLedger, TreeStore, JournalStore,
 * RetentionStore): a consumer that needs one role takes that one. The SQLite implementation is the
 * embedded default, PostgreSQL the scale-out one; both run the same domain operations
 * (src/metastore/engine) and pass the same contract suite (test/contract/metadata-store-*).
 *
 * Invariants every implementation keeps:
 * - Each namespace has one root directory (parentId null); every other live node has a live
 *   directory parent in the same namespace, and no two live siblings share a name.
 * - Every change takes the namespace's next sequence number; a node's rev is its latest one. Old
 *   revisions are kept; deletes are tombstones with history.
 * - A file revision references only blocks the committing user could use (uploaded by them, or
 *   referenced by a namespace they can read) and whose recorded size matches.
 * - A block record exists only while the block's bytes are in the BlockStore: garbage collection
 *   removes the record (and every possession record of it) in the same transaction that claims the
 *   block, before any byte is deleted, and no revision references a claimed block (see
 *   src/server/garbage-collector.ts for the whole argument).
 * - Retention never removes the current revision of a live node, never a live directory's
 *   revisions, and keeps the delete revision of a purged tombstone, so the journal still tells a
 *   device that synced before the delete that the node is gone.
 */
import type { LoftError } from '../shared/errors.js';
import type { BlockRef, DeletedEntry, NodeKind, Revision } from '../shared/protocol.js';
import type { FolderStore } from './folder-store.js';
import type { SharingStore } from './sharing-store.js';
import type { SearchResult } from './engine/search.js';
import type { ContentIndexStore } from './content-store.js';

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

/**
 * Where a new node goes: a path, or a name inside a folder given by id. By id, the node follows
 * that folder wherever it was moved meanwhile (a path would land wherever the path now leads);
 * the folder must be live (deleted: NOT_FOUND with details.deleted).
 */
export type Place = { path: string } | { parentId: number; name: string };

export interface Actor {
  userId: number;
  deviceId: number;
  now: number;
}

export interface CommitFileOp {
  ns: number;
  node: NodeRef | { parentId: number; name: string };
  /** Revision the client's content is based on; null/0 to create a new file. */
  parentRev: number | null;
  blocks: BlockRef[];
  size: number;
  mtime: number;
  mode: number;
}

export type MkdirOp = {
  ns: number;
  mtime: number;
  mode: number;
  /** Create missing ancestors too (like mkdir -p); only with a path. */
  parents: boolean;
} & Place;

export type MoveOp = {
  ns: number;
  node: NodeRef;
  parentRev: number;
  /** Replace an existing target (POSIX rename); when targetRev is set the target must be at it. */
  overwrite: boolean;
  targetRev?: number | undefined;
} & ({ toPath: string } | { toParentId: number; toName: string });

export interface RemoveOp {
  ns: number;
  node: NodeRef;
  parentRev: number;
  /** Delete a non-empty directory with everything below it. */
  recursive: boolean;
  /**
   * With `recursive`: the nodes below that the caller means to delete, each with the revision it
   * saw ([id, rev]). A node below that is not listed, or is at another revision (made or changed
   * elsewhere since), stays, and so do the folders above it (edit wins over delete). Without it,
   * everything below goes.
   */
  expect?: readonly (readonly [number, number])[];
}

/**
 * Restores the content of revision `rev` of a file as a new revision.
 * - Without `toPath`: a live file gets a new revision of the same node (`parentRev`, when given,
 *   must be its current rev); a deleted file comes back as the same node at its last place, with
 *   missing parent directories created again (new directories); a live node holding that name is
 *   `EXISTS`.
 * - With `toPath`: a new file is created there (a copy; the original node is untouched).
 * By `path`, the path names the node as it is now (deleted: as it was when deleted).
 */
export interface RestoreOp {
  ns: number;
  node: NodeRef;
  rev: number;
  toPath?: string | undefined;
  parentRev?: number | undefined;
}

/** A node named in a batch: by path or id, or `ref`, the node that op #ref of the same batch made or changed. */
export type BatchNodeRef = NodeRef | { ref: number };

/** Where a new node of a batch goes: a Place, or `name` inside the folder that op #parentRef made. */
export type BatchPlace = Place | { parentRef: number; name: string };

/** A block whose bytes came inside the batch and are stored (BlockLedger.recordUpload's arguments). */
export interface InlineBlock {
  hash: string;
  size: number;
  storedSize: number;
  seen: BlockState;
}

/**
 * One op of a batch (TreeStore.batch): the single operations' fields, where a node or a folder may
 * be an earlier op's (`ref`, `parentRef`). When the node is a `ref` and `parentRev` is left out, it
 * is the rev the batch's earlier ops left that node at.
 */
export type BatchOp =
  | { op: 'mkdir'; ns: number; place: BatchPlace; mtime: number; mode: number; parents: boolean }
  | {
      op: 'commit';
      ns: number;
      node: BatchNodeRef | BatchPlace;
      parentRev?: number | null | undefined;
      blocks: BlockRef[];
      size: number;
      mtime: number;
      mode: number;
      /** Recorded as sent by the actor before the commit, and kept if the commit fails (as a PUT). */
      inline?: InlineBlock | undefined;
    }
  | {
      op: 'move';
      ns: number;
      node: BatchNodeRef;
      parentRev?: number | undefined;
      to: BatchPlace;
      overwrite: boolean;
      targetRev?: number | undefined;
    }
  | {
      op: 'delete';
      ns: number;
      node: BatchNodeRef;
      parentRev?: number | undefined;
      recursive: boolean;
      expect?: readonly (readonly [number, number])[] | undefined;
    }
  /** An op the caller already found failing (access, inline bytes): kept so refs count right. */
  | { op: 'failed'; ns: number; error: LoftError };

/**
 * What one op of a batch did: the node it made or changed as it is after the op (for a delete the
 * deleted node, or the folder `kept` holds), or the error that undid it.
 */
export type BatchOutcome =
  { ok: true; node: Revision; deleted?: Revision[]; kept?: Revision[] } | { ok: false; error: LoftError };

export interface DeletedList {
  entries: DeletedEntry[];
  /** More deleted entries exist than `limit`. */
  truncated: boolean;
}

/**
 * Where a block stands for an upload: `live` (recorded, bytes stored), `absent` (no record) or
 * `collecting` (claimed by garbage collection; its bytes may be being deleted right now).
 */
export type BlockState = 'live' | 'absent' | 'collecting';

export interface PurgeBatch {
  revisions: number;
  /** Tombstoned nodes whose history was removed. */
  nodes: number;
  /** The batch was full: call again for more (what was purged no longer matches). */
  more: boolean;
}

export interface ClaimedBlock {
  hash: string;
  storedSize: number;
}

export interface ClaimBatch {
  claimed: ClaimedBlock[];
  /** Pass as `afterHash` to continue; null when every block was visited. */
  next: string | null;
  /** Candidates looked at (what this batch cost). */
  scanned: number;
}

export interface JournalRead {
  entries: Revision[];
  /** Sequence number of the last entry returned (or `after` when none). */
  last: number;
  head: number;
}

/** One page of a namespace's live tree (`listTree`). */
/** A child as a listing shows it (MetadataStore.listChildEntries): no block list, no history. */
export interface ChildEntry {
  id: number;
  name: string;
  kind: NodeKind;
  size: number;
  mtime: number;
  rev: number;
}

export interface TreePage {
  /** Live nodes (the root included) with ids above the page's `after`, by id: current revisions. */
  entries: Revision[];
  /** Pass as `after` for the next page; null when this page is the last. */
  next: number | null;
}

/** Users, devices and namespace roles. */
export interface AccountStore {
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
  /** Sets (null: clears) the user's web password hash (a PHC-like string, src/server/passwords.ts). */
  setPasswordHash(name: string, hash: string | null): Promise<void>;
  /** The user's id and web password hash, or null for no such user. */
  passwordHash(name: string): Promise<{ userId: number; hash: string | null } | null>;
  /** Revokes the device holding that token (how a web session ends); false when none was live. */
  revokeDevice(tokenHash: string, now: number): Promise<boolean>;
  /**
   * The installation's id: random, made once when the schema is created, the same on every server
   * of the installation and kept by `loft migrate` (a drive moved to a new URL checks it).
   */
  installationId(): Promise<string>;
}

/** Name search over the namespaces a user is a member of (engine/search.ts). */
export interface SearchStore {
  searchNames(userId: number, query: string, limit: number): Promise<SearchResult>;
}

/** Which blocks are stored and who may use them (bytes live in a BlockStore; these are the records). */
export interface BlockLedger {
  /**
   * Records that `userId` sent the block's bytes (verified). Idempotent. Returns true when this user
   * had not sent it before (whether anyone else had is never revealed).
   */
  recordUpload(
    userId: number,
    hash: string,
    size: number,
    storedSize: number,
    now: number,
    /**
     * The block's state the uploader saw before writing the bytes (`blockState`). When `live` (the
     * bytes were already there and may not have been written again), the record must still exist,
     * else UNAVAILABLE: garbage collection took it meanwhile, and the upload must start over. A
     * block being collected is always UNAVAILABLE. Refreshes the block's `touched` time.
     */
    seen?: BlockState,
  ): Promise<boolean>;
  blockState(hash: string): Promise<BlockState>;
  /** Of `hashes`, those the user may not use yet and so must send. Never depends on other users' blocks. */
  missingBlocks(userId: number, hashes: readonly string[]): Promise<string[]>;
  /** True when the user sent this block or a namespace they can read references it. */
  canReadBlock(userId: number, hash: string): Promise<boolean>;
}

/** The node tree: changes (each a new revision) and reads. */
export interface TreeStore {
  // Tree operations: each returns the new revision(s) or throws LoftError (CONFLICT, EXISTS, …)
  commitFile(actor: Actor, op: CommitFileOp): Promise<Revision>;
  mkdir(actor: Actor, op: MkdirOp): Promise<Revision>;
  move(actor: Actor, op: MoveOp): Promise<Revision>;
  /** Tombstones the node (and, when recursive, everything below it); returns the new revisions. */
  remove(actor: Actor, op: RemoveOp): Promise<Revision[]>;

  /**
   * Runs `ops` in order in ONE transaction, each atomic on its own: an op that fails (a LoftError)
   * is undone alone and the others stand. Returns one outcome per op, in order. An error that is
   * not a LoftError (a storage failure) undoes the whole batch and is thrown.
   */
  batch(actor: Actor, ops: readonly BatchOp[]): Promise<BatchOutcome[]>;

  /** See RestoreOp. Returns the new revisions: re-created directories first, the file's last. */
  restore(actor: Actor, op: RestoreOp): Promise<Revision[]>;

  // Reads
  getNode(ns: number, node: NodeRef): Promise<Revision | null>;
  listChildren(ns: number, dirId: number): Promise<Revision[]>;
  /** A folder's children without block lists (the web page's listing: light for big folders). */
  listChildEntries(ns: number, dirId: number): Promise<ChildEntry[]>;
  listRevisions(ns: number, id: number): Promise<Revision[]>;
  /**
   * The namespace's live nodes with ids above `after`, by id, as their current revisions (block
   * lists included): up to `limit` nodes, fewer when their block lists reach `maxBlocks` (a page
   * holds at least one node). Paging by id never skips or repeats a node that stays live while the
   * pages are read, however the tree moves meanwhile (`loft check` compares a drive with this).
   */
  listTree(ns: number, after: number, limit: number, maxBlocks: number): Promise<TreePage>;
  /** Deleted nodes (history not purged) anywhere below the live directory `dirId`, by path. */
  listDeleted(ns: number, dirId: number, limit: number): Promise<DeletedList>;
}

/** Each namespace's changes in sequence order (what devices follow). */
export interface JournalStore {
  /** Up to `limit` journal entries with sequence numbers above `after`, in order. */
  readJournal(ns: number, after: number, limit: number): Promise<JournalRead>;
  headSeq(ns: number): Promise<number>;
}

/** Retention and garbage collection (src/server/garbage-collector.ts drives these). */
export interface RetentionStore {
  /**
   * Applies retention to up to `batch` of what it removes (all namespaces): a node deleted at or
   * before `cutoff` loses its history but its delete revision, and a file revision that stopped
   * being current at or before `cutoff` is removed (the current one never). Block lists no
   * remaining revision uses are dropped. Its cost follows the batch, not the size of the store:
   * call again while `more`.
   */
  purgeHistory(cutoff: number, batch: number): Promise<PurgeBatch>;
  /**
   * Scans up to `scan` candidate blocks (sent lately, or dropped by retention from a block list)
   * with hashes above `afterHash` and claims those that no revision
   * references and nobody sent since `touchedBefore`: their block and possession records are
   * removed and a claim (time `now`) recorded, in one transaction. The caller then deletes the bytes
   * and calls `finishClaims`.
   */
  claimGarbage(touchedBefore: number, now: number, afterHash: string, scan: number): Promise<ClaimBatch>;
  /** Claims older than `claimedBefore` (their collector died): taken over with time `now`. */
  takeStaleClaims(claimedBefore: number, now: number, limit: number): Promise<string[]>;
  /** The bytes of these claimed blocks are deleted: uploads of them may proceed. */
  finishClaims(hashes: readonly string[]): Promise<void>;
}

export interface MetadataStore
  extends
    AccountStore,
    BlockLedger,
    TreeStore,
    JournalStore,
    RetentionStore,
    SharingStore,
    SearchStore,
    ContentIndexStore,
    FolderStore {
  close(): Promise<void>;
}

export type { DeletedEntry, NodeKind };
