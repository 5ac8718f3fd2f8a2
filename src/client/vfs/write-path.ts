/**
 * WritePath: how local writes become durable local changes. A file written here gets a staging file
 * (DirtyFile, made once per node even when opens race: single-flight) recorded on its node before
 * anything awaits, so a remote change arriving meanwhile sees a local change and is skipped (the
 * edit wins). close(2) and fsync(2) are commit points: the staging is written and the commit queued,
 * made durable with the other changes of the same few milliseconds (GroupSync); fsync(2) waits for
 * that. A full disk makes the cache give space back once, then ENOSPC.
 */
import { systemTimers, type Timers } from '../../shared/clock.js';
import { FsError, isDiskFull } from '../../shared/errors.js';
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import type { Hydrator } from '../hydrate/hydrator.js';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import type { DirtyFile, DirtyFiles } from './dirty-files.js';
import { GroupSync } from './group-sync.js';

/** Space the cache gives back when a local write finds the disk full. */
const SPACE_GIVEN_BACK = 64 * 1024 * 1024;

export interface WritePathOptions {
  mirror: Mirror;
  dirty: DirtyFiles;
  hydrator: Hydrator;
  cache: DiskBlockCache;
  now: () => number;
  /** A change was queued (the push loop wakes up). */
  onQueued: () => void;
  /** The group commit's timers (system ones, not keeping the process alive, by default). */
  timers?: Timers;
}

/** System timers that do not keep the process alive (a batch due at exit is run by close). */
const unrefTimers: Timers = {
  ...systemTimers,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
};

export class WritePath {
  readonly #mirror: Mirror;
  readonly #dirty: DirtyFiles;
  readonly #hydrator: Hydrator;
  readonly #cache: DiskBlockCache;
  readonly #now: () => number;
  readonly #onQueued: () => void;
  readonly #group: GroupSync;

