/**
 * Mirror: the device's local SQLite copy of the namespace tree (live nodes only), each file's block
 * list with byte offsets, the journal cursor, and the user's pins.
 *
 * Everything the drive answers without the network (getattr, readdir, statfs, a file's block map)
 * comes from here. Remote changes arrive as journal pages and are applied with `applyChanges` in one
 * transaction together with the new cursor, so a crash leaves either the old or the new state.
 *
 * Local changes (the write path) are applied here first and, in the same transaction, appended to
 * the outbox (`ops`): the queue of operations the push loop replays on the server in order. Each op
 * records the path it had when it was made, so replaying the ops in order on the server rebuilds the
 * tree this device saw.
 *
 * Identity: every node has a local key (`id`) that never changes and is never given to another node while anything names it, and a
 * `serverId`, null until the server has the node (a node made here gets it when its mkdir or first
 * commit is answered: `setServerId`). Everything on this device (ops, pins, blocks, open handles,
 * dirty files) names nodes by key; only what crosses the network uses server ids (the journal's
 * revisions, requests, the resync set). When the server says a node made here is one the mirror
 * already holds under another key (a folder made here while another device made or renamed one to
 * the same name), the two folders merge (`setServerId`).
 *
 * A node with queued ops, dirty content (`staging`) or no server id yet is "local": remote changes
 * to it are not applied (the push will commit on top of them or make a conflicted copy), and an
 * older revision than the mirror holds is never applied (the echo of our own commits).
 *
 * Schema versioned with PRAGMA user_version, forward-only migrations.
 */
import { closeSync, fsync, openSync } from 'node:fs';
import { MAX_DELETE_EXPECT, type BlockRef, type NodeKind } from '../../shared/protocol.js';
import type { MirrorNode, NodeRow, Op, OpRow } from './mirror-schema.js';
import { toOp } from './mirror-schema.js';
import { MirrorRemote } from './mirror-remote.js';

export type { BlockExtent, MirrorIdentity, MirrorNode, Op, OpKind } from './mirror-schema.js';
/** An open SQLite database the caller keeps, to hold a mirror (see MirrorTree's constructor). */
export type { Database as MirrorDatabase } from 'better-sqlite3';
export type { MirrorWatcher } from './mirror-tree.js';

/**
 * Most queued deletes one folder's delete absorbs (the server takes up to MAX_DELETE_EXPECT): past
 * it, the older deletes are sent on their own first.
 */
const MAX_ABSORBED_DELETES = Math.min(20_000, MAX_DELETE_EXPECT);
/** Ops looked at, newest first, when a folder's delete absorbs the deletes queued before it. */
const ABSORB_SCAN = MAX_ABSORBED_DELETES + 1;

/**
 * The mirror: MirrorTree (the tree, reads, pins) + MirrorRemote (remote changes) + what is here:
 * local changes (the write path) and the outbox the push loop replays.
 */
export class Mirror extends MirrorRemote {
  #pushing = 0;

  /** Seq of the op the push loop is working on (0: none): a new commit is not coalesced into it. */
  get pushing(): number {
    return this.#pushing;
  }

  /** The push loop starts on op `seq` (pushDone when it waits or is through). */
  pushStarted(seq: number): void {
    this.#pushing = seq;
  }

  pushDone(): void {
    this.#pushing = 0;
  }

  /** Creates a node (no server id yet); a directory's mkdir is queued at once, a file's commit on close. */
  createLocal(
    parentId: number,
    name: string,
    kind: NodeKind,
    mode: number,
    mtime: number,
    path: string,
    staging: string | null,
  ): MirrorNode {
    const id = this.transact(() => {
      const id = this.newKey();
      this.s.insertNode.run(id, null, parentId, name, kind, 0, 0, mtime, mode, this.now());
      this.s.touchDir.run({ t: mtime, id: parentId });
      if (staging !== null) this.s.setLocal.run(0, mtime, mode, this.now(), staging, id);
      if (kind === 'dir') this.s.insertOp.run('mkdir', id, null, path, null, 0, this.now());
      return id;
    }, true);
    // A new name changes no path that resolved before (the path memo holds no misses): only the
    // folder's times moved. Clearing both memos here made every lookup of a `tar x` walk the whole
    // path again, one query per component (profiled: issue 17).
    this.nodeCache.delete(parentId);
    return this.node(id)!;
  }

