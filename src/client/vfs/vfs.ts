/**
 * Vfs: POSIX semantics of the drive, with no FUSE types, so the same conformance tests run
 * in-process and through a real mount.
 *
 * Metadata answers (getattr, readdir, statfs, xattrs) come from the mirror and never touch the
 * network. An open file handle snapshots the file's revision and block map: a reader keeps the
 * bytes of the revision it opened even if a newer one arrives; the next open sees the new one.
 *
 * This milestone is read-only: every call that would change the tree fails with EROFS.
 */
import { FsError, LoftError } from '../../shared/errors.js';
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import { newReadState, type Hydrator, type ReadState } from '../hydrate/hydrator.js';
import type { BlockExtent, Mirror, MirrorNode } from '../mirror/mirror.js';
import type { Pinner } from '../pins/pinner.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

export interface Stat {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  blocks: number;
  blksize: number;
  ino: number;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

export type FileState = 'cloud' | 'partial' | 'cached' | 'pinned' | 'dirty' | 'uploading' | 'conflict';

export const XATTR_STATE = 'user.loft.state';
export const XATTR_REV = 'user.loft.rev';
export const XATTR_CACHED = 'user.loft.cached_bytes';
const FILE_XATTRS = [XATTR_STATE, XATTR_REV, XATTR_CACHED];

const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;

interface Handle {
  node: MirrorNode;
  extents: BlockExtent[];
  state: ReadState;
}

export interface VfsOptions {
  mirror: Mirror;
  hydrator: Hydrator;
  cache: DiskBlockCache;
  pinner: Pinner;
  uid?: number;
  gid?: number;
}

/** Most files one process can hold open in the drive (bounded handle table). */
const MAX_HANDLES = 65_536;

export class Vfs {
  readonly #mirror: Mirror;
  readonly #hydrator: Hydrator;
  readonly #cache: DiskBlockCache;
  readonly #pinner: Pinner;
  readonly #uid: number;
  readonly #gid: number;
  readonly #handles = new Map<number, Handle>();
  /** Block hash → number of open handles whose snapshot references it. */
  readonly #held = new Map<string, number>();
  #nextFh = 1;

  constructor(options: VfsOptions) {
    this.#mirror = options.mirror;
    this.#hydrator = options.hydrator;
    this.#cache = options.cache;
    this.#pinner = options.pinner;
    this.#uid = options.uid ?? process.getuid?.() ?? 0;
    this.#gid = options.gid ?? process.getgid?.() ?? 0;
  }

  /** For the cache: blocks of open files are evicted last. */
  isHeld = (hash: string): boolean => this.#held.has(hash);

  get openHandles(): number {
    return this.#handles.size;
  }

  // ---- metadata ---------------------------------------------------------------------------------

  getattr(path: string): Stat {
    return this.#stat(this.#resolve(path));
  }

