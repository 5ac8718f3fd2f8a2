/**
 * FUSE glue on Loft's own libfuse 3 binding (native/loft-fuse.cc, low-level API): kernel requests
 * by node id → Vfs calls by path → fuse_reply_*. No drive logic lives here.
 *
 * Node ids. The kernel names files by node id, the Vfs by path. This keeps the kernel's view of the
 * tree: each node id the kernel holds is (parent id, name, Vfs key) with the kernel's lookup count;
 * a node's path is its parents' names. Ids are handed out here (the root is 1, FUSE_ROOT_ID) and
 * dropped when the kernel forgets them; a Vfs key seen again (the same file) gets the id it has, moved
 * to its new name if it moved. `ls -l` costs one readdirplus per 4 KiB of listing instead of a lookup
 * per file. st_ino is the Vfs key (stable across mounts), not the node id.
 *
 * A node the mirror moved or deleted behind the kernel's back keeps its old name here until the
 * kernel looks it up again (kernel-cache.ts drops the kernel's entries for both paths at once): a
 * request on such a node resolves its old path, sees another Vfs key or none there, and answers
 * ESTALE / ENOENT instead of serving another file.
 *
 * Concurrency: requests arrive on the JavaScript thread one at a time (the binding queues them from
 * its FUSE threads and never blocks them); the tables change only synchronously in a handler, so a
 * reply and the table change it implies (a lookup count) happen in the same turn, before any later
 * forget is handled. Every request is answered exactly once: async handlers race a timeout
 * (READ_TIMEOUT_MS / META_TIMEOUT_MS, as fuse-native's) and a late result is dropped.
 *
 * Options (see native/README.md for the measurements): max_write and max_pages 1 MiB (libfuse 3
 * negotiates 256 pages when the kernel allows it), readdirplus, atomic O_TRUNC, no auto_inval_data
 * (the drive decides per open: Vfs.cacheMode → keep_cache / direct_io), kernel invalidation always
 * on, so attributes are kept ATTR_TIMEOUT_S.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { errnoOf, FsError, LoftError } from '../../shared/errors.js';
import type { Stat, Vfs } from '../vfs/vfs.js';
import {
  ENTRY_TIMEOUT_S,
  errnoNumber,
  META_TIMEOUT_MS,
  READ_TIMEOUT_MS,
  type Caller,
  type DriveMount,
  type FuseMountOptions,
} from './fuse-common.js';
import { KernelCache } from './kernel-cache.js';

/** Attributes may be kept long: every remote change drops what it touched (kernel-cache.ts). */
export const ATTR_TIMEOUT_S = 10;
/**
 * The kernel's readahead for the mount (KiB): one request of max_pages (1 MiB). The kernel starts a
 * FUSE mount at 128 KiB and INIT can only lower it, so as root the mount raises it through sysfs
 * once INIT is done (measured on a do-nothing file system on this binding: `dd bs=1M` of 512 MiB
 * 0.8-0.9 GB/s in 128 KiB requests, 1.8-2.3 GB/s in 1 MiB ones). Other users keep 128 KiB.
 */
const READAHEAD_KB = 1024;
/** How long mount() waits for the kernel's INIT before going on without the readahead change. */
const INIT_WAIT_MS = 10_000;
/** The binding's interface version this file speaks (native/loft-fuse.cc `abi`). */
const ABI = 1;

type Handle = object;
type Session = object;