  constructor(o: WritePathOptions) {
    this.#group = new GroupSync({
      timers: o.timers ?? unrefTimers,
      stagingDir: o.dirty.dir,
      fs: o.dirty.fs,
      syncMirror: () => o.mirror.syncDurable(),
      current: (d) => o.dirty.get(d.id) === d && !d.orphaned,
    });
    this.#mirror = o.mirror;
    this.#dirty = o.dirty;
    this.#hydrator = o.hydrator;
    this.#cache = o.cache;
    this.#now = o.now;
    this.#onQueued = o.onQueued;
  }

  /** The node's DirtyFile, made (and recorded on the node) when it has none; single-flight per node. */
  dirtyOf(node: MirrorNode): Promise<DirtyFile> {
    const have = this.#dirty.get(node.id);
    if (have) return Promise.resolve(have);
    let p = this.#making.get(node.id);
    if (!p) {
      p = this.#makeDirty(node).finally(() => this.#making.delete(node.id));
      this.#making.set(node.id, p);
    }
    return p;
  }

  readonly #making = new Map<number, Promise<DirtyFile>>();

  async #makeDirty(node: MirrorNode): Promise<DirtyFile> {
    if (node.staging) {
      const again = await this.#dirty.reopen(
        node.id,
        node.staging,
        node.mtime,
        node.serverId === null,
        node.size,
      );
      if (again) return again;
    }
    // The staging is recorded on the node before anything awaits: from then on the node holds a
    // local change, so a remote delete or move applied meanwhile is skipped (the edit wins) instead
    // of removing the node under the change this staging is made for.
    if (!this.#mirror.node(node.id)) throw new FsError('ENOENT', `${node.name} was removed`);
    const name = this.#dirty.newName(node.size === 0);
    this.#mirror.updateLocal(node.id, { staging: name });
    try {
      return await this.#dirty.create(node.id, node.size, node.mtime, name);
    } catch (err) {
      if (this.#mirror.node(node.id)?.staging === name) this.#mirror.updateLocal(node.id, { staging: null });
      throw err;
    }
  }

  async truncate(d: DirtyFile, size: number): Promise<void> {
    // Marked changed before the await: a commit recorded meanwhile must not count the file clean
    // (and drop its staging under this truncate).
    d.gen++;
    d.modified = true;
    await this.spaceRetry(() => d.file.truncate(size));
    d.size = size;
    d.mtime = d.ctime = this.#now();
    d.gen++;
  }

  /**
   * truncate(2) by path, then a commit point, even while a handle still writes the file: the call
   * has returned, so a crash must not lose it (seed 404273: a truncate beside a held writer, then a
   * kill -9, came back at the size of the last close). The push still waits for the writer's close
   * before it uploads (PushLoop #commit).
   */
  async truncateByPath(d: DirtyFile, size: number): Promise<void> {
    // Held as a writer meanwhile: the push neither commits nor drops the staging under it.
    d.refs++;
    d.writers++;
    try {
      await this.truncate(d, size);
    } finally {
      d.refs--;
      d.writers--;
    }
    if (d.orphaned) {
      if (d.refs === 0) await this.#dirty.closeOrphan(d);
      return;
    }
    await this.commitPoint(d);
  }

  /**
   * Drops a staging made here that nothing wrote, holds or queued, and clears it from the node.
   * `committed`: written, but every write is committed (the last close of a file the kernel wrote
   * itself, whose staging the push kept while the kernel held it: vfs/external-writes.ts).
   */
  async dropIfUnused(d: DirtyFile, committed = false): Promise<void> {
    if (d.refs || d.writers || (d.gen && !committed) || d.modified || d.reopened) return;
    if (this.#dirty.get(d.id) !== d) return;
    if (this.#mirror.hasOps(d.id)) return;
    if (this.#mirror.node(d.id)?.staging === d.name) this.#mirror.updateLocal(d.id, { staging: null });
    await this.#dirty.drop(d.id);
  }

  /**
   * Records a dirty file's change and queues its commit (close, fsync, truncate by path); durable
   * with the next group (see durable()).
   */
  async commitPoint(d: DirtyFile): Promise<void> {
    const path = this.#mirror.pathOf(d.id);
    if (path === null) return;
    await this.spaceRetry(() => d.file.persist());
    d.modified = false;
    const now = this.#now();
    const mode = d.mode; // set while it was written (vfs/attributes.ts)
    await this.spaceRetry(() =>
      this.#mirror.queueCommit(d.id, path, {
        size: d.size,
        mtime: d.mtime,
        ctime: now,
        staging: d.name,
        ...(mode === undefined ? {} : { mode }),
      }),
    );
    if (d.mode === mode) d.mode = undefined; // the node's now
    this.#group.enlist(d);
    this.#onQueued();
  }

  /** Resolves once every change recorded so far is durable (fsync(2), unmount). */
  durable(): Promise<void> {
    return this.#group.flush();
  }

  /** Reads the committed revision under a dirty file (the staging's base). */
  baseReader(id: number) {
    return {
      read: (offset: number, out: Buffer) => {
        const node = this.#mirror.node(id);
        const extents = this.#mirror.blocks(id);
        const size = extents.reduce((n, e) => n + e.size, 0);
        return node ? this.#hydrator.read(extents, size, offset, out) : Promise.resolve(0);
      },
    };
  }

  /** A full disk: the cache gives space back, then the write is tried once more; else ENOSPC. */
  async spaceRetry<T>(fn: () => Promise<T> | T, lastResort?: () => Promise<number>): Promise<T> {
    const freers: (() => number | Promise<number>)[] = [() => this.#cache.shrink(SPACE_GIVEN_BACK)];
    if (lastResort) freers.push(lastResort);
    let next = 0; // each way of freeing space is tried once, cheapest first
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        // A staging file past its file system's limit: the writer gets EFBIG, not EIO.
        if ((err as { code?: unknown } | null)?.code === 'EFBIG')
          throw new FsError('EFBIG', 'file too large', { cause: err });
        if (!isDiskFull(err)) throw err;
        let freed = 0;
        while (freed === 0 && next < freers.length) freed = await freers[next++]!();
        if (freed === 0) throw new FsError('ENOSPC', 'no space left for local changes', { cause: err });
      }
    }
  }

  /**
   * Reopens the staging files the mirror records and queues their commits (after a restart).
   * Returns how many, and the files whose last writes a crash kept from the disk (StagingFile.open).
   */
  async recover(): Promise<{ queued: number; lost: { path: string; bytes: number }[] }> {
    let n = 0;
    const lost: { path: string; bytes: number }[] = [];
    const recorded = new Set<string>();
    for (const node of this.#mirror.stagedNodes()) {
      recorded.add(node.staging!);
      const d = await this.#dirty.reopen(
        node.id,
        node.staging!,
        node.mtime,
        node.serverId === null,
        node.size,
      );
      const path = this.#mirror.pathOf(node.id);
      if (!d || path === null) {
        this.#mirror.updateLocal(node.id, { staging: null });
        continue;
      }
      if (d.file.lostBytes) lost.push({ path, bytes: d.file.lostBytes });
      this.#mirror.queueCommit(node.id, path, { size: d.file.size });
      n++;
    }
    this.#dirty.sweep(recorded);
    if (n) this.#onQueued();
    return { queued: n, lost };
  }
}
