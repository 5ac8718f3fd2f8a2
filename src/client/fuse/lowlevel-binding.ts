/**
 * The interface of Loft's libfuse 3 binding (native/loft-fuse.cc, native/README.md): its exports,
 * request codes, flags and attribute layout, and the loader that checks it is built and speaks this
 * file's ABI. lowlevel-mount.ts drives it.
 */
import { createRequire } from 'node:module';
import { LoftError } from '../../shared/errors.js';
import { bindingPath } from '../../shared/native-binding.js';
import type { Stat } from '../vfs/vfs.js';

/** The binding's interface version this file speaks (native/loft-fuse.cc `abi`). */
const ABI = 3;

export type Handle = object;
export type Session = object;

/**
 * Called on the JavaScript thread for every request (`req`, answered once with a reply*) and
 * event (`req` null: INIT, EXIT); a–d are the request's arguments, then the caller's pid/uid/gid.
 */
export type RequestHandler = (
  op: number,
  req: Handle | null,
  ino: number,
  a?: unknown,
  b?: unknown,
  c?: unknown,
  d?: unknown,
  pid?: number,
  uid?: number,
  gid?: number,
) => void;

/** What FUSE threads answered from cache files since the last drain (native/loft-fuse.cc). */
export interface CachedReadCounts {
  reads: number;
  bytes: number;
  /** Reads of a handle with published ranges that still went to JavaScript (a gap, a short file). */
  fallbacks: number;
  hashes: string[];
  counts: Float64Array;
}

/** native/loft-fuse.cc's exports. */
export interface LowlevelBinding {
  abi: number;
  libfuseVersion: number;
  mount(
    mountpoint: string,
    args: string[],
    handler: RequestHandler,
    options: {
      readdirplus?: boolean;
      writebackCache?: boolean;
      /** Requests read and answered on the JavaScript thread (native/loft-fuse.cc, jsLoop). */
      jsLoop?: boolean;
      /** Negotiate passthrough at INIT where the kernel offers it (passthrough.ts). */
      passthrough?: boolean;
    },
  ): Session;
  /** Registers an open file as a passthrough backing file: its id (> 0), or -errno. */
  backingOpen(session: Session, fd: number): number;
  /** Forgets a backing id (files opened with it keep their backing file): 0 or -errno. */
  backingClose(session: Session, id: number): number;
  umountDetach(mountpoint: string): number;
  notifyInvalEntry(session: Session, parent: number, name: string): Promise<number>;
  notifyInvalInode(session: Session, ino: number): Promise<number>;
  pending(session: Session): number;
  /**
   * Publishes ranges of open handle `fh` that FUSE threads answer from cache files (cached-reads.ts):
   * file bytes [starts[i], ends[i]) are the bytes of `paths[i]` from fileOffs[i], block hashes[i].
   */
  publishReads(
    session: Session,
    fh: number,
    fileSize: number,
    starts: Float64Array,
    ends: Float64Array,
    fileOffs: Float64Array,
    paths: string[],
    hashes: string[],
  ): number;
  /** Withdraws a handle's ranges (all, or one block's); returns once no FUSE thread reads them. */
  withdrawReads(session: Session, fh: number, hash?: string): number;
  /** Reads FUSE threads answered since the last drain, per block, and the counts reset. */
  drainReads(session: Session): CachedReadCounts;
  replyErr(req: Handle, errno: number): number;
  replyNone(req: Handle): number;
  replyEntry(
    req: Handle,
    node: number,
    attr: Float64Array,
    attrTimeout: number,
    entryTimeout: number,
  ): number;
  replyCreate(
    req: Handle,
    node: number,
    attr: Float64Array,
    attrTimeout: number,
    entryTimeout: number,
    fh: number,
    openFlags: number,
    /** A backingOpen id: the kernel reads and writes the file's backing file itself. */
    backingId?: number,
  ): number;
  replyAttr(req: Handle, attr: Float64Array, timeout: number): number;
  replyReadlink(req: Handle, target: string): number;
  replyOpen(req: Handle, fh: number, openFlags: number, backingId?: number): number;
  replyWrite(req: Handle, count: number): number;
  replyBuf(req: Handle, buf: Buffer | null, length?: number): number;
  replyStatfs(req: Handle, values: Float64Array): number;
  replyXattr(req: Handle, size: number): number;
  replyDir(
    req: Handle,
    plus: boolean,
    size: number,
    names: string[],
    attrs: Float64Array,
    nodes: Float64Array,
    start: number,
    attrTimeout: number,
    entryTimeout: number,
  ): number;
}