/** native/loft-fuse.cc's exports. */
export interface LowlevelBinding {
  abi: number;
  libfuseVersion: number;
  mount(
    mountpoint: string,
    args: string[],
    handler: (
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
    ) => void,
    options: { readdirplus?: boolean; writebackCache?: boolean },
  ): Session;
  umountDetach(mountpoint: string): number;
  notifyInvalEntry(session: Session, parent: number, name: string): Promise<number>;
  notifyInvalInode(session: Session, ino: number): Promise<number>;
  pending(session: Session): number;
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
  ): number;
  replyAttr(req: Handle, attr: Float64Array, timeout: number): number;
  replyReadlink(req: Handle, target: string): number;
  replyOpen(req: Handle, fh: number, openFlags: number): number;
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
const OP = {
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
const OP_NAMES = new Map(Object.entries(OP).map(([k, v]) => [v as number, k.toLowerCase()]));

// setattr's `valid` bits (fuse_lowlevel.h FUSE_SET_ATTR_*).
const SET_MODE = 1 << 0;
const SET_UID = 1 << 1;
const SET_GID = 1 << 2;
const SET_SIZE = 1 << 3;
const SET_ATIME = 1 << 4;
const SET_MTIME = 1 << 5;
const SET_ATIME_NOW = 1 << 7;
const SET_MTIME_NOW = 1 << 8;

/** Open reply flags (native/loft-fuse.cc FillOpen). */
const OPEN_DIRECT_IO = 1;
const OPEN_KEEP_CACHE = 2;

/** Attribute array layout (native/loft-fuse.cc FillStat). */
const ATTR_LEN = 11;
const ROOT_ID = 1;
const ESTALE = 116;
const ERANGE = 34;
const ENODATA = 61;
const ETIMEDOUT = 110;
const ENOSYS = 38;

/**
 * A node id whose path now names another file or nothing the table knows (changed behind the
 * kernel's back): answered ESTALE, and the kernel looks the name up again.
 */
class StaleNode extends Error {}

/** Where the binding is built (native/build/Release), found from this file in src/ or dist/src/. */
function bindingPath(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'Release', 'loft_fuse.node');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

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

/** A node id the kernel holds. */
interface KNode {
  parent: number;
  name: string;
  /** Vfs key (Stat.ino) of the file this id names. */
  key: number;
  lookups: number;
}

/** A directory handle: the listing taken at offset 0 (later offsets index into it). */
interface DirHandle {
  names: string[];
  attrs: Float64Array;
  /** Vfs keys of the entries (readdirplus); null for a plain listing. */
  keys: number[] | null;
}

const packInto = (a: Float64Array, i: number, st: Stat): void => {
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

const packStat = (st: Stat): Float64Array => {
  const a = new Float64Array(ATTR_LEN);
  packInto(a, 0, st);
  return a;
};

const childPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);
const kidKey = (parent: number, name: string): string => `${parent}/${name}`;

export class LowlevelMount implements DriveMount {
  readonly backend = 'lowlevel' as const;
  readonly attrTimeoutS = ATTR_TIMEOUT_S;
  readonly mountpoint: string;
  readonly #b: LowlevelBinding;
  readonly #vfs: Vfs;
  readonly #o: FuseMountOptions;
  readonly #onError: (op: string, path: string, err: unknown) => void;
  readonly #kernelCache: KernelCache;
  readonly #now: () => number;
  #session: Session | null = null;
  #unmounting = false;
  #exited: Promise<void> | null = null;
  #onExit: () => void = () => {};
  #onInit: () => void = () => {};
  /** The mount's readahead (KiB) once raised (see READAHEAD_KB); 0: the kernel's own. */
  #readaheadKb = 0;
  /** What INIT negotiated (max_write, capabilities): for tests and the startup log. */
  init: Record<string, number> | null = null;

  readonly #nodes = new Map<number, KNode>();
  /** Vfs key → node id. */
  readonly #byKey = new Map<number, number>();
  /** "parent/name" → node id: the kernel's names, for kernel-cache.ts. */
  readonly #kids = new Map<string, number>();
  #nextId = ROOT_ID + 1;
  readonly #dirs = new Map<number, DirHandle | null>();
  #nextDir = 1;

  constructor(options: FuseMountOptions & { now?: () => number }) {
    this.#b = loadLowlevelBinding();
    this.mountpoint = path.resolve(options.mountpoint);
    this.#vfs = options.vfs;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    this.#nodes.set(ROOT_ID, { parent: 0, name: '', key: -1, lookups: 1 });
    this.#kernelCache = new KernelCache({
      notifyEntry: (ino, name) =>
        this.#session ? this.#b.notifyInvalEntry(this.#session, ino, name) : Promise.resolve(-107),
      nodeId: (p) => Promise.resolve(this.#nodeIdOf(p)),
      onError: (p, err) => this.#onError('invalidate', p, err),
    });
  }

  get kernelCache(): KernelCache {
    return this.#kernelCache;
  }

  info(): Record<string, number | boolean> {
    return {
      maxWrite: this.init?.maxWrite ?? 0,
      readaheadKb: this.#readaheadKb,
      protoMinor: this.init?.protoMinor ?? 0,
      nodes: this.#nodes.size,
    };
  }

  /** Node ids the kernel holds now (root included): for tests. */
  get nodeCount(): number {
    return this.#nodes.size;
  }

  invalidate(p: string): void {
    if (this.#session && !this.#unmounting) this.#kernelCache.invalidate(p);
  }

  async mount(): Promise<void> {
    const opts = ['fsname=loft', 'subtype=loft'];
    if (this.#o.allowOther) opts.push('allow_other', 'default_permissions');
    const args = ['-o', opts.join(',')];
    if (this.#o.debug) args.push('-d');
    this.#exited = new Promise((resolve) => (this.#onExit = resolve));
    const init = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), INIT_WAIT_MS);
      this.#onInit = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    try {
      this.#session = this.#b.mount(this.mountpoint, args, this.#handle, { readdirplus: true });
    } catch (err) {
      this.#onInit();
      throw new LoftError('BAD_REQUEST', `cannot mount ${this.mountpoint}: ${(err as Error).message}`);
    }
    this.#root();
    if ((await init) && process.getuid?.() === 0) await this.#raiseReadahead();
  }

  /** Sets the mount's readahead to READAHEAD_KB (see there); best effort. */
  async #raiseReadahead(): Promise<void> {
    try {
      // mountinfo: "id parent major:minor root mountpoint …" (no request to this mount).
      const line = (await readFile('/proc/self/mountinfo', 'utf8'))
        .split('\n')
        .find((l) => unescapeMount(l.split(' ')[4] ?? '') === this.mountpoint);
      const dev = line?.split(' ')[2];
      if (dev) {
        await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(READAHEAD_KB));
        this.#readaheadKb = READAHEAD_KB;
      }
    } catch (err) {
      this.#onError('readahead', this.mountpoint, err);
    }
  }

  async unmount(): Promise<void> {
    await this.#kernelCache.close();
    if (!this.#session || this.#unmounting) return this.#exited ?? undefined;
    this.#unmounting = true;
    // The loop ends when the kernel drops the connection; the binding closes /dev/fuse after that.
    if (process.getuid?.() === 0) {
      const res = this.#b.umountDetach(this.mountpoint);
      if (res !== 0 && res !== -22 /* EINVAL: not mounted any more */) {
        throw new LoftError('INTERNAL', `umount ${this.mountpoint} failed: errno ${-res}`);
      }
    } else {
      await fusermountUnmount(this.mountpoint);
    }
    await this.#exited;
  }

  // ---- node table -----------------------------------------------------------------------------------

  #root(): void {
    try {
      const key = this.#vfs.getattr('/').ino;
      this.#nodes.get(ROOT_ID)!.key = key;
      this.#byKey.set(key, ROOT_ID);
    } catch {
      // The root always resolves; without it every request answers from path "/".
    }
  }

  #pathOf(id: number): string | null {
    if (id === ROOT_ID) return '/';
    const names: string[] = [];
    for (let n = this.#nodes.get(id), guard = 0; n; n = this.#nodes.get(n.parent), guard++) {
      if (n.parent === 0) return '/' + names.reverse().join('/');
      if (guard > 4096) return null;
      names.push(n.name);
    }
    return null;
  }

  /** The path of a node id the kernel sent, or ESTALE when it holds no such id. */
  #path(id: number): string {
    const p = this.#pathOf(id);
    if (p === null) throw new StaleNode(`node ${id} is not known`);
    return p;
  }

  /** The path of a node and its stat, checking that the path still names the same file. */
  #statOf(id: number): { path: string; st: Stat } {
    const p = this.#path(id);
    const st = this.#vfs.getattr(p);
    const n = this.#nodes.get(id)!;
    if (id !== ROOT_ID && n.key !== st.ino) {
      throw new StaleNode(`${p} is another file now`);
    }
    return { path: p, st };
  }

  /** The node id for a Vfs key under `parent`/`name` (moved there if it was elsewhere), or a new one. */
  #idFor(parent: number, name: string, key: number): number {
    let id = this.#byKey.get(key);
    if (id === undefined) {
      id = this.#nextId++;
      this.#nodes.set(id, { parent, name, key, lookups: 0 });
      this.#byKey.set(key, id);
    } else {
      const n = this.#nodes.get(id)!;
      if (n.parent !== parent || n.name !== name) {
        const old = kidKey(n.parent, n.name);
        if (this.#kids.get(old) === id) this.#kids.delete(old);
        n.parent = parent;
        n.name = name;
      }
    }
    this.#kids.set(kidKey(parent, name), id);
    return id;
  }

  #looked(parent: number, name: string, key: number): number {
    const id = this.#idFor(parent, name, key);
    this.#nodes.get(id)!.lookups++;
    return id;
  }

  #forget(id: number, n: number): void {
    const node = this.#nodes.get(id);
    if (!node || id === ROOT_ID) return;
    node.lookups -= n;
    if (node.lookups > 0) return;
    this.#nodes.delete(id);
    if (this.#byKey.get(node.key) === id) this.#byKey.delete(node.key);
    const k = kidKey(node.parent, node.name);
    if (this.#kids.get(k) === id) this.#kids.delete(k);
  }

  /** The kernel's node id for a path, walking the names it holds (null: it has none). */
  #nodeIdOf(p: string): number | null {
    let id = ROOT_ID;
    for (const name of p.split('/')) {
      if (!name) continue;
      const next = this.#kids.get(kidKey(id, name));
      if (next === undefined) return null;
      id = next;
    }
    return id;
  }

  // ---- requests -----------------------------------------------------------------------------------

  #fail(req: Handle, op: string, p: string, err: unknown, caller: Caller): void {
    let code: number;
    if (err instanceof StaleNode) {
      code = ESTALE;
    } else if (err instanceof FsError) {
      this.#o.onFsError?.(op, p, err, caller);
      code = errnoNumber(err.errno);
    } else {
      this.#onError(op, p, err);
      code = errnoNumber(errnoOf(err));
    }
    this.#b.replyErr(req, code);
  }

  /** Runs an async Vfs call and answers once: with `reply`, an errno, or ETIMEDOUT after `ms`. */
  #async<T>(
    req: Handle,
    op: string,
    p: string,
    caller: Caller,
    ms: number,
    run: () => Promise<T>,
    reply: (value: T) => void,
  ): void {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      this.#onError(op, p, new Error(`${op} took longer than ${ms} ms`));
      this.#b.replyErr(req, ETIMEDOUT);
    }, ms);
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        fn();
      } catch (err) {
        this.#fail(req, op, p, err, caller);
      }
    };
    let promise: Promise<T>;
    try {
      promise = run();
    } catch (err) {
      finish(() => this.#fail(req, op, p, err, caller));
      return;
    }
    promise.then(
      (v) => finish(() => reply(v)),
      (err: unknown) => finish(() => this.#fail(req, op, p, err, caller)),
    );
  }

  #openFlags(fh: number): number {
    const mode = this.#vfs.cacheMode(fh);
    return mode === 'keep' ? OPEN_KEEP_CACHE : mode === 'direct' ? OPEN_DIRECT_IO : 0;
  }

  /** Answers a request that created `name` in `parent` with its entry (one lookup for the kernel). */
  #replyNewEntry(req: Handle, parent: number, name: string, p: string): void {
    const st = this.#vfs.getattr(p);
    const id = this.#looked(parent, name, st.ino);
    this.#b.replyEntry(req, id, packStat(st), ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S);
  }

  readonly #handle = (
    op: number,
    req: Handle | null,
    ino: number,
    a?: unknown,
    b?: unknown,
    c?: unknown,
    d?: unknown,
    pid = 0,
    uid = 0,
    gid = 0,
  ): void => {
    if (req === null) return this.#event(op, a);
    const caller: Caller = { pid, uid, gid };
    const name = OP_NAMES.get(op) ?? String(op);
    let p = '';
    try {
      switch (op) {
        case OP.FORGET:
          this.#forget(ino, a as number);
          this.#b.replyNone(req);
          return;
        case OP.FORGET_MULTI: {
          const pairs = a as Float64Array;
          for (let i = 0; i + 1 < pairs.length; i += 2) this.#forget(pairs[i]!, pairs[i + 1]!);
          this.#b.replyNone(req);
          return;
        }
        case OP.LOOKUP: {
          p = childPath(this.#path(ino), a as string);
          const st = this.#vfs.getattr(p);
          const id = this.#looked(ino, a as string, st.ino);
          this.#b.replyEntry(req, id, packStat(st), ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S);
          return;
        }
        case OP.GETATTR: {
          const { st } = this.#statOf(ino);
          this.#b.replyAttr(req, packStat(st), ATTR_TIMEOUT_S);
          return;
        }
        case OP.SETATTR:
          p = this.#path(ino);
          return this.#setattr(req, p, a as number, b as Float64Array, caller);
        case OP.READLINK:
          p = this.#path(ino);
          return this.#async(
            req,
            name,
            p,
            caller,
            READ_TIMEOUT_MS,
            () => this.#vfs.readlink(p),
            (t) => this.#b.replyReadlink(req, t),
          );
        case OP.MKNOD:
          p = childPath(this.#path(ino), a as string);
          this.#vfs.mknod(p);
          return;
        case OP.MKDIR: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.mkdir(path_, b as number),
            () => this.#replyNewEntry(req, dir, child, path_),
          );
        }
        case OP.UNLINK:
        case OP.RMDIR: {
          p = childPath(this.#path(ino), a as string);
          const path_ = p;
          const run = op === OP.UNLINK ? () => this.#vfs.unlink(path_) : () => this.#vfs.rmdir(path_);
          return this.#async(req, name, p, caller, META_TIMEOUT_MS, run, () => this.#b.replyErr(req, 0));
        }
        case OP.SYMLINK: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.symlink(b as string, path_),
            () => this.#replyNewEntry(req, dir, child, path_),
          );
        }
        case OP.RENAME:
          return this.#rename(req, ino, a as string, b as number, c as string, d as number, caller);
        case OP.LINK:
          p = this.#path(ino);
          this.#vfs.link(p, childPath(this.#path(a as number), b as string));
          return;
        case OP.OPEN: {
          p = this.#path(ino);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.open(path_, a as number),
            (fh) => this.#b.replyOpen(req, fh, this.#openFlags(fh)),
          );
        }
        case OP.CREATE: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.create(path_, b as number),
            (fh) => {
              const st = this.#vfs.getattr(path_);
              const id = this.#looked(dir, child, st.ino);
              this.#b.replyCreate(
                req,
                id,
                packStat(st),
                ATTR_TIMEOUT_S,
                ENTRY_TIMEOUT_S,
                fh,
                this.#openFlags(fh),
              );
            },
          );
        }
        case OP.READ: {
          const buf = Buffer.allocUnsafe(b as number);
          return this.#async(
            req,
            name,
            this.#pathOf(ino) ?? '?',
            caller,
            READ_TIMEOUT_MS,
            () => this.#vfs.read(a as number, buf, c as number),
            (n) => this.#b.replyBuf(req, buf, n),
          );
        }
        case OP.WRITE:
          return this.#async(
            req,
            name,
            this.#pathOf(ino) ?? '?',
            caller,
            READ_TIMEOUT_MS,
            () => this.#vfs.write(a as number, b as Buffer, c as number),
            (n) => this.#b.replyWrite(req, n),
          );
        case OP.FLUSH:
        case OP.FSYNC:
        case OP.RELEASE: {
          const fh = a as number;
          const run =
            op === OP.FLUSH
              ? () => this.#vfs.flush(fh)
              : op === OP.FSYNC
                ? () => this.#vfs.fsync(fh)
                : () => this.#vfs.release(fh);
          return this.#async(req, name, this.#pathOf(ino) ?? '?', caller, READ_TIMEOUT_MS, run, () =>
            this.#b.replyErr(req, 0),
          );
        }
        case OP.OPENDIR: {
          p = this.#path(ino);
          this.#vfs.list(p); // ENOENT / ENOTDIR now, not at the first readdir
          const fh = this.#nextDir++;
          this.#dirs.set(fh, null);
          this.#b.replyOpen(req, fh, 0);
          return;
        }
        case OP.READDIR:
        case OP.READDIRPLUS:
          p = this.#path(ino);
          return this.#readdir(req, ino, p, op === OP.READDIRPLUS, a as number, b as number, c as number);
        case OP.RELEASEDIR:
          this.#dirs.delete(a as number);
          this.#b.replyErr(req, 0);
          return;
        case OP.STATFS: {
          const s = this.#vfs.statfs();
          this.#b.replyStatfs(
            req,
            Float64Array.of(
              s.bsize,
              s.frsize,
              s.blocks,
              s.bfree,
              s.bavail,
              s.files,
              s.ffree,
              s.favail,
              s.namemax,
            ),
          );
          return;
        }
        case OP.GETXATTR: {
          p = this.#path(ino);
          const value = this.#vfs.getxattr(p, a as string);
          if (value === null) return void this.#b.replyErr(req, ENODATA);
          return this.#replySized(req, value, b as number);
        }
        case OP.LISTXATTR: {
          p = this.#path(ino);
          const names = this.#vfs.listxattr(p);
          return this.#replySized(req, Buffer.from(names.map((n) => `${n}\0`).join('')), a as number);
        }
        case OP.ACCESS:
          p = this.#path(ino);
          this.#vfs.access(p);
          this.#b.replyErr(req, 0);
          return;
        default:
          this.#b.replyErr(req, ENOSYS);
      }
    } catch (err) {
      this.#fail(req, name, p, err, caller);
    }
  };

  #replySized(req: Handle, value: Buffer, size: number): void {
    if (size === 0) this.#b.replyXattr(req, value.length);
    else if (size < value.length) this.#b.replyErr(req, ERANGE);
    else this.#b.replyBuf(req, value, value.length);
  }

  #event(op: number, a: unknown): void {
    if (op === OP.EV_INIT) {
      this.init = a as Record<string, number>;
      this.#onInit();
    } else if (op === OP.EV_EXIT) {
      const gone = !this.#unmounting;
      this.#unmounting = true;
      this.#session = null;
      this.#onExit();
      if (gone) {
        void this.#kernelCache.close();
        this.#o.onGone?.();
      }
    }
  }

  #setattr(req: Handle, p: string, valid: number, v: Float64Array, caller: Caller): void {
    const vfs = this.#vfs;
    // In libfuse's high-level order (chmod, chown, truncate, utimens), as fuse-native calls them.
    const run = async () => {
      if (valid & SET_MODE) await vfs.chmod(p, v[0]!);
      if (valid & (SET_UID | SET_GID))
        await vfs.chown(p, valid & SET_UID ? v[1]! : -1, valid & SET_GID ? v[2]! : -1);
      if (valid & SET_SIZE) {
        if (v[6]! >= 0) await vfs.ftruncate(v[6]!, v[3]!);
        else await vfs.truncate(p, v[3]!);
      }
      if (valid & (SET_ATIME | SET_MTIME)) {
        const now = this.#now();
        // Whole milliseconds, as the Vfs keeps them (the kernel's come with nanoseconds).
        const atime = valid & SET_ATIME ? (valid & SET_ATIME_NOW ? now : Math.floor(v[4]!)) : null;
        const mtime = valid & SET_MTIME ? (valid & SET_MTIME_NOW ? now : Math.floor(v[5]!)) : null;
        await vfs.utimens(p, atime, mtime);
      }
    };
    this.#async(req, 'setattr', p, caller, READ_TIMEOUT_MS, run, () =>
      this.#b.replyAttr(req, packStat(vfs.getattr(p)), ATTR_TIMEOUT_S),
    );
  }

  #rename(
    req: Handle,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
    caller: Caller,
  ): void {
    const from = childPath(this.#path(parent), name);
    const to = childPath(this.#path(newParent), newName);
    // RENAME_NOREPLACE / RENAME_EXCHANGE: not offered by the Vfs (fuse-native never passed them).
    if (flags !== 0) return void this.#b.replyErr(req, errnoNumber('EINVAL'));
    let key: number | null = null;
    try {
      key = this.#vfs.getattr(from).ino;
    } catch {
      // the rename answers ENOENT itself
    }
    this.#async(
      req,
      'rename',
      from,
      caller,
      META_TIMEOUT_MS,
      () => this.#vfs.rename(from, to),
      () => {
        const id = key === null ? undefined : this.#byKey.get(key);
        if (id !== undefined) this.#idFor(newParent, newName, key!);
        this.#b.replyErr(req, 0);
      },
    );
  }

  #readdir(req: Handle, dir: number, p: string, plus: boolean, fh: number, size: number, off: number): void {
    let h = this.#dirs.get(fh) ?? null;
    if (off === 0 || !h || (plus && !h.keys)) {
      // A listing taken at offset 0 (or rewinddir) serves the later offsets of this handle.
      if (plus) {
        const { names, stats } = this.#vfs.readdir(p);
        const attrs = new Float64Array(names.length * ATTR_LEN);
        stats.forEach((st, i) => packInto(attrs, i, st));
        h = { names, attrs, keys: stats.map((s) => s.ino) };
      } else {
        const { names, modes } = this.#vfs.list(p);
        const attrs = new Float64Array(names.length * ATTR_LEN);
        // A plain listing carries only the type (and an inode number the kernel ignores here).
        modes.forEach((m, i) => (attrs[i * ATTR_LEN + 1] = m));
        h = { names, attrs, keys: null };
      }
      this.#dirs.set(fh, h);
    }
    const { names, attrs, keys } = h;
    const nodes = new Float64Array(names.length);
    if (plus && keys) {
      // Ids the entries would get; the kernel holds (one lookup each) only those that fit.
      let next = this.#nextId;
      for (let i = off; i < names.length; i++) {
        if (names[i] === '.' || names[i] === '..') continue;
        nodes[i] = this.#byKey.get(keys[i]!) ?? next++;
      }
    }
    const added = this.#b.replyDir(
      req,
      plus,
      size,
      names,
      attrs,
      nodes,
      off,
      ATTR_TIMEOUT_S,
      ENTRY_TIMEOUT_S,
    );
    if (plus && keys) {
      for (let i = off; i < off + added; i++) {
        if (names[i] === '.' || names[i] === '..') continue;
        this.#looked(dir, names[i]!, keys[i]!);
      }
    }
  }
}

/** A mountinfo path field: spaces, tabs, newlines and backslashes are octal escapes (\\040). */
const unescapeMount = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Unmounts as a user (lazy: the loop ends when the kernel releases the connection). */
async function fusermountUnmount(mountpoint: string): Promise<void> {
  const run = promisify(execFile);
  try {
    await run('fusermount3', ['-u', '-z', '--', mountpoint]);
  } catch {
    await run('fusermount', ['-u', '-z', '--', mountpoint]);
  }
}
