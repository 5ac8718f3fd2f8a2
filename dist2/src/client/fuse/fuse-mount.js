/**
 * FUSE glue: fuse-native callbacks → Vfs calls → negative errnos. No logic lives here.
 *
 * Mount options (measured choices, see README "Mount options"):
 * - big_writes: fuse-native has no flag for it, so `_fuseOptions` is wrapped to append it; writes
 *   then arrive in up to 128 KiB pieces instead of 4 KiB.
 * - entry_timeout ENTRY_TIMEOUT_S (10 s), attr_timeout ATTR_TIMEOUT_S (10 s with kernel
 *   invalidation, else 1 s): every answer from this process costs a round trip of ~100-150 µs
 *   through fuse-native (measured: `ls -l` of 5,000 files took 0.75 s with the JS thread mostly
 *   idle), so `ls -l` is fast only when the kernel answers from its cache. Names are path-resolved
 *   by libfuse, so a cached entry never serves the wrong file: new and deleted names show at once
 *   (readdir and negative lookups are not cached). Attributes: with the patched binding
 *   (native/patch-fuse-native.mjs LOFT_NOTIFY) every path a remote change touches is dropped from
 *   the kernel's cache when the mirror applies it (kernel-cache.ts, `invalidate`), so the kernel
 *   may keep attributes for 10 s (a repeat `ls -l` of 10,000 files: ~0.1 s instead of ~0.7 s once
 *   a second has passed). With the stock binding there is no invalidation: 1 s, so a size or
 *   mtime changed elsewhere shows within a second.
 * - ac_attr_timeout=0 with auto_cache (stock binding only): every open compares size/mtime, so a
 *   reopen never reads the old pages of a file changed elsewhere; the kernel keeps file pages
 *   between opens and drops them when an open sees a new size or mtime. With the patched binding
 *   the drive decides per open instead (Vfs.cacheMode: keep_cache / direct_io bits).
 * - Per-op timeouts: reads may hydrate, so they get READ_TIMEOUT_MS, longer than the hydrator's
 *   own retry budget (a slow download never answers a spurious error) yet bounded (a dead server
 *   never hangs a reader forever); metadata ops never touch the network and get a short one.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Fuse from 'fuse-native';
import { lstat } from 'node:fs/promises';
import { errnoOf, FsError } from '../../shared/errors.js';
import { KernelCache } from './kernel-cache.js';
/** The binding fuse-native loads (the same module instance), to see what it was built with. */
const BINDING = (() => {
    try {
        const req = createRequire(createRequire(import.meta.url).resolve('fuse-native'));
        return req('node-gyp-build')(path.dirname(req.resolve('fuse-native/package.json')));
    }
    catch {
        return {};
    }
})();
/**
 * Whether the binding was built with Loft's open flags (native/patch-fuse-native.mjs): a handle
 * number may then carry FH_FLAG_KEEP_CACHE or FH_FLAG_DIRECT_IO.
 */
const OPEN_FLAGS = BINDING.loft_open_flags === 1;
/** Whether the binding can drop kernel cache entries (native/patch-fuse-native.mjs LOFT_NOTIFY). */
const NOTIFY = typeof BINDING.loft_notify_inval === 'function';
/** See the top: long only when remote changes invalidate what the kernel cached. */
export const ATTR_TIMEOUT_S = NOTIFY ? 10 : 1;
const FH_FLAG_DIRECT_IO = 2 ** 30;
const FH_FLAG_KEEP_CACHE = 2 ** 29;
export const ENTRY_TIMEOUT_S = 10;
/**
 * Times from utimens (ms). native/patch-fuse-native.mjs makes the binding pass UTIME_OMIT as
 * FUSE_TIME_OMIT and resolve UTIME_NOW to the current time.
 */
