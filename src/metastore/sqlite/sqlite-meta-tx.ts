/**
 * MetaTx on better-sqlite3: every primitive runs its statement at once and never yields, so a
 * domain operation runs to completion inside one synchronous transaction (see engine/step.ts).
 * The locks are no-ops: a write transaction (`BEGIN IMMEDIATE`) runs alone.
 */
/* eslint-disable require-yield -- synchronous primitives are generators that never yield, by design */
import type { BlockRef, NodeKind } from '../../shared/protocol.js';
import type {
  BlockRow,
  CandidateRow,
  ContentRef,
  InsertRevision,
  MetaTx,
  NodeRow,
  RevisionRow,
  UserRow,
} from '../engine/meta-tx.js';
import type { MemberRow, MountRow } from '../engine/folder-tx.js';
import type { DeviceRow, InsertLink, LinkRow } from '../engine/sharing-tx.js';
import type { Step } from '../engine/step.js';
import type { ChildEntry, Principal, Role } from '../metadata-store.js';
import { SqliteContentTx } from './sqlite-content-tx.js';
import type { SqliteStatements } from './sqlite-statements.js';

/**
 * A 1-2 character query held by more distinct trigrams than this is common: an FTS query ORing
 * them all would cost more than the plain scan, which stops at the result limit early for a common
 * term. Below it the OR is a few milliseconds over a million names (scripts/bench/search.mjs).
 */
const SHORT_QUERY_MAX_TRIGRAMS = 300;
/**
 * Nodes a 1-2 character query first scans (oldest first): a common query fills its limit there in
 * about a millisecond, where ORing its many trigrams took tens (70 ms for "e" over a million names).
 */
const SHORT_PROBE_NODES = 20_000;

export class SqliteMetaTx implements MetaTx {
  readonly #s: SqliteStatements;
  readonly contentTx: SqliteContentTx;

  constructor(statements: SqliteStatements) {
    this.#s = statements;
    this.contentTx = new SqliteContentTx(statements);
  }

  *lockGc(): Step<void> {}
  *lockNs(_ns: number): Step<void> {}
  *lockBlocks(_hashes: readonly string[], _shared: boolean): Step<void> {}

  *savepoint(): Step<void> {
    this.#s.savepoint.run();
  }
  *rollbackToSavepoint(): Step<void> {
    this.#s.rollbackToSavepoint.run();
  }
  *releaseSavepoint(): Step<void> {
    this.#s.releaseSavepoint.run();
  }

