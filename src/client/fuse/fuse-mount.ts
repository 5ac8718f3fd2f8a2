/**
 * FUSE glue on fuse-native (libfuse 2, Loft's fork in native/fuse-native, fuse-native-fork.ts): fuse-native
 * callbacks → Vfs calls → negative errnos. No logic lives here. The second backend: the default is
 * Loft's own libfuse 3 binding (lowlevel-mount.ts); what both share is in fuse-common.ts.
 *
 * Mount options (measured choices, see README "Mount options"):
 * - big_writes: fuse-native has no flag for it, so `_fuseOptions` is wrapped to append it; writes
 *   then arrive in up to 128 KiB pieces instead of 4 KiB.
 * - entry_timeout ENTRY_TIMEOUT_S (10 s), attr_timeout ATTR_TIMEOUT_S (10 s): every answer from this process costs a round trip of ~100-150 µs
 *   through fuse-native (measured: `ls -l` of 5,000 files took 0.75 s with the JS thread mostly
 *   idle), so `ls -l` is fast only when the kernel answers from its cache. Names are path-resolved
 *   by libfuse, so a cached entry never serves the wrong file: new and deleted names show at once
 *   (readdir and negative lookups are not cached). Attributes: every path a remote change touches
 *   is dropped from the kernel's cache when the mirror applies it (the fork's loft_notify_inval,
 *   kernel-cache.ts, `invalidate`), so the kernel may keep attributes for 10 s (a repeat `ls -l` of
 *   10,000 files: ~0.1 s instead of ~0.7 s with a 1 s timeout once a second has passed).
 * - No auto_cache: the drive decides per open (Vfs.cacheMode: keep_cache / direct_io bits of the
 *   handle number, which the fork's open and create read).
 * - Per-op timeouts: fuse-common.ts READ_TIMEOUT_MS / META_TIMEOUT_MS.
 */
import path from 'node:path';
import { lstat } from 'node:fs/promises';
import { errnoOf, FsError, type Errno } from '../../shared/errors.js';
import type { OwnerCaller } from '../vfs/owners.js';
import type { Stat, Vfs } from '../vfs/vfs.js';
import {
  ENTRY_TIMEOUT_S,
  errnoNumber,
  isFuseMounted,
  META_TIMEOUT_MS,
  MOUNT_CHECK_MS,
  READ_TIMEOUT_MS,
  type DriveMount,
  type FuseMountOptions,
} from './fuse-common.js';
import { FUSE_NATIVE_ABI, loadFuseNative } from './fuse-native-fork.js';
import { KernelCache } from './kernel-cache.js';

/** Loft's fork (throws, saying why, when it is not built or speaks another ABI). */
const Fuse = loadFuseNative();

/** See the top: long, since remote changes invalidate what the kernel cached. */
export const ATTR_TIMEOUT_S = 10;
const FH_FLAG_DIRECT_IO = 2 ** 30;
const FH_FLAG_KEEP_CACHE = 2 ** 29;

/**
 * Times from utimens (ms). The fork passes UTIME_OMIT as FUSE_TIME_OMIT and resolves UTIME_NOW to
 * the current time (native/fuse-native/fuse-native.c loft_time).
 */
export const FUSE_TIME_OMIT = 2 ** 48 - 1;
const fromFuseTime = (ms: number): number | null => (ms === FUSE_TIME_OMIT ? null : ms);

/** libfuse options fuse-native's option builder does not know, appended by LoftFuse. */
// ac_attr_timeout=0 does nothing without auto_cache; kept as the benchmarks' ceiling has always used it.
const EXTRA_OPTIONS = ['big_writes', 'ac_attr_timeout=0'];
/**
 * Every -o option a mount on this backend passes to libfuse (without allow_other): what fuse-native
 * builds from the constructor's timeouts plus EXTRA_OPTIONS. The benchmarks' ceiling filesystem
 * mounts with exactly these (scripts/bench/lib/ceiling.ts imports them).
 */
