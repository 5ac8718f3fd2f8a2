/**
 * KernelCache: makes the kernel forget what it cached about the paths a remote change touched, so
 * the mount can let it keep names and attributes for long (fuse-mount.ts ATTR_TIMEOUT_S) and a
 * repeat `ls -l` is answered by the kernel alone, while a change made on another device still shows
 * at once.
 *
 * For each path P, as it was before the change and as it is after (the mirror reports both, see
 * MirrorWatcher.remotePath), the kernel's entry basename(P) in directory dirname(P) is dropped
 * (fuse_lowlevel_notify_inval_entry, through native/fuse-native loft_notify_inval):
 * - the next lookup of P asks the drive again, and the kernel refreshes an inode it still holds from
 *   that answer (new size and mtime), or learns that P is gone;
 * - a dropped directory entry takes everything cached below it (a folder moved or deleted
 *   elsewhere);
 * - the directory's own attributes are dropped too (its mtime and link count changed).
 * A directory's node id is its st_ino (libfuse reports its node ids as inode numbers), found with
 * lstat through the mount; the root is 1. An lstat may cost one lookup round trip; names the kernel
 * has not cached answer ENOENT, which is fine.
 *
 * Not covered: fstat on a descriptor opened before the change keeps the old attributes until the
 * attribute timeout (that handle also keeps reading the old revision, see Vfs.cacheMode).
 *
 * Concurrency: `invalidate` only records the path (the mirror calls it inside its transactions);
 * a flush starts on the next turn of the event loop and keeps at most FLUSH_PARALLEL lstats or
 * notifications in flight (see there why one); one flush runs at a time, paths recorded meanwhile wait for the next one. The queue is
 * bounded (MAX_PENDING paths, policy: drop the newest, counted in `dropped`): a dropped path shows
 * its change when the kernel's timeouts expire, as without invalidation. `close()` stops recording
 * and awaits the running flush; the native side refuses notifications once the channel is gone.
 */
import path from 'node:path';

/** The kernel's node id of the mount's root directory (FUSE_ROOT_ID). */
const ROOT_INO = 1;
/**
 * Pool threads this may occupy at once (an lstat, or a notification written to /dev/fuse). One: an
 * lstat or a notification can wait in the kernel for a directory lock held by a request this
 * process is answering (a rename); if that answer awaited the libuv pool (4 threads) while every
 * thread waited on the lock, nothing would move. One thread leaves the rest free.
 */
const FLUSH_PARALLEL = 1;
/** Paths waiting for a flush; past this a remote batch is shown by the timeouts instead. */
const MAX_PENDING = 100_000;

export interface KernelCacheOptions {
  /** Asks the kernel to drop entry `name` of directory node `ino`; resolves 0 or a negative errno. */
  notifyEntry: (ino: number, name: string) => Promise<number>;
  /** The kernel's node id for a path of the mount (st_ino), or null when the kernel finds none. */
  nodeId: (path: string) => Promise<number | null>;
  /** Called for an unexpected failure (not ENOENT, not "unmounted"). */
  onError?: (path: string, err: unknown) => void;
}

const ENOENT = -2;
const ENOTCONN = -107;

export class KernelCache {
  readonly #o: KernelCacheOptions;
  #pending = new Set<string>();
  #flushing: Promise<void> | null = null;
  #scheduled = false;
  #closed = false;
  /** Paths not invalidated because the queue was full. */
  dropped = 0;
  /** Entries the kernel dropped (it had them cached). */
  invalidated = 0;

  constructor(options: KernelCacheOptions) {
    this.#o = options;
  }

  /** Records a path ("/a/b") whose kernel entry must go; never throws, never waits. */
  invalidate(p: string): void {
    if (this.#closed || p === '/' || !p.startsWith('/')) return;
    if (this.#pending.size >= MAX_PENDING && !this.#pending.has(p)) {
      this.dropped++;
      return;
    }
    this.#pending.add(p);
    this.#schedule();
  }

  /** Resolves when every path recorded so far has been sent to the kernel. */
  async settled(): Promise<void> {
    while (this.#flushing || this.#pending.size) {
      if (!this.#flushing) this.#flushing = this.#flush();
      await this.#flushing;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.clear();
    await this.#flushing;
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#flushing && this.#pending.size && !this.#closed) this.#flushing = this.#flush();
    });
  }

  async #flush(): Promise<void> {
    try {
      const paths = [...this.#pending];
      this.#pending = new Set();
      // One lstat per directory, however many of its entries changed.
      const dirs = new Map<string, Promise<number | null>>();
      const dirIno = (dir: string) => {
        let ino = dirs.get(dir);
        if (!ino) {
          ino = dir === '/' ? Promise.resolve(ROOT_INO) : this.#o.nodeId(dir).catch(() => null);
          dirs.set(dir, ino);
        }
        return ino;
      };
      let next = 0;
      const worker = async () => {
        for (let i; (i = next++) < paths.length && !this.#closed;) {
          const p = paths[i]!;
          try {
            const ino = await dirIno(path.posix.dirname(p));
            if (ino === null) continue; // the directory is not there either: nothing cached below it
            const res = await this.#o.notifyEntry(ino, path.posix.basename(p));
            if (res === 0) this.invalidated++;
            else if (res !== ENOENT && res !== ENOTCONN) this.#o.onError?.(p, new Error(`errno ${res}`));
          } catch (err) {
            this.#o.onError?.(p, err);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(FLUSH_PARALLEL, paths.length) }, worker));
    } finally {
      this.#flushing = null;
      if (this.#pending.size && !this.#closed) this.#schedule();
    }
  }
}
