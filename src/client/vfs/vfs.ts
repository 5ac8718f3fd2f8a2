/**
 * Vfs: POSIX semantics of the drive, with no FUSE types, so the same conformance tests run
 * in-process and through a real mount.
 *
 * Metadata answers (getattr, readdir, statfs, xattrs) come from the mirror and never touch the
 * network. An open file handle snapshots the file's revision and block map: a reader keeps the
 * bytes of the revision it opened even if a newer one arrives; the next open sees the new one.
 *
 * Writes are local-first: a file's new content goes to a staging file (DirtyFiles), tree changes
 * go to the mirror together with a queued op in one SQLite transaction, and the push loop replays
 * the ops on the server later. close(2) records a change; it is durable with its group of the next
 * few ms (group-sync.ts), fsync(2) waits for that. Readers here read a dirty file through its staging.
 *
 * Symlinks are files whose mode carries S_IFLNK and whose content is the target. Hard links and
 * special files are refused with EPERM, as on a file system without them (vfat).
 *
 * Owners are device-local (owners.ts): the mounting user's, except nodes another local user made
 * through --allow-other (ext4's rules) or chown gave away; the kernel checks modes against them.
 *
 * Times: mtime and mode of files travel with commits; a folder's times, every atime and the ctime of
 * local changes are device-local. A folder's mtime and ctime move when an entry is created, removed
 * or renamed in it here (not when another device's change arrives). atime moves only by utimens
 * (reads never update it, as with noatime); until set here it reads as the mtime.
 */
import type { Timers } from '../../shared/clock.js';
import { FsError, LoftError } from '../../shared/errors.js';
import { MAX_NAME_BYTES } from '../../shared/paths.js';
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import type { Hydrator } from '../hydrate/hydrator.js';
import { Attributes } from './attributes.js';
import { Owners, type OwnerCaller } from './owners.js';
import { CachedSpans, type CachedSpanWatcher } from './cached-spans.js';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import { ExternalWrites } from './external-writes.js';
import type { Pinner } from '../pins/pinner.js';
import type { StagingFile } from '../staging/staging-file.js';
import { DirtyFiles, type DirtyFile } from './dirty-files.js';
import { HandleTable, type CacheMode } from './handle-table.js';
import { FileStates, type FileState } from './file-states.js';
import { WritePath } from './write-path.js';
import { ReadPath } from './read-path.js';
import { dirAt, parentOf, resolvePath } from './resolve.js';
import { listOf, readdirOf, stampOf, type Listing, type ListingStamp } from './listing.js';
import { checkSize, MAX_FILE_SIZE, packStat, packStatFs, S_IFDIR, S_IFLNK, S_IFMT } from './stat.js';
import { S_IFREG, type Stat, type StatFs } from './stat.js';

export { MAX_FILE_SIZE, S_IFDIR, S_IFLNK, S_IFREG, type Stat, type StatFs } from './stat.js';

export { XATTR_CACHED, XATTR_REV, XATTR_STATE, type FileState } from './file-states.js';

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;

export type { CacheMode } from './handle-table.js';
export type { Listing, ListingStamp } from './listing.js';
export type { CachedSpan, CachedSpanWatcher } from './cached-spans.js';

export interface VfsOptions {
  mirror: Mirror;
  hydrator: Hydrator;
  cache: DiskBlockCache;
  pinner: Pinner;
  /** Directory for staging files, and the file system it is on (`fs`; default: the real one). */
  stagingDir: string;
  fs?: import('../../shared/local-fs.js').LocalFs;
  uid?: number;
  gid?: number;
  /** Supplementary groups of the mounting user (chgrp to one of them is allowed). */
  groups?: number[];
  onQueued?: () => void;
  /** The write path's group commit timers (a simulated clock in tests). */
  timers?: Timers;
  /** Open files, made first by the composition root (the cache asks it what they hold). */
  handles?: HandleTable;
  /** Called when block hashes are no longer referenced by any file. */
  onReleased?: (hashes: string[]) => void;
  /** The node the push loop is uploading now (written by the push loop only). */
  uploading?: { readonly id: number | null };
  now?: () => number;
}