export const FUSE_TIME_OMIT = 2 ** 48 - 1;
const fromFuseTime = (ms) => (ms === FUSE_TIME_OMIT ? null : ms);
const READ_TIMEOUT_MS = 60_000;
const META_TIMEOUT_MS = 10_000;
/** fuse-native with extra libfuse options its option builder does not know. */
class LoftFuse extends Fuse {
    _fuseOptions() {
        const base = super._fuseOptions();
        // ac_attr_timeout=0: auto_cache compares size/mtime on every open (else only once its own copy
        // is older than attr_timeout, and a reopen reads the old pages of a file changed elsewhere).
        const extra = ['big_writes', 'ac_attr_timeout=0'];
        return base ? `${base},${extra.join(',')}` : `-o${extra.join(',')}`;
    }
}
function errno(name) {
    // fuse-native's table lacks some names (ENOTSUP): fall back to the OS's numbers.
    return Fuse[name] ?? -(os.constants.errno[name] ?? os.constants.errno.EIO);
}
export class FuseMount {
    #fuse;
    #vfs;
    #onError;
    #onFsError;
    #kernelCache;
    #mounted = false;
    constructor(options) {
        this.#vfs = options.vfs;
        this.#onError = options.onError ?? (() => { });
        this.#onFsError = options.onFsError ?? (() => { });
        this.#fuse = new LoftFuse(options.mountpoint, this.#ops(), {
            fsname: 'loft',
            subtype: 'loft',
            // With per-open cache control the drive decides itself (Vfs.cacheMode); else libfuse's
            // auto_cache (drops the pages when an open sees a new size or mtime).
            autoCache: !OPEN_FLAGS,
            attrTimeout: ATTR_TIMEOUT_S,
            entryTimeout: ENTRY_TIMEOUT_S,
            debug: options.debug ?? false,
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
        const notify = BINDING.loft_notify_inval;
        const fuse = this.#fuse;
        this.#kernelCache = notify
            ? new KernelCache({
                notifyEntry: (ino, name) => fuse._thread ? notify(fuse._thread, ino, name) : Promise.resolve(-107),
                nodeId: async (p) => {
                    try {
                        return (await lstat(path.join(this.#fuse.mnt, p))).ino;
                    }
                    catch {
                        return null;
                    }
                },
                onError: (p, err) => this.#onError('invalidate', p, err),
            })
            : null;
    }
    get mountpoint() {
        return this.#fuse.mnt;
    }
    /**
     * Tells the kernel to forget its cached entry for a path ("/a/b") changed behind its back (a
     * remote change), see kernel-cache.ts; a no-op with the stock binding or when not mounted.
     */
    invalidate(p) {
        if (this.#mounted)
            this.#kernelCache?.invalidate(p);
    }
    /** The kernel cache invalidation state (null with the stock binding), for tests and status. */
    get kernelCache() {
        return this.#kernelCache;
    }
    mount() {
        return new Promise((resolve, reject) => this.#fuse.mount((err) => {
            if (err)
                return reject(err);
            this.#mounted = true;
            resolve();
        }));
    }
    async unmount() {
        if (!this.#mounted)
            return;
        await this.#kernelCache?.close();
        return new Promise((resolve, reject) => this.#fuse.unmount((err) => {
            if (err)
                return reject(err);
            this.#mounted = false;
            resolve();
        }));
    }
    /** The handle number with the kernel caching flags the patched binding reads (see the top). */
    #withCacheMode(fh) {
        if (!OPEN_FLAGS || fh >= FH_FLAG_KEEP_CACHE)
            return fh;
        const mode = this.#vfs.cacheMode(fh);
        return mode === 'keep' ? fh | FH_FLAG_KEEP_CACHE : mode === 'direct' ? fh | FH_FLAG_DIRECT_IO : fh;
    }
    /** Converts a thrown error to a negative errno, reporting unexpected ones once. */
    #fail(op, path, err) {
        if (!(err instanceof FsError))
            this.#onError(op, path, err);
        else
            this.#onFsError(op, path, err);
        return errno(errnoOf(err));
    }
    #ops() {
        const vfs = this.#vfs;
        const sync = (op, fn) => (path, ...rest) => {
            const cb = rest.pop();
            try {
                const value = fn(path, ...rest);
                cb(0, value);
            }
            catch (err) {
                cb(this.#fail(op, path, err));
            }
        };
        const async_ = (op, fn) => (path, ...rest) => {
            const cb = rest.pop();
            let p;
            try {
                p = fn(path, ...rest);
            }
            catch (err) {
                cb(this.#fail(op, path, err));
                return;
            }
            p.then((value) => cb(0, value), (err) => cb(this.#fail(op, path, err)));
        };
        return {
            init: (cb) => cb(0),
            getattr: sync('getattr', (path) => vfs.getattr(path)),
            fgetattr: (path, _fd, cb) => {
                try {
                    cb(0, vfs.getattr(path));
                }
                catch (err) {
                    cb(this.#fail('fgetattr', path, err));
                }
            },
            access: sync('access', (path) => vfs.access(path)),
            statfs: sync('statfs', () => vfs.statfs()),
            readdir: (path, cb) => {
                try {
                    const { names, stats } = vfs.readdir(path);
                    cb(0, names, stats);
                }
                catch (err) {
                    cb(this.#fail('readdir', path, err));
                }
            },
            open: async_('open', async (path, flags) => this.#withCacheMode(await vfs.open(path, flags))),
            create: async_('create', async (path, mode) => this.#withCacheMode(await vfs.create(path, mode))),
            read: (path, fd, buf, len, pos, cb) => {
                vfs.read(fd, buf.length === len ? buf : buf.subarray(0, len), pos).then((n) => cb(n), (err) => cb(this.#fail('read', path, err)));
            },
            write: (path, fd, buf, len, pos, cb) => {
                vfs.write(fd, buf.length === len ? buf : buf.subarray(0, len), pos).then((n) => cb(n), (err) => cb(this.#fail('write', path, err)));
            },
            flush: (path, fd, cb) => {
                vfs.flush(fd).then(() => cb(0), (err) => cb(this.#fail('flush', path, err)));
            },
            fsync: (path, _datasync, fd, cb) => {
                vfs.fsync(fd).then(() => cb(0), (err) => cb(this.#fail('fsync', path, err)));
            },
            release: (path, fd, cb) => {
                vfs.release(fd).then(() => cb(0), (err) => cb(this.#fail('release', path, err)));
            },
            truncate: async_('truncate', (path, size) => vfs.truncate(path, size)),
            ftruncate: (path, fd, size, cb) => {
                vfs.ftruncate(fd, size).then(() => cb(0), (err) => cb(this.#fail('ftruncate', path, err)));
            },
            unlink: async_('unlink', (path) => vfs.unlink(path)),
            mkdir: async_('mkdir', (path, mode) => vfs.mkdir(path, mode)),
            rmdir: async_('rmdir', (path) => vfs.rmdir(path)),
            rename: async_('rename', (from, to) => vfs.rename(from, to)),
            chmod: async_('chmod', (path, mode) => vfs.chmod(path, mode)),
            utimens: async_('utimens', (path, atime, mtime) => vfs.utimens(path, fromFuseTime(atime), fromFuseTime(mtime))),
            symlink: async_('symlink', (target, path) => vfs.symlink(target, path)),
            readlink: async_('readlink', (path) => vfs.readlink(path)),
            link: sync('link', (from, to) => vfs.link(from, to)),
            mknod: sync('mknod', (path) => vfs.mknod(path)),
            // Ownership is the mounting user's; extended attributes are Loft's own, read-only.
            chown: (_path, ...rest) => rest.pop()(errno('EPERM')),
            setxattr: (_path, ...rest) => rest.pop()(errno('ENOTSUP')),
            removexattr: (_path, ...rest) => rest.pop()(errno('ENOTSUP')),
            getxattr: (path, name, _position, cb) => {
                try {
                    cb(0, vfs.getxattr(path, name));
                }
                catch (err) {
                    cb(this.#fail('getxattr', path, err));
                }
            },
            listxattr: (path, cb) => {
                try {
                    cb(0, vfs.listxattr(path));
                }
                catch (err) {
                    cb(this.#fail('listxattr', path, err));
                }
            },
        };
    }
}
//# sourceMappingURL=fuse-mount.js.map