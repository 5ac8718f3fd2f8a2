/**
 * MirrorTree: the mirror's tree as this device holds it (see mirror.ts for the whole design): node
 * keys and server ids, reads with their memo caches (getattr, readdir, lookups by path), pins, and
 * the helpers every change uses (paths, subtree removal, block lists, what counts as local).
 */
import type { Database, Transaction } from 'better-sqlite3';
import { systemClock, type Clock } from '../../shared/clock.js';
import { lazyPreparer } from '../../shared/lazy-statements.js';
import { ListingVersions } from './listing-versions.js';
import type { BlockRef } from '../../shared/protocol.js';
import {
  openMirrorDb,
  prepareStatements,
  toNode,
  type BlockExtent,
  type MirrorIdentity,
  type MirrorNode,
  type MirrorStatements,
  type NodeRow,
  type RawNodeRow,
} from './mirror-schema.js';

/** Most nodes memoised in memory (~100 bytes each). */
const NODE_CACHE_MAX = 200_000;

/** Most path → node id entries memoised (cleared whole when full or when the tree changes shape). */
const PATH_CACHE_MAX = 100_000;

/** What other parts of the drive hear from the mirror (subscribed with Mirror.watch). */
export interface MirrorWatcher {
  /**
   * Each path a server revision changes here, as it was and as it is (moved, deleted, content or
   * attributes changed, created), while the revision is applied: the mount drops the kernel's
   * cached entries for them (src/client/fuse/kernel-cache.ts). Called inside transactions: it must
   * only record the path.
   */
  remotePath?(path: string): void;
  /**
   * A file's block list is about to be replaced or removed (inside the change, before it): a
   * reader that opened the file and has not read its block list yet takes it now, so it keeps the
   * revision it opened (the drive loads block lists lazily: opening a 20 GB file must not cost a
   * 20,000-row query).
   */
  blocksChanging?(id: number): void;
}

export class MirrorTree {
  protected readonly db: ReturnType<typeof openMirrorDb>;
  protected readonly s: MirrorStatements;
  /** Memo of path → node id for hot lookups; cleared whenever the tree changes. */
  protected readonly pathCache = new Map<string, number>();
  /**
   * Memo of id → node: getattr of a big directory asks for thousands of nodes in a row and a SQLite
   * read per call was the largest CPU cost of `ls -l` (profiled). Cleared whenever the tree changes.
   */
  protected readonly nodeCache = new Map<number, MirrorNode>();
  protected root = 0;
  /**
   * The next local key. Derived at open from the largest key anything still names (a node, a
   * queued op, a pin): a key that nothing names any more may come back after a restart (handles do
   * not survive one), a key still named never does; in a process keys only go up. Nothing is
   * written per key (a first pull of a million nodes would write a million times).
   */
  protected nextKey = 1;

  /** Local time (ms) of local changes and op records; the sync core's clock (see Timers). */
  protected readonly now: () => number;

  /** `device`, read once (the journal asks for every entry). */
  protected ownDevice: string | null = null;

  /** One transaction wrapper for every change (db.transaction() builds eight closures per call). */
  readonly #tx: Transaction<(fn: () => unknown) => unknown>;