// Request codes (native/loft-fuse.cc enum Op).
export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 6,
  MKDIR: 7,
  UNLINK: 8,
  RMDIR: 9,
  SYMLINK: 10,
  RENAME: 11,
  LINK: 12,
  OPEN: 13,
  READ: 14,
  WRITE: 15,
  FLUSH: 16,
  RELEASE: 17,
  FSYNC: 18,
  OPENDIR: 19,
  READDIR: 20,
  RELEASEDIR: 21,
  STATFS: 22,
  GETXATTR: 23,
  LISTXATTR: 24,
  ACCESS: 25,
  CREATE: 26,
  READDIRPLUS: 27,
  FORGET_MULTI: 28,
  EV_INIT: 100,
  EV_EXIT: 101,
} as const;
export const OP_NAMES = new Map(Object.entries(OP).map(([k, v]) => [v as number, k.toLowerCase()]));

// setattr's `valid` bits (fuse_lowlevel.h FUSE_SET_ATTR_*).
export const SET_MODE = 1 << 0;
export const SET_UID = 1 << 1;
export const SET_GID = 1 << 2;
export const SET_SIZE = 1 << 3;
export const SET_ATIME = 1 << 4;
export const SET_MTIME = 1 << 5;
export const SET_ATIME_NOW = 1 << 7;
export const SET_MTIME_NOW = 1 << 8;

/** Open reply flags (native/loft-fuse.cc FillOpen). */
export const OPEN_DIRECT_IO = 1;
export const OPEN_KEEP_CACHE = 2;
/** Drop the kernel's attributes of the file before the open returns (they may be of another revision). */
export const OPEN_INVAL_ATTR = 4;
/** An opendir: the kernel keeps the folder's listing in its page cache (dir-handles.ts says when). */
export const OPEN_CACHE_DIR = 8;

/** Attribute array layout (native/loft-fuse.cc FillStat). */
export const ATTR_LEN = 11;
export const ESTALE = 116;
export const ERANGE = 34;
export const ENODATA = 61;
export const ETIMEDOUT = 110;
export const ENOSYS = 38;

let loaded: LowlevelBinding | null = null;

/**
 * Loads the binding and checks it speaks this file's interface; throws a LoftError whose message
 * says why not (not built: run scripts/setup; libfuse 3 missing; another ABI).
 */
export function loadLowlevelBinding(): LowlevelBinding {
  if (loaded) return loaded;
  const file = bindingPath();
  if (!file) {
    throw new LoftError(
      'BAD_REQUEST',
      'the libfuse 3 binding is not built (native/build/Release/loft_fuse.node): run scripts/setup (needs libfuse3-dev)',
    );
  }
  let b: LowlevelBinding;
  try {
    b = createRequire(import.meta.url)(file) as LowlevelBinding;
  } catch (err) {
    throw new LoftError('BAD_REQUEST', `the libfuse 3 binding does not load: ${(err as Error).message}`);
  }
  if (b.abi !== ABI) {
    throw new LoftError(
      'BAD_REQUEST',
      `the libfuse 3 binding is ABI ${b.abi}, this build needs ${ABI}: run scripts/setup`,
    );
  }
  if (b.libfuseVersion < 312) {
    throw new LoftError(
      'BAD_REQUEST',
      `libfuse ${b.libfuseVersion} is too old: the binding needs 3.12 or newer`,
    );
  }
  return (loaded = b);
}

export const packInto = (a: Float64Array, i: number, st: Stat): void => {
  const o = i * ATTR_LEN;
  a[o] = st.ino;
  a[o + 1] = st.mode;
  a[o + 2] = st.nlink;
  a[o + 3] = st.uid;
  a[o + 4] = st.gid;
  a[o + 5] = st.size;
  a[o + 6] = st.blocks;
  a[o + 7] = st.blksize;
  a[o + 8] = st.atime.getTime();
  a[o + 9] = st.mtime.getTime();
  a[o + 10] = st.ctime.getTime();
};

export const packStat = (st: Stat): Float64Array => {
  const a = new Float64Array(ATTR_LEN);
  packInto(a, 0, st);
  return a;
};
