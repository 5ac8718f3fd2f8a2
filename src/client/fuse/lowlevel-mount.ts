/**
 * FUSE glue on Loft's own libfuse 3 binding (native/loft-fuse.cc, low-level API): kernel requests
 * by node id → Vfs calls by path → fuse_reply_*. No drive logic lives here.
 *
 * Node ids. The kernel names files by node id, the Vfs by path; node-table.ts keeps the kernel's
 * view of the tree. `ls -l` costs one readdirplus per 4 KiB of listing instead of a lookup per file.
 * st_ino is the Vfs key (stable across mounts), not the node id.
 *
 * A node the mirror moved or deleted behind the kernel's back keeps its old name here until the
 * kernel looks it up again (kernel-cache.ts drops the kernel's entries for both paths at once): a
 * request on such a node (getattr, setattr, open) sees another Vfs key or none at its old path and
 * finds the file by key where it is now (a node id names a file, as an inode does), or answers
 * ESTALE when the file is gone; it never serves another file. fstat(2) and ftruncate(2) name their
 * handle and are answered from it.
 *
 * Concurrency: requests arrive on the JavaScript thread one at a time (it reads them from /dev/fuse
 * itself: native/README.md, "The request loop"); tables change only synchronously in a handler, so a
 * reply and the table change it implies (a lookup count) happen in one turn, before a later forget.
 * Every request is answered once: async handlers race a timeout and a late result is dropped.
 *
 * Options (native/README.md has the measurements): max_write and max_pages 1 MiB, readdirplus, atomic
 * O_TRUNC, no auto_inval_data (the drive decides per open: Vfs.cacheMode → keep_cache / direct_io),
 * kernel invalidation always on, so attributes are kept ATTR_TIMEOUT_S. Passthrough: a new file made
 * in a burst of creates is read and written by the kernel in its staging file (passthrough.ts).
 */
import path from 'node:path';
import type { Timers } from '../../shared/clock.js';
import { errnoOf, FsError, LoftError } from '../../shared/errors.js';
import type { Stat, Vfs } from '../vfs/vfs.js';
import { ENTRY_TIMEOUT_S, errnoNumber, META_TIMEOUT_MS, READ_TIMEOUT_MS } from './fuse-common.js';
import type { Caller, DriveMount, FuseMountOptions } from './fuse-common.js';
import { answerOnce } from './answer-once.js';
import { CachedReads } from './cached-reads.js';
import { Passthrough } from './passthrough.js';
import { KernelCache } from './kernel-cache.js';
import { ENODATA, ENOSYS, ERANGE, ESTALE, ETIMEDOUT, OP, OP_NAMES } from './lowlevel-binding.js';
import { loadLowlevelBinding, packStat } from './lowlevel-binding.js';
import { OPEN_DIRECT_IO, OPEN_INVAL_ATTR, OPEN_KEEP_CACHE } from './lowlevel-binding.js';
import type { Handle, RequestHandler, LowlevelBinding, Session } from './lowlevel-binding.js';
import { DirHandles } from './dir-handles.js';
import { applySetattr } from './lowlevel-setattr.js';
import { fusermountUnmount, setReadahead, unrefTimers } from './mount-os.js';
import { childPath, NodeTable, StaleNode } from './node-table.js';

/** Attributes may be kept long: every remote change drops what it touched (kernel-cache.ts). */
export const ATTR_TIMEOUT_S = 10;
const [EIO, ENOENT] = [5, 2];
/**
 * The kernel's readahead for the mount (KiB): one request of max_pages (1 MiB). The kernel starts a
 * FUSE mount at 128 KiB and INIT can only lower it, so as root the mount raises it through sysfs
 * once INIT is done (measured on a do-nothing file system on this binding: `dd bs=1M` of 512 MiB
 * 0.8-0.9 GB/s in 128 KiB requests, 1.8-2.3 GB/s in 1 MiB ones). Other users keep 128 KiB.
 */