export const MOUNT_OPTIONS: readonly string[] = [
  `entry_timeout=${ENTRY_TIMEOUT_S}`,
  `attr_timeout=${ATTR_TIMEOUT_S}`,
  ...EXTRA_OPTIONS,
];

/** fuse-native with extra libfuse options its option builder does not know. */
class LoftFuse extends Fuse {
  override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base ? `${base},${EXTRA_OPTIONS.join(',')}` : `-o${EXTRA_OPTIONS.join(',')}`;
  }
}

function errno(name: Errno): number {
  // fuse-native's table lacks some names (ENOTSUP): fall back to the OS's numbers.
  return (Fuse[name] as number | undefined) ?? -errnoNumber(name);
}

/** What fuse-native reads of a listing entry's attributes (times in ms). */
interface ListingStat {
  mode: number;
  atime: number;
  mtime: number;
  ctime: number;
}

export class FuseMount implements DriveMount {
  readonly backend = 'fuse-native' as const;
  readonly attrTimeoutS = ATTR_TIMEOUT_S;
  readonly #fuse: LoftFuse;
  readonly #vfs: Vfs;
  readonly #onError: (op: string, path: string, err: unknown) => void;
  readonly #onFsError: (op: string, path: string, err: FsError) => void;
  readonly #kernelCache: KernelCache;
  #mounted = false;

  readonly #mountpoint: string;
  readonly #onGone: (() => void) | undefined;