  /** Updates a node's local attributes (no op queued: see queueCommit). */
  updateLocal(
    id: number,
    f: Partial<Pick<MirrorNode, 'size' | 'mtime' | 'mode' | 'ctime' | 'staging'>>,
  ): void {
    const n = this.node(id);
    if (!n) return;
    const v = { ...n, ...f };
    this.s.setLocal.run(v.size, v.mtime, v.mode, v.ctime, v.staging, id);
    this.nodeCache.delete(id);
  }

  /** Sets a node's device-local access time (ms); nothing is queued, the server keeps no atime. */
  setAtime(id: number, atime: number): void {
    this.s.setAtime.run(atime, id);
    this.nodeCache.delete(id);
  }

  /** Device-local owners that differ from the mounting user's: [node key, uid, gid] (vfs/owners.ts). */
  owners(): [number, number, number][] {
    return this.s.owners.all() as [number, number, number][];
  }

  /** Sets (or with null drops) a node's device-local owner; nothing is queued. */
  setOwner(id: number, owner: { uid: number; gid: number } | null): void {
    if (owner) this.s.setOwner.run(id, owner.uid, owner.gid);
    else this.s.dropOwner.run(id);
  }

  /**
   * Records that the node's content or attributes must be committed (optionally updating them in
   * the same transaction). A commit already queued and not yet started covers it (coalescing).
   */
  queueCommit(
    id: number,
    path: string,
    f: Partial<Pick<MirrorNode, 'size' | 'mtime' | 'mode' | 'ctime' | 'staging'>> = {},
  ): void {
    this.transact(() => {
      this.updateLocal(id, f);
      if (!this.s.queuedCommit.get(id, this.#pushing))
        this.s.insertOp.run('commit', id, this.node(id)?.serverId ?? null, path, null, 0, this.now());
    }, true);
  }

  /**
   * Makes every transaction so far durable (the write path's group commit: vfs/group-sync.ts).
   * Transactions commit with synchronous=NORMAL (in the WAL, which survives a killed process); an
   * fsync of the WAL makes them all durable (before the WAL file exists: one write with FULL).
   */
  async syncDurable(): Promise<void> {
    // An in-memory database (the simulation's) has no disk to reach: what is committed is kept.
    if (this.db.memory) return;
    // An fsync of the WAL file, in the thread pool, does the same without holding this thread for
    // the disk (every FUSE request waits while it does): transactions commit into the WAL with
    // write(2); a checkpoint has already synced what it moved into the database file.
    this.#walFd ??= openIfThere(`${this.db.name}-wal`);
    if (this.#walFd === null) return this.#syncFull();
    const fd = this.#walFd;
    this.#walSyncs++;
    try {
      await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      if (--this.#walSyncs === 0 && !this.db.open) this.#closeWal();
    }
  }

  #walFd: number | null = null;
  #walSyncs = 0;

  #syncFull(): void {
    this.db.pragma('synchronous = FULL');
    try {
      this.s.durableMark.run(String(this.now()));
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  #closeWal(): void {
    if (this.#walFd !== null) closeSync(this.#walFd);
    this.#walFd = null;
  }

  override close(): void {
    super.close();
    // An fsync in flight keeps its descriptor until it ends (closed then: never a reused number).
    if (this.#walSyncs === 0) this.#closeWal();
  }

  /**
   * Removes a node and its subtree and queues the delete. Returns the block hashes no file references
   * any more and the staging files of the removed nodes.
   */
  removeLocal(id: number, path: string, now = this.now()): { released: string[]; staged: string[] } {
    const released: string[] = [];
    const staged: string[] = [];
    this.transact(() => {
      const node = this.s.node.get(id) as NodeRow | undefined;
      this.removeSubtree(id, released, false, staged);
      if (node?.parent_id != null) this.s.touchDir.run({ t: now, id: node.parent_id });
      const { seq } = this.s.insertOp.get(
        'delete',
        id,
        node?.server_id ?? null,
        path,
        null,
        node?.rev ?? 0,
        this.now(),
      ) as { seq: number };
      if (node?.kind === 'dir') this.#absorbDeletes(seq, path);
    }, true);
    this.changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)), staged };
  }

  /**
   * `rm -rf` removes what a folder holds one by one, then the folder: the deletes queued just before
   * the folder's own (`seq`), of what lay below `path`, are folded into it, and the push loop sends
   * one recursive delete that lists them (with the revisions this device saw: what changed elsewhere
   * meanwhile stays). Only an unbroken run of such deletes right before it is folded, so the server
   * still goes through the states this device went through; the op being pushed, and deletes whose
   * node is not on the server yet or is being pushed (its revision may still change), are left to
   * run on their own (before the folder's, as they were queued).
   */
  #absorbDeletes(seq: number, path: string): void {
    const prefix = path === '/' ? '/' : `${path}/`;
    const pushingNode = this.#pushing
      ? (this.s.opNode.get(this.#pushing) as { node_id: number } | undefined)?.node_id
      : undefined;
    let total = 0;
    const rows = this.s.tailOps.all(seq, ABSORB_SCAN) as Pick<
      OpRow,
      'seq' | 'kind' | 'node_id' | 'server_id' | 'path'
    >[];
    for (const op of rows) {
      if (op.seq === this.#pushing || op.kind !== 'delete' || !op.path.startsWith(prefix)) break;
      if (op.server_id === null || op.node_id === pushingNode) continue;
      // Moved here before its delete, the move not sent (a removed node's move is dropped): on the
      // server it is still where it was, maybe outside the folder. Its own delete, by id, reaches
      // it wherever it is (seed 51181).
      if (this.s.laterMove.get(op.node_id, 0)) continue;
      const n = 1 + (this.s.absorbedCount.get(op.seq) as { n: number }).n;
      if (total + n > MAX_ABSORBED_DELETES) break;
      this.s.absorb.run({ into: seq, seq: op.seq });
      total += n;
    }
  }

  /** Moves a node (replacing `replaced`, if given, and its subtree) and queues the move. */
  moveLocal(
    id: number,
    parentId: number,
    name: string,
    fromPath: string,
    toPath: string,
    replaced: number | null,
    now = this.now(),
  ): { released: string[]; staged: string[] } {
    const released: string[] = [];
    const staged: string[] = [];
    this.transact(() => {
      if (replaced !== null) {
        // The move's overwrite replaces what the server has at the target. A replaced file whose
        // own move there is still queued (and goes with it) is not at the target on the server:
        // it is deleted there by id first.
        const r = this.s.node.get(replaced) as NodeRow | undefined;
        if (r && r.server_id !== null && r.kind === 'file' && this.s.laterMove.get(r.id, 0))
          this.s.insertOp.run('delete', r.id, r.server_id, toPath, null, r.rev, this.now());
        // Its server state is fetched again once the queue is empty: gone there when the move
        // went through; back here when the server refused the move (else nothing would ever
        // bring it back: the server's journal has nothing new about it; mount seed 20 × 60,
        // simulation seed 144).
        if (r && r.server_id !== null) this.s.markResync.run(r.server_id);
        this.removeSubtree(replaced, released, false, staged);
      }
      const from = (this.s.node.get(id) as NodeRow | undefined)?.parent_id;
      this.s.move.run(parentId, name, now, id);
      if (from != null) this.s.touchDir.run({ t: now, id: from });
      this.s.touchDir.run({ t: now, id: parentId });
      this.s.insertOp.run('move', id, this.node(id)?.serverId ?? null, fromPath, toPath, 0, this.now());
    }, true);
    this.changed();
    return { released: [...new Set(released)].filter((h) => !this.referenced(h)), staged };
  }

  headOp(): Op | null {
    const r = this.s.headOp.get() as OpRow | undefined;
    return r ? toOp(r) : null;
  }

  ops(): Op[] {
    return (this.s.allOps.all() as OpRow[]).map(toOp);
  }

  /** Up to `limit` queued ops from `seq` on, oldest first (the push loop's batches). */
  opsFrom(seq: number, limit: number): Op[] {
    return (this.s.opsFrom.all(seq, limit) as OpRow[]).map(toOp);
  }

  get pendingOps(): number {
    return (this.s.opCount.get() as { n: number }).n;
  }

  opDone(seq: number): void {
    this.s.opDone.run(seq, seq);
  }

  /**
   * Runs `fn`, whose mirror changes would each be a transaction of their own, as one transaction
   * (one WAL commit instead of several per file: a batch of 100 pushed creates recorded ~500).
   * Nested calls inside become savepoints. A throw rolls back everything `fn` did.
   */
  together<T>(fn: () => T): T {
    return this.transact(fn);
  }

  /**
   * The deletes a folder's delete (`seq`) absorbed, as [node id, revision this device saw], for
   * the nodes that reached the server (see #absorbDeletes).
   */
  absorbed(seq: number): [number, number][] {
    return (this.s.absorbed.all(seq) as { server_id: number; rev: number }[]).map((r) => [
      r.server_id,
      r.rev,
    ]);
  }

  /** Counts a failed attempt; returns the op's attempts so far (0 if the op is gone). */
  opFailed(seq: number, error: string): number {
    return (this.s.opFailed.get(error, seq) as { attempts: number } | undefined)?.attempts ?? 0;
  }

  /**
   * The oldest op that may run now: not set aside (stuck), not of a node in `held` (e.g. a file
   * still open for writing), and not behind a stuck or held op of the same node (a node's ops keep
   * their order). Usually the head: the scan stops at the first op that may run.
   */
  nextOp(held: ReadonlySet<number> = new Set()): Op | null {
    let blocked: Set<number> | null = null;
    for (const r of this.s.inLine.iterate() as IterableIterator<OpRow>) {
      if (r.stuck_since === null && !held.has(r.node_id) && !blocked?.has(r.node_id)) return toOp(r);
      (blocked ??= new Set()).add(r.node_id);
    }
    return null;
  }

  /** Sets an op aside (see nextOp): it stays queued, with its data, until unstickAll. */
  markStuck(seq: number, since: number): void {
    this.s.markStuck.run(since, seq);
  }

  /** Puts every op set aside back in line (at start, after a resync, now and then). */
  unstickAll(): number {
    return this.s.unstickAll.run().changes;
  }

  /** Ops set aside, oldest first. */
  stuckOps(): Op[] {
    return (this.s.stuckOps.all() as OpRow[]).map(toOp);
  }

  /**
   * Records a successful commit: the node's revision and committed block list. With `clean`, the
   * local content is now exactly the commit (size from it, staging cleared); otherwise newer local
   * writes stay staged over the new base.
   */
  committed(id: number, rev: number, blocks: readonly BlockRef[], size: number, clean: boolean): string[] {
    const released: string[] = [];
    this.transact(() => {
      this.s.bumpOpRev.run(rev, id, rev);
      if (!this.s.node.get(id)) return; // removed here while the commit was under way
      this.s.setRev.run(rev, id);
      this.setBlocks(id, blocks, released);
      if (clean) {
        const n = this.s.node.get(id) as NodeRow | undefined;
        if (n) this.s.setLocal.run(size, n.mtime, n.mode, n.ctime, null, id);
      }
    });
    this.nodeCache.delete(id);
    return [...new Set(released)].filter((h) => !this.referenced(h));
  }

  /** Renames a node here only (no op): the server already has it under that name. */
  renameRaw(id: number, name: string): void {
    const n = this.node(id);
    if (!n || n.parentId === null) return;
    this.s.move.run(n.parentId, name, this.now(), id);
    this.changed();
  }

  /**
   * Records the revision a push of this device gave the node. A delete queued meanwhile (the node was
   * removed here while the push was under way) is meant for this revision too.
   */
  setRev(id: number, rev: number): void {
    this.s.bumpOpRev.run(rev, id, rev);
    this.s.setRev.run(rev, id);
    this.nodeCache.delete(id);
  }
}

/** A read-only descriptor of `file` (fsync(2) needs no more), or null when there is no such file. */
function openIfThere(file: string): number | null {
  try {
    return openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