  *findUser(name: string): Step<UserRow | undefined> {
    return this.#s.findUser.get(name) as UserRow | undefined;
  }
  *insertUser(name: string, now: number): Step<number> {
    return Number(this.#s.insertUser.run(name, now).lastInsertRowid);
  }
  *setHome(ns: number, userId: number): Step<void> {
    this.#s.setHome.run(ns, userId);
  }
  *insertNs(ownerId: number, now: number): Step<number> {
    return Number(this.#s.insertNs.run(ownerId, now).lastInsertRowid);
  }
  *setRoot(rootId: number, ns: number): Step<void> {
    this.#s.setRoot.run(rootId, ns);
  }
  *insertMember(ns: number, userId: number, role: Role): Step<void> {
    this.#s.insertMember.run(ns, userId, role);
  }
  *insertDevice(
    userId: number,
    name: string,
    tokenHash: string,
    now: number,
    expiresAt: number | null,
  ): Step<number> {
    return Number(this.#s.insertDevice.run(userId, name, tokenHash, now, expiresAt).lastInsertRowid);
  }
  *auth(tokenHash: string, now: number): Step<Principal | undefined> {
    return this.#s.auth.get(tokenHash, now) as Principal | undefined;
  }
  *role(ns: number, userId: number): Step<Role | undefined> {
    return (this.#s.role.get(ns, userId) as { role: Role } | undefined)?.role;
  }

  *setPasswordHash(userId: number, hash: string | null): Step<void> {
    this.#s.setPasswordHash.run(hash, userId);
  }
  *passwordHash(name: string): Step<{ id: number; password_hash: string | null } | undefined> {
    return this.#s.passwordHash.get(name) as { id: number; password_hash: string | null } | undefined;
  }
  *revokeDevice(tokenHash: string, now: number): Step<boolean> {
    return this.#s.revokeDevice.all(now, tokenHash).length > 0;
  }
  *installationId(): Step<string> {
    return (this.#s.installationId.get() as { id: string }).id;
  }
  *searchNames(userId: number, query: string, limit: number): Step<NodeRow[]> {
    const phrase = (text: string) => `"${text.replace(/"/g, '""')}"`;
    if ([...query].length >= 3) return this.#s.searchNames.all(userId, phrase(query), limit) as NodeRow[];
    // Below a trigram (issue 16): a name of 3 characters or more holds the query if and only if
    // one of its trigrams does, so the trigrams holding it (from the vocabulary) ORed in one FTS
    // query find exactly those names; names of 1-2 characters come from their own index. A query
    // held by very many trigrams is common, and the plain scan meets the limit early instead.
    const like = `%${query.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    const probe = this.#s.searchNamesProbe.all(SHORT_PROBE_NODES, userId, like, limit) as NodeRow[];
    if (probe.length >= limit) return probe;
    const tris = (this.#s.nameTrigrams.all(like, SHORT_QUERY_MAX_TRIGRAMS + 1) as { tri: string }[]).map(
      (r) => r.tri,
    );
    if (tris.length > SHORT_QUERY_MAX_TRIGRAMS) {
      return this.#s.searchNamesShort.all(userId, like, limit) as NodeRow[];
    }
    const rows = this.#s.searchShortNames.all(userId, like, limit) as NodeRow[];
    if (tris.length > 0 && rows.length < limit) {
      const match = tris.map(phrase).join(' OR ');
      rows.push(...(this.#s.searchNames.all(userId, match, limit - rows.length) as NodeRow[]));
    }
    return rows;
  }

  *rootOf(ns: number): Step<number | undefined> {
    return (this.#s.rootOf.get(ns) as { root_id: number } | undefined)?.root_id;
  }
  *head(ns: number): Step<number | undefined> {
    return (this.#s.head.get(ns) as { head_seq: number } | undefined)?.head_seq;
  }
  *nextSeq(ns: number): Step<number | undefined> {
    return (this.#s.nextSeq.get(ns) as { head_seq: number } | undefined)?.head_seq;
  }
  *insertNode(ns: number, parentId: number | null, name: string, kind: NodeKind, rev: number): Step<number> {
    return (this.#s.insertNode.get(ns, parentId, name, kind, rev) as { id: number }).id;
  }
  *updateNode(parentId: number | null, name: string, deleted: boolean, rev: number, id: number): Step<void> {
    this.#s.updateNode.run(parentId, name, deleted ? 1 : 0, rev, id);
  }
  *setDeletedAt(now: number, id: number): Step<void> {
    this.#s.setDeletedAt.run(now, id);
  }
  *nodeById(id: number, ns: number): Step<NodeRow | undefined> {
    return this.#s.nodeById.get(id, ns) as NodeRow | undefined;
  }
  *child(parentId: number, name: string): Step<NodeRow | undefined> {
    return this.#s.child.get(parentId, name) as NodeRow | undefined;
  }
  *children(parentId: number): Step<NodeRow[]> {
    return this.#s.children.all(parentId) as NodeRow[];
  }
  *childRevisions(parentId: number): Step<RevisionRow[]> {
    return this.#s.childRevisions.all(parentId) as RevisionRow[];
  }
  *childEntries(parentId: number): Step<ChildEntry[]> {
    return this.#s.childEntries.all(parentId) as ChildEntry[];
  }
  *hasChild(parentId: number): Step<boolean> {
    return !!this.#s.hasChild.get(parentId);
  }
  *allChildren(parentId: number): Step<NodeRow[]> {
    return this.#s.allChildren.all(parentId) as NodeRow[];
  }
  *liveRevisions(ns: number, after: number, limit: number): Step<RevisionRow[]> {
    return this.#s.treePage.all(ns, after, limit) as RevisionRow[];
  }

  *insertRevision(r: InsertRevision): Step<void> {
    this.#s.insertRevision.run(
      r.ns,
      r.seq,
      r.nodeId,
      r.op,
      r.parentId,
      r.name,
      r.kind,
      r.deleted ? 1 : 0,
      r.size,
      r.mtime,
      r.mode,
      r.contentSeq,
      r.deviceId,
      r.createdAt,
      r.restoredFrom,
    );
  }
  *setDeletedWith(batch: number, ns: number, seq: number): Step<void> {
    this.#s.setDeletedWith.run(batch, ns, seq);
  }
  *supersede(now: number, ns: number, nodeId: number, seq: number): Step<void> {
    this.#s.supersede.run(now, ns, nodeId, ns, seq);
  }
  *revision(ns: number, seq: number): Step<RevisionRow | undefined> {
    return this.#s.revision.get(ns, seq) as RevisionRow | undefined;
  }
  *revisionsOf(nodeId: number, ns: number): Step<RevisionRow[]> {
    return this.#s.revisionsOf.all(nodeId, ns) as RevisionRow[];
  }
  *journal(ns: number, after: number, limit: number): Step<RevisionRow[]> {
    return this.#s.journal.all(ns, after, limit) as RevisionRow[];
  }
  *prevRev(nodeId: number, ns: number, seq: number): Step<number | null> {
    return (this.#s.prevRev.get(nodeId, ns, seq) as { seq: number | null }).seq;
  }
  *insertContent(ns: number, seq: number, blocks: readonly BlockRef[]): Step<void> {
    blocks.forEach((b, i) => this.#s.insertContent.run(ns, seq, i, b.hash, b.size));
  }
  *content(ns: number, contentSeq: number): Step<BlockRef[]> {
    return this.#s.content.all(ns, contentSeq) as BlockRef[];
  }
  *contents(ns: number, contentSeqs: readonly number[]): Step<Map<number, BlockRef[]>> {
    const out = new Map<number, BlockRef[]>();
    for (const seq of contentSeqs) out.set(seq, this.#s.content.all(ns, seq) as BlockRef[]);
    return out;
  }

  *block(hash: string): Step<BlockRow | undefined> {
    return this.#s.block.get(hash) as BlockRow | undefined;
  }
  *blocks(hashes: readonly string[]): Step<Map<string, BlockRow>> {
    const out = new Map<string, BlockRow>();
    for (const hash of hashes) {
      const row = this.#s.block.get(hash) as BlockRow | undefined;
      if (row) out.set(hash, row);
    }
    return out;
  }
  *usableBlocks(userId: number, hashes: readonly string[]): Step<Set<string>> {
    const s = this.#s;
    return new Set(
      hashes.filter(
        (h) => !!s.block.get(h) && (!!s.uploadedBy.get(userId, h) || !!s.readableRef.get(h, userId)),
      ),
    );
  }
  *insertBlock(hash: string, size: number, storedSize: number, now: number): Step<void> {
    this.#s.insertBlock.run(hash, size, storedSize, now, now);
  }
  *insertUserBlock(userId: number, hash: string, now: number): Step<boolean> {
    return this.#s.insertUserBlock.run(userId, hash, now).changes > 0;
  }
  *uploadedBy(userId: number, hash: string): Step<boolean> {
    return !!this.#s.uploadedBy.get(userId, hash);
  }
  *readableRef(hash: string, userId: number): Step<boolean> {
    return !!this.#s.readableRef.get(hash, userId);
  }
  *referenced(hash: string): Step<boolean> {
    return !!this.#s.referenced.get(hash);
  }
  *deleteBlock(hash: string): Step<void> {
    this.#s.deleteBlock.run(hash);
  }
  *deleteUserBlocks(hash: string): Step<void> {
    this.#s.deleteUserBlocks.run(hash);
  }

  *claimOf(hash: string): Step<boolean> {
    return !!this.#s.claimOf.get(hash);
  }
  *scanCandidates(afterHash: string, limit: number): Step<CandidateRow[]> {
    return this.#s.scanCandidates.all(afterHash, limit) as CandidateRow[];
  }
  *addCandidate(hash: string): Step<void> {
    this.#s.addCandidate.run(hash);
  }
  *dropCandidate(hash: string): Step<void> {
    this.#s.dropCandidate.run(hash);
  }
  *addContentCandidates(ns: number, contentSeq: number): Step<void> {
    this.#s.addContentCandidates.run(ns, contentSeq);
  }
  *insertClaim(hash: string, now: number): Step<void> {
    this.#s.insertClaim.run(hash, now);
  }
  *staleClaims(before: number, limit: number): Step<string[]> {
    return (this.#s.staleClaims.all(before, limit) as { hash: string }[]).map((r) => r.hash);
  }
  *renewClaim(now: number, hash: string): Step<void> {
    this.#s.renewClaim.run(now, hash);
  }
  *deleteClaim(hash: string): Step<void> {
    this.#s.deleteClaim.run(hash);
  }

  *oldTombstones(cutoff: number, limit: number): Step<NodeRow[]> {
    return this.#s.oldTombstones.all(cutoff, limit) as NodeRow[];
  }
  *supersededRevs(cutoff: number, limit: number): Step<ContentRef[]> {
    return this.#s.supersededRevs.all(cutoff, limit) as ContentRef[];
  }
  *revTimes(nodeId: number, ns: number): Step<{ seq: number; content_seq: number | null }[]> {
    return this.#s.revTimes.all(nodeId, ns) as { seq: number; content_seq: number | null }[];
  }
  *isSuperseded(ns: number, seq: number, cutoff: number): Step<boolean> {
    return !!this.#s.isSuperseded.get(ns, seq, cutoff);
  }
  *deleteRevision(ns: number, seq: number): Step<void> {
    this.#s.deleteRevision.run(ns, seq);
  }
  *stripContent(ns: number, seq: number): Step<void> {
    this.#s.stripContent.run(ns, seq);
  }
  *markPurged(id: number): Step<void> {
    this.#s.markPurged.run(id);
  }
  *contentUsed(ns: number, contentSeq: number): Step<boolean> {
    return !!this.#s.contentUsed.get(ns, contentSeq);
  }
  *deleteContent(ns: number, contentSeq: number): Step<void> {
    this.#s.deleteContent.run(ns, contentSeq);
  }
  // ---- sharing (engine/sharing-tx.ts)
  *devicesOf(userId: number): Step<DeviceRow[]> {
    return this.#s.devicesOf.all(userId) as DeviceRow[];
  }
  *revokeDevices(userId: number, name: string, now: number): Step<number> {
    return this.#s.revokeDevices.run(now, userId, name).changes;
  }
  *touchDevice(deviceId: number, now: number): Step<void> {
    this.#s.touchDevice.run(now, deviceId);
  }
  *insertLink(l: InsertLink): Step<number> {
    return Number(
      this.#s.insertLink.run(l.secretHash, l.userId, l.ns, l.nodeId, l.now, l.expiresAt, l.password)
        .lastInsertRowid,
    );
  }
  *linkBySecret(secretHash: string): Step<LinkRow | undefined> {
    return this.#s.linkBySecret.get(secretHash) as LinkRow | undefined;
  }
  *linksOf(userId: number): Step<LinkRow[]> {
    return this.#s.linksOf.all(userId) as LinkRow[];
  }
  *revokeLink(userId: number, id: number, now: number): Step<boolean> {
    return this.#s.revokeLink.run(now, userId, id).changes > 0;
  }
  *setQuota(userId: number, bytes: number | null): Step<boolean> {
    return this.#s.setQuota.run(bytes, userId).changes > 0;
  }
  *nsQuota(ns: number): Step<{ owner_id: number; quota_bytes: number | null } | undefined> {
    return this.#s.nsQuota.get(ns) as { owner_id: number; quota_bytes: number | null } | undefined;
  }
  *usedBytes(userId: number): Step<number> {
    return (this.#s.usedBytes.get(userId) as { used: number }).used;
  }
  // ---- shared folders (engine/folder-tx.ts)
  *setHead(ns: number, seq: number): Step<void> {
    this.#s.setHead.run(seq, ns);
  }
  *setNodeNs(id: number, ns: number): Step<void> {
    this.#s.setNodeNs.run(ns, id);
  }
  *moveRevisions(from: number, to: number, nodeId: number): Step<void> {
    this.#s.moveRevisions.run(to, nodeId, from);
  }
  *copyContent(from: number, to: number, seq: number): Step<void> {
    this.#s.copyContent.run(to, from, seq);
  }
  *setMember(ns: number, userId: number, role: Role): Step<void> {
    this.#s.setMember.run(ns, userId, role);
  }
  *deleteMember(ns: number, userId: number): Step<boolean> {
    return this.#s.deleteMember.run(ns, userId).changes > 0;
  }
  *members(ns: number): Step<MemberRow[]> {
    return this.#s.members.all(ns) as MemberRow[];
  }
  *insertMount(userId: number, ns: number, parentId: number, name: string): Step<void> {
    this.#s.insertMount.run(userId, ns, parentId, name);
  }
  *deleteMount(userId: number, ns: number): Step<boolean> {
    return this.#s.deleteMount.run(userId, ns).changes > 0;
  }
  *mountsOf(userId: number): Step<MountRow[]> {
    return this.#s.mountsOf.all(userId) as MountRow[];
  }
  *nsOfNode(id: number): Step<number | undefined> {
    return (this.#s.nsOfNode.get(id) as { ns_id: number } | undefined)?.ns_id;
  }
  *userName(id: number): Step<string | undefined> {
    return (this.#s.userName.get(id) as { name: string } | undefined)?.name;
  }
}
