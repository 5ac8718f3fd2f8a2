/**
 * The MetadataStore facade shared by every engine: each method is one domain operation (the
 * generator functions of this folder) run in one transaction of the kind it needs. An engine
 * says how a transaction is opened and how its steps run (SqliteMetadataStore,
 * PostgresMetadataStore); the operations never know which engine they run on.
 *
 * - `write`: a transaction that changes data (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ
 *   COMMITTED with the locks of MetaTx, retried on a deadlock or a serialization failure).
 * - `read`: several reads that must see one state (one snapshot).
 * - `single`: one statement; no transaction needed.
 */
import type { Revision } from '../../shared/protocol.js';
import type {
  Actor,
  BatchOp,
  BatchOutcome,
  BlockState,
  ClaimBatch,
  CommitFileOp,
  DeletedList,
  JournalRead,
  MetadataStore,
  MkdirOp,
  MoveOp,
  NodeRef,
  Principal,
  PurgeBatch,
  RemoveOp,
  RestoreOp,
  Role,
  TreePage,
  ChildEntry,
  UserRecord,
} from '../metadata-store.js';
import * as accounts from './accounts.js';
import * as ledger from './block-ledger.js';
import * as journal from './journal.js';
import type { MetaTx } from './meta-tx.js';
import * as retention from './retention.js';
import * as sharing from './sharing.js';
import * as folders from './folders.js';
import type { MountInfo, MountPlace, ShareInfo, ShareOp } from '../folder-store.js';
import type { DeviceInfo, LinkInfo, LinkRecord, NewLink, QuotaState } from '../sharing-store.js';
import * as batches from './tree-batch.js';
import type { Step } from './step.js';
import * as changes from './tree-changes.js';
import * as reads from './tree-reads.js';
import * as restores from './tree-restore.js';
import * as search from './search.js';
import * as contentSearch from './content-search.js';
import type { ContentBacklog, ContentDoc, ContentDocState, ContentSearchResult } from '../content-store.js';
import type { SearchResult } from './search.js';

export type Operation<T> = (tx: MetaTx) => Step<T>;

export abstract class EngineMetadataStore implements MetadataStore {
  protected abstract write<T>(op: Operation<T>): Promise<T>;
  protected abstract read<T>(op: Operation<T>): Promise<T>;
  protected abstract single<T>(op: Operation<T>): Promise<T>;
  abstract close(): Promise<void>;

  // ---- accounts
  async createUser(name: string, now: number): Promise<UserRecord> {
    accounts.checkUserName(name);
    return this.write((tx) => accounts.createUser(tx, name, now));
  }
  findUser(name: string): Promise<UserRecord | null> {
    return this.single((tx) => accounts.findUser(tx, name));
  }
  addDevice(
    userId: number,
    name: string,
    tokenHash: string,
    expiresAt: number | null,
    now: number,
  ): Promise<number> {
    return this.single((tx) => accounts.addDevice(tx, userId, name, tokenHash, expiresAt, now));
  }
  authenticate(tokenHash: string, now: number): Promise<Principal | null> {
    return this.single((tx) => accounts.authenticate(tx, tokenHash, now));
  }
  role(userId: number, ns: number): Promise<Role | null> {
    return this.single((tx) => accounts.role(tx, userId, ns));
  }

  setPasswordHash(name: string, hash: string | null): Promise<void> {
    return this.write((tx) => accounts.setPasswordHash(tx, name, hash));
  }
  installationId(): Promise<string> {
    return this.single((tx) => accounts.installationId(tx));
  }
  passwordHash(name: string): Promise<{ userId: number; hash: string | null } | null> {
    return this.single((tx) => accounts.passwordHash(tx, name));
  }
  revokeDevice(tokenHash: string, now: number): Promise<boolean> {
    return this.write((tx) => accounts.revokeDevice(tx, tokenHash, now));
  }

  // ---- search
  searchNames(userId: number, query: string, limit: number): Promise<SearchResult> {
    return this.read((tx) => search.searchNames(tx, userId, query, limit));
  }

  // ---- content search (content-search.ts)
  contentBacklog(limit: number): Promise<ContentBacklog[]> {
    return this.single((tx) => contentSearch.contentBacklog(tx, limit));
  }
  contentDocStates(nodeIds: readonly number[]): Promise<Map<number, ContentDocState>> {
    return this.single((tx) => contentSearch.docStates(tx, nodeIds));
  }
  applyContentIndex(ns: number, upTo: number, docs: readonly ContentDoc[]): Promise<void> {
    return this.write((tx) => contentSearch.applyContentIndex(tx, ns, upTo, docs));
  }
  searchContent(userId: number, query: string, limit: number): Promise<ContentSearchResult> {
    return this.read((tx) => contentSearch.searchContent(tx, userId, query, limit));
  }

  // ---- block ledger
  recordUpload(
    userId: number,
    hash: string,
    size: number,
    storedSize: number,
    now: number,
    seen?: BlockState,
  ): Promise<boolean> {
    return this.write((tx) => ledger.recordUpload(tx, userId, hash, size, storedSize, now, seen));
  }
  blockState(hash: string): Promise<BlockState> {
    return this.read((tx) => ledger.blockState(tx, hash));
  }
  missingBlocks(userId: number, hashes: readonly string[]): Promise<string[]> {
    return this.read((tx) => ledger.missingBlocks(tx, userId, hashes));
  }
  canReadBlock(userId: number, hash: string): Promise<boolean> {
    return this.single((tx) => ledger.usable(tx, userId, hash));
  }