/** Longest symlink target (Linux PATH_MAX). */
const MAX_LINK = 4096;

export class Vfs {
  readonly #mirror: Mirror;
  readonly #hydrator: Hydrator;
  readonly #cache: DiskBlockCache;
  readonly #pinner: Pinner;
  readonly #owners: Owners;
  readonly #now: () => number;
  readonly #onQueued: () => void;
  readonly #onReleased: (hashes: string[]) => void;
  readonly #handles: HandleTable;
  readonly #writes: WritePath;
  readonly #reads: ReadPath;
  readonly #states: FileStates;
  readonly #attrs: Attributes;
  readonly dirty: DirtyFiles;
  /** Staging files the kernel writes itself (passthrough: external-writes.ts). */
  readonly external: ExternalWrites;

  constructor(options: VfsOptions) {
    this.#mirror = options.mirror;
    this.#hydrator = options.hydrator;
    this.#cache = options.cache;
    this.#pinner = options.pinner;
    const uid = options.uid ?? process.getuid?.() ?? 0;
    const gid = options.gid ?? process.getgid?.() ?? 0;
    this.#owners = new Owners(this.#mirror, { uid, gid });
    this.#now = options.now ?? Date.now;
    this.#onQueued = options.onQueued ?? (() => {});
    this.#onReleased = options.onReleased ?? (() => {});
    this.dirty = new DirtyFiles(options.stagingDir, options.fs);
    this.#writes = new WritePath({
      mirror: this.#mirror,
      dirty: this.dirty,
      hydrator: this.#hydrator,
      cache: this.#cache,
      now: this.#now,
      onQueued: this.#onQueued,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    this.#handles = options.handles ?? new HandleTable(this.#mirror);
    const external = { handles: this.#handles, dirty: this.dirty, mirror: this.#mirror, now: this.#now };
    this.external = new ExternalWrites(external);
    this.#reads = new ReadPath({
      handles: this.#handles,
      dirty: this.dirty,
      hydrator: this.#hydrator,
      writes: this.#writes,
    });
    this.#states = new FileStates(this.#mirror, this.dirty, this.#cache, options.uploading ?? { id: null });
    this.#attrs = new Attributes(this.#mirror, this.dirty, this.#owners, {
      groups: new Set([gid, ...(options.groups ?? process.getgroups?.() ?? [])]),
      now: this.#now,
      onQueued: this.#onQueued,
      external: (node) => this.external.takeNode(node),
    });
    this.spans = new CachedSpans(this.#handles, this.dirty, this.#cache);
    this.#mirror.watch({
      blocksChanging: (id) => {
        this.#spanWatcher?.node(id);
        this.#handles.blocksChanging(id);
      },
    });
    this.dirty.onAttach = (id) => this.#spanWatcher?.node(id);
  }

  #spanWatcher: CachedSpanWatcher | null = null;

  /** Reads answered from the disk cache outside the Vfs (vfs/cached-spans.ts). */
  readonly spans: CachedSpans;

  /**
   * `w` hears, before it happens, of every change that makes a span given by `spans` untrue (reads
   * answered from cache files by the FUSE binding: fuse/cached-reads.ts). One watcher at a time.
   */
  watchCachedSpans(w: CachedSpanWatcher): () => void {
    this.#spanWatcher = w;
    const stop = this.#cache.watchRemovals((hash) => w.block(hash));
    const stopWrites = this.#cache.watchWrites((hash) => w.written?.(hash));
    return () => {
      stop();
      stopWrites();
      if (this.#spanWatcher === w) this.#spanWatcher = null;
    };
  }

  /** For the cache: blocks of open files are evicted last. */
  isHeld = (hash: string): boolean => this.#handles.isHeld(hash);

  get openHandles(): number {
    return this.#handles.size;
  }

  /** Reopens the staging files the mirror records and queues their commits (after a restart). */
  recover(): ReturnType<WritePath['recover']> {
    return this.#writes.recover();
  }

  // ---- metadata ---------------------------------------------------------------------------------

  getattr(path: string): Stat {
    return this.#stat(this.#resolve(path));
  }

  /**
   * getattr for a lookup by name: null when nothing is there (no error is made: most lookups of a
   * `tar x` or a build are of names not made yet); a name too long still throws (ENAMETOOLONG).
   */
  lookupStat(path: string): Stat | null {
    const node = this.#mirror.lookup(path);
    if (node) return this.#stat(node);
    if (Buffer.byteLength(path.slice(path.lastIndexOf('/') + 1)) > MAX_NAME_BYTES) this.#resolve(path);
    return null;
  }

  /** Where the file with local key `key` is now; null when it is gone. */
  pathOfKey = (key: number): string | null => this.#mirror.pathOf(key);

  /** fstat(2): the file an open handle holds, wherever it is now; null when it is gone. */
  fgetattr(fh: number): Stat | null {
    const node = this.#mirror.node(this.#handles.find(fh)?.id ?? -1);
    return node ? this.#stat(node) : null;
  }

  readdir(path: string): { names: string[]; stats: Stat[] } {
    return readdirOf(this.#mirror, dirAt(this.#mirror, path), (n) => this.#stat(n));
  }

  /** What a directory read through the kernel needs: names and modes (listing.ts). */
  list(path: string): Listing {
    return listOf(this.#mirror, dirAt(this.#mirror, path), path);
  }

  /** While this is unchanged, so are the names and types `list(path)` gives (listing.ts). */
  listingStamp(path: string): ListingStamp {
    return stampOf(this.#mirror, dirAt(this.#mirror, path));
  }

  statfs(): StatFs {
    return packStatFs(this.#mirror.stats(), this.#cache.usage());
  }

  access(path: string): void {
    this.#resolve(path);
  }

  // ---- extended attributes --------------------------------------------------------------------------

  listxattr(path: string): string[] {
    return this.#states.xattrNames(this.#resolve(path));
  }

  /** The attribute's value, or null when the node has no such attribute (ENODATA). */
  getxattr(path: string, name: string): Buffer | null {
    return this.#states.xattr(this.#resolve(path), name);
  }

  /** What a node is here (cloud, cached, dirty, uploading, …: `user.loft.state`). */
  fileState(node: MirrorNode): FileState {
    return this.#states.state(node);
  }

  // ---- files ----------------------------------------------------------------------------------------

  async open(path: string, flags: number): Promise<number> {
    let node = this.#resolve(path);
    if (node.kind === 'dir') throw new FsError('EISDIR', `${path} is a directory`);
    const write = (flags & O_ACCMODE) !== O_RDONLY;
    this.#handles.checkRoom();
    let dirty = this.dirty.get(node.id) ?? null;
    if (write || flags & O_TRUNC) {
      dirty = await this.#acquire(node);
      // The file may be gone across the await (deleted or moved elsewhere meanwhile, maybe with
      // another file at its path now): the staging made for it goes too, and the path is opened
      // again as it is now.
      const now = this.#mirror.lookup(path);
      if (now?.id !== node.id) {
        await this.#writes.dropIfUnused(dirty);
        if (!now) throw new FsError('ENOENT', `${path} was removed`);
        return this.open(path, flags);
      }
      node = now;
    }
    // The handle holds the staging before anything awaits again (a commit recorded meanwhile would
    // otherwise find the file clean and drop it).
    const fh = this.#handles.add(node, write, dirty);
    this.external.take(dirty);
    if (dirty && flags & O_TRUNC && (dirty.size > 0 || dirty.file.size > 0)) {
      try {
        await this.#writes.truncate(dirty, 0);
      } catch (err) {
        await this.release(fh);
        throw err;
      }
    }
    return fh;
  }

  /** `caller`: who creates it (the new file is theirs, owners.ts); none: the mounting user. */
  async create(path: string, mode: number, caller?: OwnerCaller): Promise<number> {
    this.#parentOf(path);
    if (this.#mirror.lookup(path)) throw new FsError('EEXIST', `${path} exists`);
    if ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG)
      throw new FsError('EPERM', `${path}: only regular files, directories and symlinks are supported`);
    this.#handles.checkRoom();
    const now = this.#now();
    const d = await this.dirty.create(null, 0, now);
    const node = await this.#createAfterAwait(path, d, mode & 0o7777, now, caller);
    d.modified = true;
    return this.#handles.add(node, true, d);
  }

  /**
   * Creates the node of a new staged file. The tree may change across an await (the folder removed
   * or moved meanwhile), so the parent is resolved again here, after the await.
   */
  async #createAfterAwait(path: string, d: DirtyFile, mode: number, now: number, caller?: OwnerCaller) {
    try {
      const { parent, name } = this.#parentOf(path);
      if (this.#mirror.lookup(path)) throw new FsError('EEXIST', `${path} exists`);
      const node = await this.#writes.spaceRetry(() =>
        this.#owners.make(parent, caller, mode, (m) =>
          this.#mirror.createLocal(parent.id, name, 'file', m, now, path, d.name),
        ),
      );
      this.dirty.attach(d, node.id);
      return node;
    } catch (err) {
      await d.file.remove();
      throw err;
    }
  }

  read(fh: number, out: Buffer, offset: number): Promise<number> {
    return this.#reads.read(fh, out, offset);
  }

  /** read(2) without a copy: views of verified blocks, not to be written to (read-path.ts). */
  readViews(fh: number, offset: number, length: number): Promise<Buffer[]> {
    return this.#reads.views(fh, offset, length);
  }

  async write(fh: number, data: Buffer, offset: number): Promise<number> {
    const h = this.#handles.get(fh);
    if (!h.write || !h.dirty) throw new FsError('EBADF', 'file is not open for writing');
    if (offset + data.length > MAX_FILE_SIZE) throw new FsError('EFBIG', 'file too large for the drive');
    const d = h.dirty;
    await this.#writes.spaceRetry(() => d.file.write(offset, data));
    d.size = d.file.size;
    d.mtime = d.ctime = this.#now();
    d.gen++;
    d.modified = true;
    return data.length;
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    const h = this.#handles.get(fh);
    this.external.take(h.dirty);
    // ftruncate(2) of a descriptor not open for writing is EINVAL on Linux (the kernel answers it
    // before the drive sees it; in-process callers get the same).
    if (!h.write || !h.dirty) throw new FsError('EINVAL', 'file is not open for writing');
    checkSize(size);
    await this.#writes.truncate(h.dirty, size);
  }

  async truncate(path: string, size: number): Promise<void> {
    const node = this.#resolve(path);
    if (node.kind === 'dir') throw new FsError('EISDIR', `${path} is a directory`);
    checkSize(size);
    this.external.takeNode(node);
    await this.#writes.truncateByPath(await this.#acquire(node), size);
  }

  /**
   * The node's live DirtyFile. Across the await of #dirtyOf the push may have committed and dropped
   * an existing one (it is then orphaned): take the current one.
   */
  async #acquire(node: MirrorNode): Promise<DirtyFile> {
    for (;;) {
      const d = await this.#writes.dirtyOf(node);
      if (!d.orphaned && this.dirty.get(d.id) === d) return d;
      node = this.#mirror.node(d.id) ?? node;
    }
  }

  /** close(2) of a handle that may write: its changes are recorded and queued before close returns. */
  async flush(fh: number): Promise<void> {
    const h = this.#handles.find(fh);
    this.external.closing(h);
    // Only a handle that may write makes a commit point: a reader's close must not record what a
    // writer still holding the file open has written so far (seed 86315).
    if (h?.write && h.dirty && h.dirty.modified && !h.dirty.orphaned) await this.#writes.commitPoint(h.dirty);
  }

  /** fsync(2): this file's change recorded, and every change so far durable. */
  async fsync(fh: number): Promise<void> {
    await this.flush(fh);
    await this.#writes.durable();
  }

  /** Makes every change recorded so far durable (unmount). */
  durable(): Promise<void> {
    return this.#writes.durable();
  }

  async release(fh: number): Promise<void> {
    this.#spanWatcher?.handle(fh);
    const h = this.#handles.remove(fh);
    if (!h) return;
    const d = h.dirty;
    if (!d) return;
    this.external.closing(h, true);
    d.refs--;
    if (h.write) d.writers--;
    if (d.orphaned) return this.dirty.closeOrphan(d);
    if (d.modified) {
      if (h.write) await this.#writes.commitPoint(d); // a reader's close records nothing (see flush)
    } else await this.#writes.dropIfUnused(d, h.passthrough); // never written (or committed): clean again
    if (d.writers === 0) this.#onQueued(); // the push loop may have been waiting for this close
  }

  /** Size of the file behind an open handle, as it is now (O_APPEND positions writes there). */
  handleSize(fh: number): number {
    const h = this.#handles.get(fh);
    return h.dirty?.size ?? this.#mirror.node(h.id)?.size ?? h.size;
  }

  /** The local key of the node behind an open handle (it stays the node's, wherever it moves). */
  handleNode(fh: number): number {
    return this.#handles.get(fh).id;
  }

  /** Reads a dirty file's current content (staging over the committed revision). */
  async readDirty(id: number, offset: number, out: Buffer): Promise<number> {
    const d = this.dirty.get(id);
    if (!d) throw new LoftError('NOT_FOUND', `node ${id} has no local changes`);
    return d.file.read(offset, out, this.#writes.baseReader(id));
  }

  /** True while some handle may still write the node (its upload waits). */
  writersOf(id: number): number {
    return this.dirty.get(id)?.writers ?? 0;
  }

  /** After a commit of this device: readers' snapshots move to the new revision. */
  committed(id: number): void {
    this.#spanWatcher?.node(id);
    const node = this.#mirror.node(id);
    if (!node) return;
    this.#handles.committed(id, node.rev, node.size, this.#mirror.blocks(id));
  }

  /** How the kernel should treat its page cache for a handle just opened (HandleTable.cacheMode). */
  cacheMode(fh: number): CacheMode {
    return this.#handles.cacheMode(fh);
  }

  // ---- tree changes ---------------------------------------------------------------------------------

  async mkdir(path: string, mode: number, caller?: OwnerCaller): Promise<void> {
    const { parent, name } = this.#parentOf(path);
    if (this.#mirror.lookup(path)) throw new FsError('EEXIST', `${path} exists`);
    await this.#writes.spaceRetry(() =>
      this.#owners.make(parent, caller, S_IFDIR | (mode & 0o7777), (m) =>
        this.#mirror.createLocal(parent.id, name, 'dir', m & 0o7777, this.#now(), path, null),
      ),
    );
    this.#onQueued();
  }

  async unlink(path: string): Promise<void> {
    const node = this.#resolve(path);
    if (node.kind === 'dir') throw new FsError('EISDIR', `${path} is a directory`);
    await this.#remove(node, path);
  }

  async rmdir(path: string): Promise<void> {
    const node = this.#resolve(path);
    if (node.kind !== 'dir') throw new FsError('ENOTDIR', `${path} is not a directory`);
    if (node.parentId === null) throw new FsError('EBUSY', 'the drive root cannot be removed');
    if (this.#mirror.children(node.id).length) throw new FsError('ENOTEMPTY', `${path} is not empty`);
    await this.#remove(node, path);
  }

  async rename(from: string, to: string): Promise<void> {
    const node = this.#resolve(from);
    if (node.parentId === null) throw new FsError('EBUSY', 'the drive root cannot be moved');
    const { parent, name } = this.#parentOf(to);
    const target = this.#mirror.lookup(to);
    if (target?.id === node.id) return;
    if (node.kind === 'dir') {
      for (
        let p: MirrorNode | null = parent;
        p;
        p = p.parentId === null ? null : this.#mirror.node(p.parentId)
      ) {
        if (p.id === node.id) throw new FsError('EINVAL', `cannot move ${from} into itself`);
      }
    }
    if (target) {
      if (node.kind === 'dir' && target.kind !== 'dir')
        throw new FsError('ENOTDIR', `${to} is not a directory`);
      if (node.kind !== 'dir' && target.kind === 'dir') throw new FsError('EISDIR', `${to} is a directory`);
      if (target.kind === 'dir' && this.#mirror.children(target.id).length)
        throw new FsError('ENOTEMPTY', `${to} is not empty`);
    }
    const { released, staged } = await this.#writes.spaceRetry(() =>
      this.#mirror.moveLocal(node.id, parent.id, name, from, to, target?.id ?? null, this.#now()),
    );
    if (target) await this.#dropRemoved(target.id, released, staged);
    this.#onQueued();
  }

  async chmod(path: string, mode: number): Promise<void> {
    this.#attrs.chmod(this.#resolve(path), path, mode);
  }

  /** Times in ms; null leaves that time unchanged (UTIME_OMIT). */
  async utimens(path: string, atime: number | null, mtime: number | null): Promise<void> {
    this.#attrs.utimens(this.#resolve(path), path, atime, mtime);
  }

  async chown(path: string, uid: number, gid: number, caller?: OwnerCaller): Promise<void> {
    this.#attrs.chown(this.#resolve(path), path, uid, gid, caller);
  }

  async symlink(target: string, path: string, caller?: OwnerCaller): Promise<void> {
    this.#parentOf(path);
    if (this.#mirror.lookup(path)) throw new FsError('EEXIST', `${path} exists`);
    const bytes = Buffer.from(target);
    if (bytes.length === 0 || bytes.length > MAX_LINK)
      throw new FsError(bytes.length ? 'ENAMETOOLONG' : 'ENOENT', 'bad symlink target');
    const now = this.#now();
    const d = await this.dirty.create(null, 0, now);
    await d.file.write(0, bytes);
    await this.#createAfterAwait(path, d, S_IFLNK | 0o777, now, caller);
    d.size = bytes.length;
    d.gen++;
    d.modified = true;
    await this.#writes.commitPoint(d);
  }

  async readlink(path: string): Promise<string> {
    const node = this.#resolve(path);
    if ((node.mode & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', `${path} is not a symlink`);
    const out = Buffer.alloc(Math.min(node.size, MAX_LINK));
    const d = this.dirty.get(node.id);
    const n = d
      ? await d.file.read(0, out, this.#writes.baseReader(node.id))
      : await this.#hydrator.read(this.#mirror.blocks(node.id), node.size, 0, out);
    return out.subarray(0, n).toString();
  }

  link(from: string, _to: string): never {
    throw new FsError('EPERM', `${from}: hard links are not supported in the drive`);
  }

  mknod(path: string): never {
    throw new FsError('EPERM', `${path}: special files are not supported in the drive`);
  }

  // ---- pins -----------------------------------------------------------------------------------------

  pin(paths: string[]): void {
    this.#pinner.pin(paths.map((p) => this.#resolve(p).id));
  }

  unpin(paths: string[]): void {
    this.#pinner.unpin(paths.map((p) => this.#resolve(p).id));
  }

  // ---- internals ----------------------------------------------------------------------------------

  #resolve(path: string): MirrorNode {
    return resolvePath(this.#mirror, path);
  }

  #parentOf(path: string): { parent: MirrorNode; name: string } {
    return parentOf(this.#mirror, path);
  }

  async #remove(node: MirrorNode, path: string): Promise<void> {
    // Removing must work on a full disk (it is how the user frees space): if recording it needs
    // room the cache cannot give, the removed file's own staged bytes make it.
    const { released, staged } = await this.#writes.spaceRetry(
      () => this.#mirror.removeLocal(node.id, path, this.#now()),
      async () => {
        const d = this.dirty.get(node.id);
        if (!d || d.size === 0) return 0;
        await d.file.truncate(0);
        return d.size;
      },
    );
    await this.#dropRemoved(node.id, released, staged);
    this.#onQueued();
  }

  async #dropRemoved(id: number, released: string[], staged: string[]): Promise<void> {
    if (this.dirty.get(id)) await this.dirty.drop(id);
    this.#owners.drop(id);
    await this.dirty.removeFiles(staged);
    if (released.length) this.#onReleased(released);
  }

  #stat(node: MirrorNode): Stat {
    const d = node.kind === 'file' ? this.dirty.get(node.id) : undefined;
    this.external.take(d);
    const subdirs = node.kind === 'dir' ? this.#mirror.subdirCount(node.id) : 0;
    const owner = this.#owners.of(node.id);
    return packStat(node, d, subdirs, owner.uid, owner.gid);
  }
}

export type { StagingFile };
