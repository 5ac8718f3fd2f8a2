/**
 * GroupSync: local changes become durable in batches (issue 17 item 1), as a database's group
 * commit does. close(2) writes a change into the kernel (staging data and metadata, the queued op
 * in the mirror's WAL) and returns; the changes of the last WINDOW_MS (at most MAX_BATCH files)
 * are then made durable together: every staging file's data and metadata fsynced, the staging
 * folder once, and the mirror once (a FULL-sync write, which syncs every earlier transaction of
 * its WAL). fsync(2) and unmount run the batch at once and wait for it.
 *
 * What this keeps: a killed mount (kill -9) loses nothing that close(2) returned for, since all of
 * it is in the kernel's page cache and recovery replays it. A power loss can lose the changes of
 * the last batch that nobody fsynced (a few milliseconds), as on ext4; never an fsynced one.
 *
 * Big files (DEFER_MIN and up) wait longer for their fsync: up to DEFER_MS, the kernel's own
 * write-back age for dirty data (dirty_expire_centisecs, 30 s), and usually their upload commits
 * first and removes the staging, which is then never written to the disk at all: once the server
 * holds the file it is durable there. Otherwise a 1 GiB file was written to the same disk three
 * times at once (staging fsync, the server's copy, the drive's cache) and the commit waited for
 * all of it (issue 17 item 4). A power loss before the upload commits and within DEFER_MS of such
 * a close can cut the file's last writes, as ext4's delayed allocation can; the restart reports it
 * (StagingFile.open, lostBytes). fsync(2) and unmount still make it durable at once.
 */
import type { Timers } from '../../shared/clock.js';
import { nodeFs, type LocalFs } from '../../shared/local-fs.js';
import type { DirtyFile } from './dirty-files.js';

/** How long changes wait for others to share their fsyncs (ms). */
export const WINDOW_MS = 5;
/** Files per batch: a larger group runs at once. */
export const MAX_BATCH = 256;
/** Staging files fsynced at once (libuv's thread pool has 4 threads, shared with every file call). */
const SYNC_LANES = 2;
/** A batch that failed (a full disk, an I/O error) is tried again after this (ms). */
const RETRY_MS = 1000;
/** Staging files at least this large wait up to DEFER_MS for their upload before their fsync. */
export const DEFER_MIN = 64 * 1024 * 1024;
/** How long a big file's closed writes may stay in the page cache only (the kernel's write-back age). */
export const DEFER_MS = 30_000;

export interface GroupSyncOptions {
  timers: Timers;
  /** The folder of the staging files (fsynced once per batch: their renames and new entries). */
  stagingDir: string;
  /** The file system of the staging files (default: the real one). */
  fs?: LocalFs;
  /** Makes the mirror's earlier transactions durable. */
  syncMirror: () => Promise<void> | void;
  /** True while the staging of `d` is still the node's (not uploaded and removed meanwhile). */
  current: (d: DirtyFile) => boolean;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class GroupSync {
  readonly #o: GroupSyncOptions;
  #pending = new Set<DirtyFile>();
  #timer: unknown = null;
  #running: Promise<void> = Promise.resolve();
  /** Big files waiting for their upload (DEFER_MIN), with the timer that syncs them at the latest. */
  readonly #deferred = new Map<DirtyFile, unknown>();
  /** Big files whose wait is over: synced with the next batch. */
  readonly #due = new Set<DirtyFile>();
  /** Batches run so far (for tests and status). */
  batches = 0;

  constructor(options: GroupSyncOptions) {
    this.#o = options;
  }

  /** A change of `d` was written: durable in the next batch. */
  enlist(d: DirtyFile): void {
    this.#pending.add(d);
    if (this.#pending.size >= MAX_BATCH) void this.#run(false).catch(() => {});
    else this.#timer ??= this.#o.timers.setTimeout(() => void this.#run(false).catch(() => {}), WINDOW_MS);
  }

  /**
   * Runs the batch now, big files included, and resolves once everything enlisted before the call
   * is durable (fsync(2), unmount).
   */
  flush(): Promise<void> {
    return this.#run(true);
  }

  /** Big files waiting for their upload before their fsync (for tests and status). */
  get deferred(): number {
    return this.#deferred.size;
  }

  #run(all: boolean): Promise<void> {
    if (this.#timer !== null) this.#o.timers.clearTimeout(this.#timer);
    this.#timer = null;
    const files = this.#pending;
    this.#pending = new Set();
    if (all) {
      for (const [d, timer] of this.#deferred) {
        this.#o.timers.clearTimeout(timer);
        files.add(d);
        this.#due.add(d);
      }
      this.#deferred.clear();
    }
    // One batch at a time, in order: a later fsync(2) waits for an earlier batch still running.
    const run = this.#running.then(() => this.#sync(files, all));
    this.#running = run.catch(() => undefined);
    return run;
  }

  /** A big file waits for its upload, DEFER_MS at most from its first close (never later). */
  #defer(d: DirtyFile): void {
    if (this.#deferred.has(d)) return;
    const timer = this.#o.timers.setTimeout(() => {
      this.#deferred.delete(d);
      if (!this.#o.current(d)) return; // uploaded and removed: never written to the disk
      this.#due.add(d);
      this.enlist(d);
    }, DEFER_MS);
    this.#deferred.set(d, timer);
  }

  async #sync(files: Set<DirtyFile>, all: boolean): Promise<void> {
    if (files.size === 0) return;
    this.batches++;
    const failed: DirtyFile[] = [];
    let error: unknown = null;
    // SYNC_LANES fsyncs at a time, not one per file at once: they would fill the thread pool, and
    // every create, write and close waiting behind them there would wait for the disk too.
    const queue = [...files];
    const lane = async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        if (!this.#o.current(d)) {
          this.#due.delete(d);
          continue;
        }
        if (!all && d.size >= DEFER_MIN && !this.#due.has(d)) {
          this.#defer(d);
          continue;
        }
        try {
          await d.file.sync();
          this.#due.delete(d);
        } catch (err) {
          if (!this.#o.current(d)) continue; // uploaded and removed meanwhile: nothing to keep
          failed.push(d);
          error = err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SYNC_LANES, queue.length) }, lane));
    try {
      await (this.#o.fs ?? nodeFs).fsyncPath(this.#o.stagingDir);
      // After the staging files: an op that the mirror keeps finds its data.
      await this.#o.syncMirror();
    } catch (err) {
      error = err;
      for (const d of files) failed.push(d);
    }
    if (error === null) return;
    // Tried again with the next batch; the caller of an fsync(2) hears of it.
    for (const d of failed) this.#pending.add(d);
    this.#timer ??= this.#o.timers.setTimeout(() => void this.flush().catch(() => {}), RETRY_MS);
    this.#o.log?.('local changes not yet durable; will retry', { error: (error as Error).message });
    throw error;
  }
}