  // ---- tree
  commitFile(actor: Actor, op: CommitFileOp): Promise<Revision> {
    return this.write((tx) => changes.commitFile(tx, actor, op));
  }
  mkdir(actor: Actor, op: MkdirOp): Promise<Revision> {
    return this.write((tx) => changes.mkdir(tx, actor, op));
  }
  move(actor: Actor, op: MoveOp): Promise<Revision> {
    return this.write((tx) => changes.move(tx, actor, op));
  }
  remove(actor: Actor, op: RemoveOp): Promise<Revision[]> {
    return this.write((tx) => changes.remove(tx, actor, op));
  }
  batch(actor: Actor, ops: readonly BatchOp[]): Promise<BatchOutcome[]> {
    return this.write((tx) => batches.batch(tx, actor, ops));
  }
  restore(actor: Actor, op: RestoreOp): Promise<Revision[]> {
    return this.write((tx) => restores.restore(tx, actor, op));
  }
  getNode(ns: number, node: NodeRef): Promise<Revision | null> {
    return this.read((tx) => reads.getNode(tx, ns, node));
  }
  listChildren(ns: number, dirId: number): Promise<Revision[]> {
    return this.read((tx) => reads.listChildren(tx, ns, dirId));
  }
  listChildEntries(ns: number, dirId: number): Promise<ChildEntry[]> {
    return this.read((tx) => reads.listChildEntries(tx, ns, dirId));
  }
  listRevisions(ns: number, id: number): Promise<Revision[]> {
    return this.read((tx) => reads.listRevisions(tx, ns, id));
  }
  listTree(ns: number, after: number, limit: number, maxBlocks: number): Promise<TreePage> {
    return this.read((tx) => reads.listTree(tx, ns, after, limit, maxBlocks));
  }
  listDeleted(ns: number, dirId: number, limit: number): Promise<DeletedList> {
    return this.read((tx) => reads.listDeleted(tx, ns, dirId, limit));
  }

  // ---- journal
  readJournal(ns: number, after: number, limit: number): Promise<JournalRead> {
    return this.read((tx) => journal.readJournal(tx, ns, after, limit));
  }
  headSeq(ns: number): Promise<number> {
    return this.single((tx) => journal.headSeq(tx, ns));
  }

  // ---- retention and collection
  purgeHistory(cutoff: number, batch: number): Promise<PurgeBatch> {
    return this.write((tx) => retention.purgeHistory(tx, cutoff, batch));
  }
  claimGarbage(touchedBefore: number, now: number, afterHash: string, scan: number): Promise<ClaimBatch> {
    return this.write((tx) => retention.claimGarbage(tx, touchedBefore, now, afterHash, scan));
  }
  takeStaleClaims(claimedBefore: number, now: number, limit: number): Promise<string[]> {
    return this.write((tx) => retention.takeStaleClaims(tx, claimedBefore, now, limit));
  }
  finishClaims(hashes: readonly string[]): Promise<void> {
    return this.write((tx) => retention.finishClaims(tx, hashes));
  }

  // ---- sharing (sharing-store.ts)
  listDevices(userId: number): Promise<DeviceInfo[]> {
    return this.read((tx) => sharing.listDevices(tx, userId));
  }
  revokeDevices(userId: number, name: string, now: number): Promise<number> {
    return this.write((tx) => sharing.revokeDevices(tx, userId, name, now));
  }
  createLink(link: NewLink, now: number): Promise<number> {
    return this.write((tx) => sharing.createLink(tx, link, now));
  }
  findLink(secretHash: string, now: number): Promise<LinkRecord | null> {
    return this.single((tx) => sharing.findLink(tx, secretHash, now));
  }
  listLinks(userId: number): Promise<LinkInfo[]> {
    return this.read((tx) => sharing.listLinks(tx, userId));
  }
  revokeLink(userId: number, id: number, now: number): Promise<boolean> {
    return this.write((tx) => sharing.revokeLink(tx, userId, id, now));
  }
  setQuota(userName: string, bytes: number | null): Promise<void> {
    return this.write((tx) => sharing.setQuota(tx, userName, bytes));
  }
  quotaOf(ns: number): Promise<QuotaState | null> {
    return this.read((tx) => sharing.quotaOf(tx, ns));
  }

  // ---- shared folders (folder-store.ts)
  shareFolder(actor: Actor, home: number, op: ShareOp): Promise<ShareInfo> {
    return this.write((tx) => folders.shareFolder(tx, actor, home, op));
  }
  unshareFolder(actor: Actor, home: number, path: string, withUser: string): Promise<ShareInfo> {
    return this.write((tx) => folders.unshareFolder(tx, actor, home, path, withUser));
  }
  leaveFolder(actor: Actor, home: number, path: string): Promise<MountInfo> {
    return this.write((tx) => folders.leaveFolder(tx, actor, home, path));
  }
  moveMount(actor: Actor, home: number, ns: number, to: MountPlace): Promise<MountInfo> {
    return this.write((tx) => folders.moveMount(tx, actor, home, ns, to));
  }
  listShares(userId: number, home: number): Promise<ShareInfo[]> {
    return this.read((tx) => folders.listShares(tx, userId, home));
  }
  mountsOf(userId: number, home: number): Promise<MountInfo[]> {
    return this.read((tx) => folders.mountsOf(tx, userId, home));
  }
  nsOfNode(id: number): Promise<number | null> {
    return this.single((tx) => folders.nsOfNode(tx, id));
  }
}