  constructor(options: FuseMountOptions) {
    this.#mountpoint = options.mountpoint;
    this.#onGone = options.onGone;
    this.#vfs = options.vfs;
    this.#onError = options.onError ?? (() => {});
    this.#onFsError = options.onFsError ?? (() => {});
    this.#fuse = new LoftFuse(options.mountpoint, this.#ops(), {
      fsname: 'loft',
      subtype: 'loft',
      // Per-open cache control: the drive decides itself (Vfs.cacheMode), not libfuse's auto_cache.
      autoCache: false,
      attrTimeout: ATTR_TIMEOUT_S,
      entryTimeout: ENTRY_TIMEOUT_S,
      debug: options.debug ?? false,
      ...(options.allowOther ? { allowOther: true, defaultPermissions: true } : {}),
      timeout: {
        default: META_TIMEOUT_MS,
        // These may wait for the network (base blocks under a write) or the disk (fsync of a
        // large staging file): the read timeout, not the metadata one.
        read: READ_TIMEOUT_MS,
        write: READ_TIMEOUT_MS,
        flush: READ_TIMEOUT_MS,
        fsync: READ_TIMEOUT_MS,
        release: READ_TIMEOUT_MS,
        readlink: READ_TIMEOUT_MS,
        open: META_TIMEOUT_MS,
      },
    });
    const binding = Fuse.binding;
    const fuse = this.#fuse as unknown as { _thread: Buffer | null };
    this.#kernelCache = new KernelCache({
      notifyEntry: (ino, name) =>
        fuse._thread ? binding.loft_notify_inval(fuse._thread, ino, name) : Promise.resolve(-107),
      nodeId: async (p) => {
        try {
          return (await lstat(path.join(this.#fuse.mnt, p))).ino;
        } catch {
          return null;
        }
      },
      onError: (p, err) => this.#onError('invalidate', p, err),
    });
  }

  get mountpoint(): string {
    return this.#fuse.mnt;
  }

  info(): Record<string, number | boolean> {
    return { fork: true, abi: FUSE_NATIVE_ABI, openFlags: true, notify: true };
  }

  /**
   * Tells the kernel to forget its cached entry for a path ("/a/b") changed behind its back (a
   * remote change), see kernel-cache.ts; a no-op when not mounted.
   */
  invalidate(p: string): void {
    if (this.#mounted) this.#kernelCache?.invalidate(p);
  }

  /** The kernel cache invalidation state, for tests and status. */
  get kernelCache(): KernelCache | null {
    return this.#kernelCache;
  }

  mount(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#fuse.mount((err) => {
        if (err) return reject(err);
        this.#mounted = true;
        this.#watch();
        resolve();
      }),
    );
  }

  /**
   * Unmounted from outside (`fusermount -u`), the kernel stops sending requests and libfuse's loop
   * ends, but nothing tells this process: it checks /proc/self/mounts every MOUNT_CHECK_MS and,
   * once the mount is gone, calls onGone (the drive then shuts down as on SIGTERM; its queued
   * changes stay in the outbox for the next mount).
   */
  #watch(): void {
    const onGone = this.#onGone;
    if (!onGone) return;
    const mountpoint = path.resolve(this.#mountpoint);
    const check = async () => {
      if (!this.#mounted) return;
      const there = await isFuseMounted(mountpoint).catch(() => true);
      if (!this.#mounted) return;
      if (there) {
        this.#watchTimer = setTimeout(() => void check(), MOUNT_CHECK_MS).unref();
        return;
      }
      this.#mounted = false;
      onGone();
    };
    this.#watchTimer = setTimeout(() => void check(), MOUNT_CHECK_MS).unref();
  }

  #watchTimer: NodeJS.Timeout | null = null;

  async unmount(): Promise<void> {
    if (this.#watchTimer) clearTimeout(this.#watchTimer);
    if (!this.#mounted) {
      await this.#kernelCache?.close();
      return;
    }
    await this.#kernelCache?.close();
    return new Promise((resolve, reject) =>
      this.#fuse.unmount((err) => {
        if (err) return reject(err);
        this.#mounted = false;
        resolve();
      }),
    );
  }

  /** The handle number with the kernel caching flags the fork reads (see the top). */
  #withCacheMode(fh: number): number {
    if (fh >= FH_FLAG_KEEP_CACHE) return fh;
    const mode = this.#vfs.cacheMode(fh);
    return mode === 'keep' ? fh | FH_FLAG_KEEP_CACHE : mode === 'direct' ? fh | FH_FLAG_DIRECT_IO : fh;
  }

  /** Converts a thrown error to a negative errno, reporting unexpected ones once. */
  #fail(op: string, path: string, err: unknown): number {
    if (!(err instanceof FsError)) this.#onError(op, path, err);
    else this.#onFsError(op, path, err);
    return errno(errnoOf(err));
  }

  #ops() {
    const vfs = this.#vfs;
    const sync =
      <T extends unknown[]>(op: string, fn: (path: string, ...args: T) => unknown) =>
      (path: string, ...rest: unknown[]) => {
        const cb = rest.pop() as (code: number, value?: unknown) => void;
        try {
          const value = fn(path, ...(rest as T));
          cb(0, value);
        } catch (err) {
          cb(this.#fail(op, path, err));
        }
      };
    const async_ =
      <T extends unknown[]>(op: string, fn: (path: string, ...args: T) => Promise<unknown>) =>
      (path: string, ...rest: unknown[]) => {
        const cb = rest.pop() as (code: number, value?: unknown) => void;
        let p: Promise<unknown>;
        try {
          p = fn(path, ...(rest as T));
        } catch (err) {
          cb(this.#fail(op, path, err));
          return;
        }
        p.then(
          (value) => cb(0, value),
          (err) => cb(this.#fail(op, path, err)),
        );
      };

    return {
      init: (cb: (code: number) => void) => cb(0),
      getattr: sync('getattr', (path): Stat => vfs.getattr(path)),
      // fstat(2): the file the handle holds, even when libfuse's name for it is stale (moved
      // elsewhere); by path only when the handle's file is gone.
      fgetattr: (path: string, fd: number, cb: (code: number, st?: Stat) => void) => {
        try {
          cb(0, vfs.fgetattr(fd) ?? vfs.getattr(path));
        } catch (err) {
          cb(this.#fail('fgetattr', path, err));
        }
      },
      access: sync('access', (path) => vfs.access(path)),
      statfs: sync('statfs', () => vfs.statfs()),
      readdir: (path: string, cb: (code: number, names?: string[], stats?: ListingStat[]) => void) => {
        try {
          // libfuse takes only the file type from a listing's attributes: one shared, minimal stat
          // per mode (numeric times: the binding would otherwise call Date.now() for each entry).
          const { names, modes } = vfs.list(path);
          const byMode = new Map<number, ListingStat>();
          const stats = modes.map((mode) => {
            let st = byMode.get(mode);
            if (!st) byMode.set(mode, (st = { mode, atime: 0, mtime: 0, ctime: 0 }));
            return st;
          });
          cb(0, names, stats);
        } catch (err) {
          cb(this.#fail('readdir', path, err));
        }
      },
      open: async_('open', async (path, flags: number) => this.#withCacheMode(await vfs.open(path, flags))),
      // The fork passes the caller before the callback: what another user creates is its own.
      create: async_('create', async (path, mode: number, caller: OwnerCaller) =>
        this.#withCacheMode(await vfs.create(path, mode, caller)),
      ),
      read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
        vfs.read(fd, buf.length === len ? buf : buf.subarray(0, len), pos).then(
          (n) => cb(n),
          (err) => cb(this.#fail('read', path, err)),
        );
      },
      write: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
        vfs.write(fd, buf.length === len ? buf : buf.subarray(0, len), pos).then(
          (n) => cb(n),
          (err) => cb(this.#fail('write', path, err)),
        );
      },
      flush: (path: string, fd: number, cb: (code: number) => void) => {
        vfs.flush(fd).then(
          () => cb(0),
          (err) => cb(this.#fail('flush', path, err)),
        );
      },
      fsync: (path: string, _datasync: number, fd: number, cb: (code: number) => void) => {
        vfs.fsync(fd).then(
          () => cb(0),
          (err) => cb(this.#fail('fsync', path, err)),
        );
      },
      release: (path: string, fd: number, cb: (code: number) => void) => {
        vfs.release(fd).then(
          () => cb(0),
          (err) => cb(this.#fail('release', path, err)),
        );
      },
      truncate: async_('truncate', (path, size: number) => vfs.truncate(path, size)),
      ftruncate: (path: string, fd: number, size: number, cb: (code: number) => void) => {
        vfs.ftruncate(fd, size).then(
          () => cb(0),
          (err) => cb(this.#fail('ftruncate', path, err)),
        );
      },
      unlink: async_('unlink', (path) => vfs.unlink(path)),
      mkdir: async_('mkdir', (path, mode: number, caller: OwnerCaller) => vfs.mkdir(path, mode, caller)),
      rmdir: async_('rmdir', (path) => vfs.rmdir(path)),
      rename: async_('rename', (from, to: string) => vfs.rename(from, to)),
      chmod: async_('chmod', (path, mode: number) => vfs.chmod(path, mode)),
      utimens: async_('utimens', (path, atime: number, mtime: number) =>
        vfs.utimens(path, fromFuseTime(atime), fromFuseTime(mtime)),
      ),
      symlink: async_('symlink', (target, path: string, caller: OwnerCaller) =>
        vfs.symlink(target, path, caller),
      ),
      readlink: async_('readlink', (path) => vfs.readlink(path)),
      link: sync('link', (from, to: string) => vfs.link(from, to)),
      mknod: sync('mknod', (path) => vfs.mknod(path)),
      // Owners are device-local (vfs/owners.ts); extended attributes are Loft's own, read-only.
      chown: async_('chown', (path, uid: number, gid: number, caller: OwnerCaller) =>
        vfs.chown(path, uid, gid, caller),
      ),
      setxattr: (_path: string, ...rest: unknown[]) =>
        (rest.pop() as (code: number) => void)(errno('ENOTSUP')),
      removexattr: (_path: string, ...rest: unknown[]) =>
        (rest.pop() as (code: number) => void)(errno('ENOTSUP')),
      getxattr: (
        path: string,
        name: string,
        _position: number,
        cb: (code: number, value?: Buffer | null) => void,
      ) => {
        try {
          cb(0, vfs.getxattr(path, name));
        } catch (err) {
          cb(this.#fail('getxattr', path, err));
        }
      },
      listxattr: (path: string, cb: (code: number, list?: string[]) => void) => {
        try {
          cb(0, vfs.listxattr(path));
        } catch (err) {
          cb(this.#fail('listxattr', path, err));
        }
      },
    };
  }
}