  readdir(path: string): { names: string[]; stats: Stat[] } {
    const dir = this.#resolve(path);
    if (dir.kind !== 'dir') throw new FsError('ENOTDIR', `${path} is not a directory`);
    const children = this.#mirror.children(dir.id);
    const parent = dir.parentId === null ? dir : (this.#mirror.node(dir.parentId) ?? dir);
    return {
      names: ['.', '..', ...children.map((c) => c.name)],
      stats: [this.#stat(dir), this.#stat(parent), ...children.map((c) => this.#stat(c))],
    };
  }

  statfs(): StatFs {
    const { bytes, files } = this.#mirror.stats();
    const { usedBytes, capBytes } = this.#cache.usage();
    const bsize = 4096;
    const free = Math.max(0, capBytes - usedBytes);
    return {
      bsize,
      frsize: bsize,
      blocks: Math.ceil((bytes + capBytes) / bsize),
      bfree: Math.floor(free / bsize),
      bavail: Math.floor(free / bsize),
      files: files + 1_000_000,
      ffree: 1_000_000,
      favail: 1_000_000,
      namemax: 255,
    };
  }

  access(path: string): void {
    this.#resolve(path);
  }

  // ---- extended attributes --------------------------------------------------------------------------

  listxattr(path: string): string[] {
    const node = this.#resolve(path);
    return node.kind === 'file' ? FILE_XATTRS : [XATTR_STATE, XATTR_REV];
  }

  /** The attribute's value, or null when the node has no such attribute (ENODATA). */
  getxattr(path: string, name: string): Buffer | null {
    const node = this.#resolve(path);
    switch (name) {
      case XATTR_STATE:
        return Buffer.from(this.fileState(node));
      case XATTR_REV:
        return Buffer.from(String(node.rev));
      case XATTR_CACHED:
        return node.kind === 'file' ? Buffer.from(String(this.#cachedBytes(node))) : null;
      default:
        return null;
    }
  }

  fileState(node: MirrorNode): FileState {
    if (this.#mirror.isPinned(node.id)) return 'pinned';
    if (node.kind === 'dir') return 'cloud';
    const cached = this.#cachedBytes(node);
    if (cached >= node.size) return 'cached';
    return cached === 0 ? 'cloud' : 'partial';
  }

  #cachedBytes(node: MirrorNode): number {
    return this.#cache.cachedBytes(this.#mirror.blocks(node.id));
  }

  // ---- files ----------------------------------------------------------------------------------------

  open(path: string, flags: number): number {
    const node = this.#resolve(path);
    if (node.kind === 'dir') throw new FsError('EISDIR', `${path} is a directory`);
    if ((flags & O_ACCMODE) !== O_RDONLY || flags & O_TRUNC) {
      throw new FsError('EROFS', 'the drive is read-only in this version');
    }
    if (this.#handles.size >= MAX_HANDLES) throw new FsError('EIO', 'too many open files in the drive');
    const extents = this.#mirror.blocks(node.id);
    const fh = this.#nextFh++;
    this.#handles.set(fh, { node, extents, state: newReadState() });
    for (const e of extents) this.#held.set(e.hash, (this.#held.get(e.hash) ?? 0) + 1);
    return fh;
  }

  /** Creating files arrives with the write path; until then the drive is read-only. */
  create(path: string, _mode: number): number {
    throw new FsError('EROFS', `cannot create ${path}: the drive is read-only in this version`);
  }

  async read(fh: number, out: Buffer, offset: number): Promise<number> {
    const h = this.#handles.get(fh);
    if (!h) throw new FsError('EBADF', `no open file ${fh}`);
    try {
      return await this.#hydrator.read(h.extents, h.node.size, offset, out, h.state);
    } catch (err) {
      if (err instanceof FsError) throw err;
      const reason = err instanceof LoftError ? err.message : String(err);
      throw new FsError('EIO', `read of ${h.node.name} failed: ${reason}`, { cause: err });
    }
  }

  release(fh: number): void {
    const h = this.#handles.get(fh);
    if (!h) return;
    this.#handles.delete(fh);
    for (const e of h.extents) {
      const n = (this.#held.get(e.hash) ?? 1) - 1;
      if (n <= 0) this.#held.delete(e.hash);
      else this.#held.set(e.hash, n);
    }
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
    const node = this.#mirror.lookup(path);
    if (!node) throw new FsError('ENOENT', `${path} does not exist`);
    return node;
  }

  #stat(node: MirrorNode): Stat {
    const t = new Date(node.mtime);
    const isDir = node.kind === 'dir';
    const size = isDir ? 4096 : node.size;
    return {
      mode: (isDir ? S_IFDIR : S_IFREG) | (node.mode & 0o7777),
      size,
      nlink: isDir ? 2 : 1,
      uid: this.#uid,
      gid: this.#gid,
      mtime: t,
      atime: t,
      ctime: t,
      // Report the full size as allocated: tools that treat blocks < size as "sparse" would
      // otherwise skip or mangle cloud-only data. `loft status` and xattrs tell what is local.
      blocks: Math.ceil(size / 512),
      blksize: 4096,
      ino: node.id,
    };
  }
}