  /** Runs `fn` in a transaction (nested: a savepoint); `immediate` takes the write lock at BEGIN. */
  protected transact<T>(fn: () => T, immediate = false): T {
    return (immediate ? this.#tx.immediate(fn) : this.#tx(fn)) as T;
  }

  /** False when the caller opened the database (and closes it): see the constructor. */
  readonly #ownsDb: boolean;

  /**
   * `file`: the mirror database's path, or a database the caller opened and keeps (closing the
   * mirror leaves it open): the simulation's in-memory one, which outlives a drive's crash as the
   * file does (every committed transaction is in it; nothing is ever in flight between two steps).
   */
  constructor(file: string | Database, clock: Clock = systemClock) {
    this.now = () => clock.now();
    this.#ownsDb = typeof file === 'string';
    this.db = openMirrorDb(file);
    this.#listings = new ListingVersions(this.db);
    this.#tx = this.db.transaction((fn: () => unknown) => fn());
    const preparer = lazyPreparer(this.db);
    this.#release = preparer.release;
    this.s = prepareStatements(preparer);
    this.ownDevice = this.device;
    const root = this.s.getMeta.get('rootId') as { value: string } | undefined;
    if (root) this.root = Number(root.value);
    this.nextKey = Math.max(1, ((this.s.maxKey.get() as number | null) ?? 0) + 1);
  }

  readonly #listings: ListingVersions;

  /** Folder `id`'s listing version: it changes whenever the folder's entries do (listing-versions.ts). */
  listingVersion(id: number): number {
    return this.#listings.of(id);
  }

  /** A new local key (see nextKey). */
  protected newKey(): number {
    return this.nextKey++;
  }

  readonly #release: () => void;

  close(): void {
    this.#release();
    if (this.#ownsDb && this.db.open) this.db.close();
  }

  identity(): MirrorIdentity | null {
    const get = (k: string) => (this.s.getMeta.get(k) as { value: string } | undefined)?.value;
    const server = get('server');
    const user = get('user');
    const ns = get('ns');
    const rootId = get('rootId');
    if (!server || !user || !ns || !rootId) return null;
    return { server, user, ns: Number(ns), rootId: Number(rootId) };
  }

  /** The name of this drive's device on the server (revisions carry it); null until known. */
  get device(): string | null {
    return (this.s.getMeta.get('device') as { value: string } | undefined)?.value ?? null;
  }

  setDevice(name: string): void {
    this.s.setMeta.run('device', name);
    this.ownDevice = name;
  }

  /** The id of the installation the mirror was made against (null: not known yet). */
  get installation(): string | null {
    return (this.s.getMeta.get('installation') as { value: string } | undefined)?.value ?? null;
  }

  setInstallation(id: string): void {
    this.s.setMeta.run('installation', id);
  }

  /** The installation is now served at `url` (checked by the caller: src/client/server-binding.ts). */
  setServer(url: string): void {
    this.s.setMeta.run('server', url);
  }

  /** Binds an empty mirror to a server namespace and creates its root. */
  initialize(id: MirrorIdentity): void {
    this.transact(() => {
      this.s.setMeta.run('server', id.server);
      this.s.setMeta.run('user', id.user);
      this.s.setMeta.run('ns', String(id.ns));
      this.s.setMeta.run('rootId', String(id.rootId));
      // The root's key is the server's id of it (both never change).
      this.s.insertNode.run(id.rootId, id.rootId, null, '', 'dir', 0, 0, this.now(), 0o755, this.now());
      this.nextKey = Math.max(this.nextKey, id.rootId + 1);
    });
    this.root = id.rootId;
    this.nodeCache.clear();
  }

  get rootId(): number {
    return this.root;
  }

  cursor(): string {
    return (this.s.getMeta.get('cursor') as { value: string } | undefined)?.value ?? '';
  }

  /** True once the first full pull has completed. */
  get synced(): boolean {
    return !!this.s.getMeta.get('synced');
  }

  node(id: number): MirrorNode | null {
    const hit = this.nodeCache.get(id);
    if (hit) return hit;
    const r = this.s.node.get(id) as NodeRow | undefined;
    if (!r) return null;
    const n = toNode(r);
    if (this.nodeCache.size >= NODE_CACHE_MAX) this.nodeCache.clear();
    this.nodeCache.set(id, n);
    return n;
  }

  /** The key of the node the server knows as `serverId`; null when the mirror holds none. */
  keyOf(serverId: number): number | null {
    return (this.s.keyOf.get(serverId) as number | undefined) ?? null;
  }

  /** Resolves an absolute path ("/a/b"); null when any component is missing. */
  lookup(path: string): MirrorNode | null {
    const cached = this.pathCache.get(path);
    if (cached !== undefined) {
      const n = this.node(cached);
      if (n) return n;
    }
    if (path === '/') return this.node(this.root);
    // Usually the folder is known (it was just listed or looked up): one query for the last name.
    const slash = path.lastIndexOf('/');
    const parentId = slash === 0 ? this.root : this.pathCache.get(path.slice(0, slash));
    let id = parentId ?? this.root;
    let row: NodeRow | undefined;
    for (const part of parentId === undefined ? path.slice(1).split('/') : [path.slice(slash + 1)]) {
      row = this.s.child.get(id, part) as NodeRow | undefined;
      if (!row) return null;
      id = row.id;
    }
    if (this.pathCache.size >= PATH_CACHE_MAX) this.pathCache.clear();
    this.pathCache.set(path, id);
    return row ? toNode(row) : null;
  }

  /** Live children of a folder, by name. Rows come as arrays: half the cost of row objects. */
  children(dirId: number): MirrorNode[] {
    return (this.s.children.all(dirId) as RawNodeRow[]).map(
      ([id, serverId, parentId, name, kind, rev, size, mtime, mode, ctime, staging, atime]) => ({
        id,
        serverId,
        parentId,
        name,
        kind,
        rev,
        size,
        mtime,
        mode,
        ctime: ctime || mtime,
        staging,
        atime,
      }),
    );
  }

  /**
   * A folder's children for a directory read through the kernel, remembered by path for the
   * lookups that follow a listing (`ls -l` looks up every name it was just given).
   */
  entries(dirId: number, dirPath: string): MirrorNode[] {
    const nodes = this.children(dirId);
    if (nodes.length <= PATH_CACHE_MAX / 4) {
      const prefix = dirPath === '/' ? '/' : `${dirPath}/`;
      if (this.pathCache.size + nodes.length > PATH_CACHE_MAX) this.pathCache.clear();
      if (this.nodeCache.size + nodes.length > NODE_CACHE_MAX) this.nodeCache.clear();
      for (const n of nodes) {
        this.pathCache.set(prefix + n.name, n.id);
        this.nodeCache.set(n.id, n);
      }
    }
    return nodes;
  }

  blocks(fileId: number): BlockExtent[] {
    return this.s.blocks.all(fileId) as BlockExtent[];
  }

  /** How many folders a folder holds (its st_nlink is 2 more). */
  subdirCount(dirId: number): number {
    return this.s.subdirs.get(dirId) as number;
  }

  /** The file's blocks that hold bytes [from, to) (a first read needs only these). */
  blocksIn(fileId: number, from: number, to: number): BlockExtent[] {
    return this.s.blocksIn.all({ id: fileId, from, to }) as BlockExtent[];
  }

  /** True when some live file still references the block. */
  referenced(hash: string): boolean {
    return !!this.s.hashRefs.get(hash);
  }

  stats(): { files: number; bytes: number } {
    return this.s.count.get() as { files: number; bytes: number };
  }

  /** Path of a node from the root ("/a/b"), or null if it is not in the tree. */
  pathOf(id: number): string | null {
    const parts: string[] = [];
    let n = this.node(id);
    while (n && n.parentId !== null) {
      parts.push(n.name);
      n = this.node(n.parentId);
    }
    if (!n) return null;
    return '/' + parts.reverse().join('/');
  }

  pin(id: number): void {
    this.s.pin.run(id);
  }

  unpin(id: number): void {
    this.s.unpinAll.run(id);
  }

  pinnedIds(): Set<number> {
    return new Set((this.s.pins.all() as { node_id: number }[]).map((r) => r.node_id));
  }

  hasPins(): boolean {
    return this.s.anyPin.get() !== undefined;
  }

  /** Every live file that is pinned itself or lies below a pinned directory. */
  pinnedFiles(): MirrorNode[] {
    return (this.s.pinnedFiles.all() as NodeRow[]).map(toNode);
  }

  /** True when the node or one of its ancestors is pinned. */
  isPinned(id: number, pins: ReadonlySet<number> = this.pinnedIds()): boolean {
    if (pins.size === 0) return false;
    for (let n = this.node(id); n; n = n.parentId === null ? null : this.node(n.parentId)) {
      if (pins.has(n.id)) return true;
    }
    return false;
  }

  readonly #watchers = new Set<MirrorWatcher>();

  /** Tells `watcher` what changes here (see MirrorWatcher) until the returned function is called. */
  watch(watcher: MirrorWatcher): () => void {
    this.#watchers.add(watcher);
    return () => void this.#watchers.delete(watcher);
  }

  protected remotePath(path: string): void {
    for (const w of this.#watchers) w.remotePath?.(path);
  }

  protected blocksChanging(id: number): void {
    for (const w of this.#watchers) w.blocksChanging?.(id);
  }

  protected reportPath(id: number): void {
    if (this.#watchers.size === 0) return;
    const p = this.rawPath(id);
    if (p) this.remotePath(p);
  }

  /** The node's path from the database itself (inside transactions, past the caches). */
  protected rawPath(id: number): string | null {
    const parts: string[] = [];
    let r = this.s.node.get(id) as NodeRow | undefined;
    for (let hops = 0; r && r.parent_id !== null && hops < 4096; hops++) {
      parts.push(r.name);
      r = this.s.node.get(r.parent_id) as NodeRow | undefined;
    }
    return r && r.parent_id === null ? '/' + parts.reverse().join('/') : null;
  }

  /** True when `id` is `ancestor` or below it here. */
  protected isUnder(id: number, ancestor: number): boolean {
    for (let at: number | null = id, hops = 0; at !== null && hops < 4096; hops++) {
      if (at === ancestor) return true;
      at = (this.s.node.get(at) as NodeRow | undefined)?.parent_id ?? null;
    }
    return false;
  }

  /**
   * After this device's move was applied on the server: the node stands where the server put it
   * (a conflicted copy made meanwhile renamed it here only), unless a later local move of it is
   * still queued or the place is not free here (then a resync settles it).
   */
  /** True when an op of the node waits in the outbox. */
  hasOps(id: number): boolean {
    return !!this.s.opsFor.get(id);
  }

  /** True when a move of the node queued after op `seq` waits in the outbox. */
  movedLater(id: number, seq: number): boolean {
    return !!this.s.laterMove.get(id, seq);
  }

  /** Queued ops name paths as the tree was: those at or below `from` now lie below `to`. */
  protected rebaseOps(from: string | null, to: string | null): void {
    if (!from || !to || from === to) return;
    const args = { to, cut: from.length + 1, from, prefix: from + '/' };
    this.s.rebaseOpPaths.run(args);
    this.s.rebaseOpToPaths.run(args);
  }

  protected setBlocks(id: number, blocks: readonly BlockRef[], released: string[]): void {
    this.blocksChanging(id);
    for (const b of this.blocks(id)) released.push(b.hash);
    this.s.deleteBlocks.run(id);
    let offset = 0;
    blocks.forEach((b, i) => {
      this.s.insertBlock.run(id, i, b.hash, offset, b.size);
      offset += b.size;
    });
  }

  protected isLocalRow(r: NodeRow): boolean {
    return r.server_id === null || r.staging !== null || !!this.s.opsFor.get(r.id);
  }

  /** True when the node or anything below it is local (its resync must wait). */
  holdsLocal(id: number): boolean {
    const r = this.s.node.get(id) as NodeRow | undefined;
    if (!r) return false;
    if (this.isLocalRow(r)) return true;
    for (const { id: child } of this.s.childIds.all(id) as { id: number }[])
      if (this.holdsLocal(child)) return true;
    return false;
  }

  protected changed(): void {
    this.pathCache.clear();
    this.nodeCache.clear();
  }

  protected removeSubtree(id: number, released: string[], alreadyDeleted = false, staged?: string[]): void {
    for (const { id: child } of this.s.childIds.all(id) as { id: number }[])
      this.removeSubtree(child, released, false, staged);
    if (staged) {
      const r = this.s.node.get(id) as NodeRow | undefined;
      if (r?.staging) staged.push(r.staging);
    }
    this.blocksChanging(id);
    for (const b of this.blocks(id)) released.push(b.hash);
    this.s.deleteBlocks.run(id);
    // A node displaced from its name (alreadyDeleted) may come back with the same id later in the
    // page (a page applied twice): keep its pin. Pins of nodes that no longer exist match no file.
    if (!alreadyDeleted) {
      this.s.deletePin.run(id);
      this.s.deleteNode.run(id);
    }
  }

  /** Nodes with dirty content (for recovery after a restart). */
  stagedNodes(): MirrorNode[] {
    return (this.s.stagedNodes.all() as NodeRow[]).map(toNode);
  }

  /** The server's id of a node (null while the server does not have it). */
  serverIdOf(id: number): number | null {
    return (this.s.serverIdOf.get(id) as number | null | undefined) ?? null;
  }
}