const READAHEAD_KB = 1024;
/** How long mount() waits for the kernel's INIT before going on without the readahead change. */
const INIT_WAIT_MS = 10_000;

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
  /** Read requests this thread answered (the others the binding answered from cache files). */
  #reads = 0;
  /** What INIT negotiated (max_write, capabilities): for tests and the startup log. */
  init: Record<string, number> | null = null;
  /** The JavaScript thread reads the requests (native/README.md); LOFT_FUSE_LOOP=threads: not. */
  readonly jsLoop = process.env.LOFT_FUSE_LOOP !== 'threads';
  readonly #table = new NodeTable();
  readonly #dirs: DirHandles;
  /** Reads the binding answers from cache files by itself (cached-reads.ts). */
  readonly #cached: CachedReads;
  readonly #pt: Passthrough;

  constructor(options: FuseMountOptions & { now?: () => number; timers?: Timers }) {
    this.#b = loadLowlevelBinding();
    this.mountpoint = path.resolve(options.mountpoint);
    this.#vfs = options.vfs;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#dirs = new DirHandles(this.#now, (ATTR_TIMEOUT_S - 2) * 1000); // see dir-handles.ts
    this.#onError = options.onError ?? (() => {});
    this.#kernelCache = new KernelCache({
      notifyEntry: (ino, name) =>
        this.#session ? this.#b.notifyInvalEntry(this.#session, ino, name) : Promise.resolve(-107),
      nodeId: (p) => Promise.resolve(this.#table.nodeIdOf(p)),
      onError: (p, err) => this.#onError('invalidate', p, err),
    });
    this.#cached = new CachedReads({
      // LOFT_CACHED_READS=0: every read goes to JavaScript (to measure the difference; debugging).
      enabled: process.env.LOFT_CACHED_READS !== '0',
      binding: this.#b,
      vfs: this.#vfs,
      timers: options.timers ?? unrefTimers,
      onError: (err) => this.#onError('cached-reads', this.mountpoint, err),
    });
    this.#pt = new Passthrough({ binding: this.#b, vfs: this.#vfs.external, now: this.#now });
  }

  get kernelCache(): KernelCache {
    return this.#kernelCache;
  }

  info(): Record<string, number | boolean> {
    return {
      jsLoop: this.jsLoop,
      maxWrite: this.init?.maxWrite ?? 0,
      readaheadKb: this.#readaheadKb,
      protoMinor: this.init?.protoMinor ?? 0,
      nodes: this.#table.size,
      jsReads: this.#reads,
      dirListings: this.#dirs.served,
      ...this.#cached.info(),
      ...this.#pt.info(),
    };
  }

  /** Node ids the kernel holds now (root included): for tests. */
  get nodeCount(): number {
    return this.#table.size;
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
      const options = { readdirplus: true, jsLoop: this.jsLoop, passthrough: this.#pt.policy !== 'off' };
      this.#session = this.#b.mount(this.mountpoint, args, this.#handle, options);
    } catch (err) {
      this.#onInit();
      throw new LoftError('BAD_REQUEST', `cannot mount ${this.mountpoint}: ${(err as Error).message}`);
    }
    this.#root();
    this.#cached.start(this.#session);
    if ((await init) && process.getuid?.() === 0) await this.#raiseReadahead();
  }

  /** Sets the mount's readahead to READAHEAD_KB (see there); best effort. */
  async #raiseReadahead(): Promise<void> {
    try {
      if (await setReadahead(this.mountpoint, READAHEAD_KB)) this.#readaheadKb = READAHEAD_KB;
    } catch (err) {
      this.#onError('readahead', this.mountpoint, err);
    }
  }

  async unmount(): Promise<void> {
    await this.#kernelCache.close();
    this.#cached.stop();
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
      this.#table.setRootKey(this.#vfs.getattr('/').ino);
    } catch {
      // The root always resolves; without it every request answers from path "/".
    }
  }

  /** The path of a node and its stat, found by key when its name is stale (NodeTable.current). */
  #statOf(id: number): { path: string; st: Stat } {
    return this.#table.current(id, this.#vfs);
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
    answerOnce(ms, run, reply, {
      fail: (err) => this.#fail(req, op, p, err, caller),
      timedOut: () => {
        this.#onError(op, p, new Error(`${op} took longer than ${ms} ms`));
        this.#b.replyErr(req, ETIMEDOUT);
      },
    });
  }

  #openFlags(fh: number): number {
    const mode = this.#vfs.cacheMode(fh);
    // Not 'keep': the kernel may hold this file's attributes of another revision (a remote change
    // whose invalidation is still queued, kernel-cache.ts), and a read stops at the size it holds.
    return mode === 'keep' ? OPEN_KEEP_CACHE : (mode === 'direct' ? OPEN_DIRECT_IO : 0) | OPEN_INVAL_ATTR;
  }

  /** Answers a request that created `name` in `parent` with its entry (one lookup for the kernel). */
  #replyNewEntry(req: Handle, parent: number, name: string, p: string): void {
    const st = this.#vfs.getattr(p);
    const id = this.#table.looked(parent, name, st.ino);
    this.#b.replyEntry(req, id, packStat(st), ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S);
  }

  readonly #handle: RequestHandler = (op, req, ino, a, b, c, d, pid = 0, uid = 0, gid = 0) => {
    if (req === null) return this.#event(op, a);
    this.#vfs.external.request();
    const caller: Caller = { pid, uid, gid };
    const name = OP_NAMES.get(op) ?? String(op);
    let p = '';
    try {
      switch (op) {
        case OP.FORGET:
          this.#table.forget(ino, a as number);
          this.#b.replyNone(req);
          return;
        case OP.FORGET_MULTI: {
          const pairs = a as Float64Array;
          for (let i = 0; i + 1 < pairs.length; i += 2) this.#table.forget(pairs[i]!, pairs[i + 1]!);
          this.#b.replyNone(req);
          return;
        }
        case OP.LOOKUP: {
          p = childPath(this.#table.path(ino), a as string);
          const st = this.#vfs.lookupStat(p); // null: no such name (a `tar x` looks each name up first)
          if (!st) return void this.#b.replyErr(req, ENOENT);
          const id = this.#table.looked(ino, a as string, st.ino);
          this.#b.replyEntry(req, id, packStat(st), ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S);
          return;
        }
        case OP.GETATTR: {
          // fstat(2) names its handle (a >= 0): the file it holds, wherever it is now.
          const held = (a as number) >= 0 ? this.#vfs.fgetattr(a as number) : null; // null: gone
          const st = held ?? this.#statOf(ino).st;
          this.#b.replyAttr(req, packStat(st), ATTR_TIMEOUT_S);
          return;
        }
        case OP.SETATTR:
          p = this.#statOf(ino).path;
          return this.#setattr(req, p, a as number, b as Float64Array, caller);
        case OP.READLINK:
          p = this.#table.path(ino);
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
          p = childPath(this.#table.path(ino), a as string);
          this.#vfs.mknod(p);
          return;
        case OP.MKDIR: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#table.path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.mkdir(path_, b as number, caller),
            () => this.#replyNewEntry(req, dir, child, path_),
          );
        }
        case OP.UNLINK:
        case OP.RMDIR: {
          p = childPath(this.#table.path(ino), a as string);
          const path_ = p;
          const run = op === OP.UNLINK ? () => this.#vfs.unlink(path_) : () => this.#vfs.rmdir(path_);
          return this.#async(req, name, p, caller, META_TIMEOUT_MS, run, () => this.#b.replyErr(req, 0));
        }
        case OP.SYMLINK: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#table.path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.symlink(b as string, path_, caller),
            () => this.#replyNewEntry(req, dir, child, path_),
          );
        }
        case OP.RENAME:
          return this.#rename(req, ino, a as string, b as number, c as string, d as number, caller);
        case OP.LINK:
          p = this.#table.path(ino);
          this.#vfs.link(p, childPath(this.#table.path(a as number), b as string));
          return;
        case OP.OPEN: {
          p = this.#statOf(ino).path;
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.open(path_, a as number),
            (fh) => {
              this.#b.replyOpen(req, fh, this.#openFlags(fh), this.#pt.open(fh, ino));
              this.#o.firewall?.primeSoon(pid); // its first read then finds the opener's names known
            },
          );
        }
        case OP.CREATE: {
          const dir = ino;
          const child = a as string;
          p = childPath(this.#table.path(dir), child);
          const path_ = p;
          return this.#async(
            req,
            name,
            p,
            caller,
            META_TIMEOUT_MS,
            () => this.#vfs.create(path_, b as number, caller),
            (fh) => {
              const st = this.#vfs.getattr(path_);
              const id = this.#table.looked(dir, child, st.ino);
              this.#b.replyCreate(
                req,
                id,
                packStat(st),
                ATTR_TIMEOUT_S,
                ENTRY_TIMEOUT_S,
                fh,
                this.#openFlags(fh),
                this.#pt.create(this.#session, fh, id),
              );
            },
          );
        }
        case OP.READ: {
          const fh = a as number;
          this.#reads++;
          const need = () => this.#vfs.spans.uncachedBytes(fh, c as number, b as number);
          if (this.#o.firewall?.refuses(pid, need, () => this.#table.pathOf(ino) ?? '?'))
            return this.#b.replyErr(req, EIO); // see hydration-firewall.ts for why EIO
          // Answered from views of the verified blocks: no buffer per request, no copy (one view
          // is the usual case: a kernel request within one block).
          return this.#async(
            req,
            name,
            this.#table.pathOf(ino) ?? '?',
            caller,
            READ_TIMEOUT_MS,
            () => this.#vfs.readViews(fh, c as number, b as number),
            (views) => {
              this.#b.replyBuf(req, views.length === 1 ? views[0]! : Buffer.concat(views));
              this.#cached.afterRead(fh, c as number);
            },
          );
        }
        case OP.WRITE:
          return this.#async(
            req,
            name,
            this.#table.pathOf(ino) ?? '?',
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
                : () => this.#vfs.release(fh).finally(() => this.#pt.released(this.#session, fh));
          return this.#async(req, name, this.#table.pathOf(ino) ?? '?', caller, READ_TIMEOUT_MS, run, () =>
            this.#b.replyErr(req, 0),
          );
        }
        case OP.OPENDIR: {
          p = this.#table.path(ino);
          const { fh, flags } = this.#dirs.open(ino, this.#vfs.listingStamp(p)); // ENOENT / ENOTDIR now
          this.#b.replyOpen(req, fh, flags);
          return;
        }
        case OP.READDIR:
        case OP.READDIRPLUS:
          p = this.#table.path(ino);
          return this.#readdir(req, ino, p, op === OP.READDIRPLUS, a as number, b as number, c as number);
        case OP.RELEASEDIR:
          this.#dirs.release(a as number);
          this.#b.replyErr(req, 0);
          return;
        case OP.STATFS: {
          const s = this.#vfs.statfs();
          const fields = [
            s.bsize,
            s.frsize,
            s.blocks,
            s.bfree,
            s.bavail,
            s.files,
            s.ffree,
            s.favail,
            s.namemax,
          ];
          this.#b.replyStatfs(req, Float64Array.from(fields));
          return;
        }
        case OP.GETXATTR: {
          p = this.#table.path(ino);
          const value = this.#vfs.getxattr(p, a as string);
          if (value === null) return void this.#b.replyErr(req, ENODATA);
          return this.#replySized(req, value, b as number);
        }
        case OP.LISTXATTR: {
          p = this.#table.path(ino);
          const names = this.#vfs.listxattr(p);
          return this.#replySized(req, Buffer.from(names.map((n) => `${n}\0`).join('')), a as number);
        }
        case OP.ACCESS:
          p = this.#table.path(ino);
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
      this.#pt.negotiated((a as { passthrough?: boolean }).passthrough === true);
      this.#onInit();
    } else if (op === OP.EV_EXIT) {
      const gone = !this.#unmounting;
      this.#unmounting = true;
      this.#cached.stop();
      this.#session = null;
      this.#onExit();
      if (gone) {
        void this.#kernelCache.close();
        this.#o.onGone?.();
      }
    }
  }

  #setattr(req: Handle, p: string, valid: number, v: Float64Array, caller: Caller): void {
    const run = () => applySetattr(this.#vfs, p, valid, v, this.#now, caller);
    const fh = v[6]!; // ftruncate(2) names its handle
    const stat = () => (fh >= 0 ? this.#vfs.fgetattr(fh) : null) ?? this.#vfs.getattr(p);
    this.#async(req, 'setattr', p, caller, READ_TIMEOUT_MS, run, () =>
      this.#b.replyAttr(req, packStat(stat()), ATTR_TIMEOUT_S),
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
    const from = childPath(this.#table.path(parent), name);
    const to = childPath(this.#table.path(newParent), newName);
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
        const id = key === null ? undefined : this.#table.idOfKey(key);
        if (id !== undefined) this.#table.idFor(newParent, newName, key!);
        this.#b.replyErr(req, 0);
      },
    );
  }

  #readdir(req: Handle, dir: number, p: string, plus: boolean, fh: number, size: number, off: number): void {
    const { names, attrs, keys } = this.#dirs.listing(this.#vfs, p, fh, off, plus);
    const nodes = new Float64Array(names.length);
    if (plus && keys) {
      // Ids the entries would get; the kernel holds (one lookup each) only those that fit.
      let next = this.#table.nextId;
      for (let i = off; i < names.length; i++) {
        if (names[i] === '.' || names[i] === '..') continue;
        nodes[i] = this.#table.idOfKey(keys[i]!) ?? next++;
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
        this.#table.looked(dir, names[i]!, keys[i]!);
      }
    }
  }
}
