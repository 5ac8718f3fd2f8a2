/**
 * DiskBlockCache: verified copies of downloaded blocks under a HARD byte cap.
 *
 * Layout: `<dir>/blocks/<hh>/<hash>` plus an index (`<dir>/index.db`, SQLite) of size, hits and last
 * access, so that recency survives a restart. Cache files are disposable: no fsync; a torn or
 * corrupted file is detected on read (length + SHA-256) and dropped, and the caller refetches.
 *
 * Cap: space is admitted before a file is written (`put` evicts first, then writes); `usedBytes`
 * counts each block rounded up to the 4 KiB the file system allocates, and never exceeds `capBytes`.
 * When nothing can be evicted (everything left is pinned), `put` declines and the caller serves the
 * block from memory without caching it: a read never pushes the cache past its cap.
 *
 * Eviction (segmented LRU, scan resistant): a block enters the probation segment; a second hit
 * promotes it to the protected segment, which may hold at most PROTECTED_SHARE of the cap. Victims
 * come from probation first (oldest first), so one big sequential scan, whose blocks are each hit
 * once, recycles probation space and cannot flush the working set. Pinned blocks are never evicted;
 * blocks of open files are evicted only when nothing else is left.
 *
 * Concurrency: all index state is touched on the event loop only; `put` reserves space
 * synchronously before its first await, so concurrent puts cannot overshoot the cap together.
 *
 * Files read by others (the FUSE binding answers reads from them, fuse/cached-reads.ts): a block
 * file is offered (`verifiedPath`) only once this process wrote it from verified bytes or read it
 * back and checked its hash, and while nothing is writing it. Removal listeners run before the
 * file is unlinked, so whoever reads it stops first; a file is never rewritten in place while it is
 * indexed (a new put of the same block follows a removal and makes a new file).
 */
import type { Timers } from '../../shared/clock.js';
import { nodeFs, type LocalFs } from '../../shared/local-fs.js';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sha256hex } from '../../shared/hash.js';

/** File-system allocation unit the accounting rounds up to. */
const ALLOC_UNIT = 4096;
/** Largest share of the cap the protected (hit twice or more) segment may keep. */
const PROTECTED_SHARE = 0.75;
/** Access-time updates are written to the index in batches this often (ms). */
const FLUSH_INTERVAL_MS = 5000;
/** System timers that do not keep the process alive (the flush is a cache's bookkeeping). */
const unrefTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Entry {
  hash: string;
  size: number;
  hits: number;
  lastAccess: number;
}

export interface BlockCacheUsage {
  usedBytes: number;
  capBytes: number;
  blocks: number;
  /** Block files still being written. */
  writing: number;
}

export interface DiskBlockCacheOptions {
  dir: string;
  capBytes: number;
  /** Blocks of pinned files: never evicted. */
  isPinned?: (hash: string) => boolean;
  /** Blocks of open files: evicted only when nothing else is left. */
  isHeld?: (hash: string) => boolean;
  now?: () => number;
  /** Timers of the index flush (a simulated clock in tests). */
  timers?: Timers;
  /** Called once per corrupted or truncated cache file found (for logging). */
  onCorrupt?: (hash: string, reason: string) => void;
  /**
   * Share of the disk under `dir` the cache leaves free for local changes (staging, the outbox):
   * below it the cache admits a block only by evicting others (default 0.1, as JuiceFS's
   * --free-space-ratio). The cap still holds; this only makes the cache smaller on a full disk.
   */
  minFreeRatio?: number;
  /** Free bytes of the disk under `dir` and its size (tests replace it). */
  diskSpace?: () => { free: number; total: number };
  /** Writes a block's file (default: node's fs.writeFile; the binding's is one thread-pool job). */
  writeFile?: (file: string, data: Buffer) => Promise<void>;
  /**
   * The file system of the block files (default: the real one; the simulation's is in memory). A
   * mount needs the real one: the FUSE binding reads `verifiedPath()`s from the disk itself.
   */
  fs?: LocalFs;
  /** The index, opened and kept by the caller (not closed here), instead of `<dir>/index.db`. */
  indexDb?: Database.Database;
}

export function allocated(size: number): number {
  return Math.max(ALLOC_UNIT, Math.ceil(size / ALLOC_UNIT) * ALLOC_UNIT);
}

export class DiskBlockCache {
  readonly #dir: string;
  #cap: number;
  readonly #isPinned: (hash: string) => boolean;
  readonly #isHeld: (hash: string) => boolean;
  readonly #now: () => number;
  readonly #onCorrupt: (hash: string, reason: string) => void;
  readonly #db: Database.Database;
  readonly #s;
  /** Insertion order = recency order (oldest first). */
  readonly #probation = new Map<string, Entry>();
  readonly #protected = new Map<string, Entry>();
  /** Blocks of replaced revisions: evicted before anything else, in the order they were demoted. */
  readonly #demoted = new Set<string>();
  #protectedBytes = 0;
  #used = 0;
  readonly #dirty = new Set<string>();
  /** Blocks whose file is being written: get() waits for them instead of reading a partial file. */
  readonly #writing = new Map<string, Promise<void>>();
  /** Blocks whose file this process has written or checked against its hash (see the top). */
  readonly #verified = new Set<string>();
  readonly #removalListeners = new Set<(hash: string) => void>();
  readonly #writeListeners = new Set<(hash: string) => void>();
  /** Shard directories known to exist (see #shard). */
  readonly #shards = new Set<string>();
  #flushTimer: unknown = null;
  readonly #timers: Timers;

  readonly #minFreeRatio: number;
  readonly #diskSpace: () => { free: number; total: number };
  readonly #writeFile: (file: string, data: Buffer) => Promise<void>;
  readonly #fs: LocalFs;
  readonly #ownsDb: boolean;

  constructor(options: DiskBlockCacheOptions) {
    const fs = (this.#fs = options.fs ?? nodeFs);
    this.#dir = options.dir;
    this.#cap = options.capBytes;
    this.#isPinned = options.isPinned ?? (() => false);
    this.#isHeld = options.isHeld ?? (() => false);
    this.#now = options.now ?? Date.now;
    this.#onCorrupt = options.onCorrupt ?? (() => {});
    this.#minFreeRatio = options.minFreeRatio ?? 0.1;
    this.#writeFile = options.writeFile ?? ((file, data) => fs.writeFile(file, data));
    this.#diskSpace = options.diskSpace ?? (() => fs.space(this.#dir));
    // Shard directories are made on their first block (see #shard): a mount starts without 256
    // mkdirs, and the orphan sweep reads only the shards that exist.
    fs.mkdirSync(path.join(this.#dir, 'blocks'), { recursive: true });
    // Temp files were used by earlier versions; remove any left over.
    fs.rmSync(path.join(this.#dir, 'tmp'), { recursive: true, force: true });
    this.#ownsDb = !options.indexDb;
    this.#db = options.indexDb ?? new Database(path.join(this.#dir, 'index.db'));
    // Exclusive: only this process opens it. Set before WAL mode, it keeps the WAL index in heap
    // memory instead of a mmapped -shm file, whose pages fault with SIGBUS (killing the drive)
    // when the disk is full.
    this.#db.pragma('locking_mode = EXCLUSIVE');
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = OFF'); // the index is a cache of the files; losing it loses only recency
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS entries (hash TEXT PRIMARY KEY, size INTEGER NOT NULL, hits INTEGER NOT NULL,
         last_access INTEGER NOT NULL) WITHOUT ROWID`,
    );
    this.#s = {
      all: this.#db.prepare(
        'SELECT hash, size, hits, last_access AS lastAccess FROM entries ORDER BY last_access',
      ),
      upsert: this.#db.prepare(
        `INSERT INTO entries (hash, size, hits, last_access) VALUES (?, ?, ?, ?)
         ON CONFLICT (hash) DO UPDATE SET size = excluded.size, hits = excluded.hits, last_access = excluded.last_access`,
      ),
      delete: this.#db.prepare('DELETE FROM entries WHERE hash = ?'),
    };
    for (const e of this.#s.all.all() as Entry[]) this.#insert(e);
    // Files the index does not know (a crash between rename and index write is impossible since the
    // index is written first, but an index lost by hand is not) would count against no cap: remove.
    this.sweepOrphans();
    // A smaller cap than last time: shrink now.
    this.#evictUntil(0, false);
    this.#timers = options.timers ?? unrefTimers;
    this.#armFlush();
  }

  #armFlush(): void {
    this.#flushTimer = this.#timers.setTimeout(() => {
      this.#flush();
      if (this.#flushTimer !== null) this.#armFlush();
    }, FLUSH_INTERVAL_MS);
  }

  usage(): BlockCacheUsage {
    return {
      usedBytes: this.#used,
      capBytes: this.#cap,
      blocks: this.#probation.size + this.#protected.size,
      writing: this.#writing.size,
    };
  }

  has(hash: string): boolean {
    return this.#probation.has(hash) || this.#protected.has(hash);
  }

  /** Bytes (logical) of the given blocks that are cached. */
  cachedBytes(hashes: Iterable<{ hash: string; size: number }>): number {
    let n = 0;
    for (const b of hashes) if (this.has(b.hash)) n += b.size;
    return n;
  }

  /** Sets a new cap, evicting down to it if needed. */
  setCap(capBytes: number): void {
    this.#cap = capBytes;
    this.#evictUntil(0, true);
  }

  /**
   * The block's verified bytes, or null when absent. A file that is missing, truncated or whose
   * bytes no longer hash to `hash` is dropped (reported via onCorrupt) and null is returned.
   */
  async get(hash: string): Promise<Buffer | null> {
    await this.#writing.get(hash);
    const entry = this.#entry(hash);
    if (!entry) return null;
    let data: Buffer;
    try {
      data = await this.#fs.readFile(this.#path(hash));
    } catch {
      this.#drop(hash, 'missing');
      return null;
    }
    if (data.length !== entry.size) {
      this.#drop(hash, `truncated (${data.length} of ${entry.size} bytes)`);
      return null;
    }
    if (sha256hex(data) !== hash) {
      this.#drop(hash, 'content does not match its hash');
      return null;
    }
    // The file checked is still the indexed one (not removed and put again across the await).
    if (this.#entry(hash) === entry && !this.#writing.has(hash)) this.#verified.add(hash);
    if (this.has(hash)) this.#touch(hash);
    return data;
  }

  /**
   * Admits a verified block. Returns false (and stores nothing) when the cap cannot make room
   * because everything else is pinned, or the block alone is larger than the cap.
   */
  async put(hash: string, data: Buffer): Promise<boolean> {
    if (this.has(hash)) {
      this.#touch(hash);
      return true;
    }
    const entry = this.#reserve(hash, data.length);
    if (!entry) return false;
    // Written in place, without temp file + rename: a torn file (crash mid-write) is caught by the
    // length and hash check in get(), and skipping the rename saves a syscall per block.
    return this.#make(entry, true, (file) => this.#writeFile(file, data));
  }

  /**
   * Admits a block whose bytes are already in a file of this file system by moving that file in: a
   * new file that went to the server as one block, whose staging file becomes its cache file. That
   * is one rename instead of a new file written and the staging file deleted (issue 17: on ext4
   * without a journal every inode freed in the last seconds slows each new one, and a `tar x` freed
   * one per file). `file` must hold exactly the block's `size` bytes and nothing may write it any
   * more. The file is not offered to others (verifiedPath) until a get() has read it back and
   * checked its hash: this process did not write it from bytes it hashed.
   *
   * Null when the cache does not take it (the block is cached already, or there is no room): the
   * file is still the caller's. Otherwise the space is reserved and the entry made before this
   * returns (a get() from then on waits for the move), and the promise resolves true once the file
   * is the cache's (moved, perhaps evicted since), false when the rename failed (still the caller's).
   */
  adopt(hash: string, size: number, file: string): Promise<boolean> | null {
    if (this.has(hash)) {
      this.#touch(hash);
      return null;
    }
    const entry = this.#reserve(hash, size);
    if (!entry) return null;
    return this.#make(entry, false, (to) => this.#fs.rename(file, to));
  }

  /** Room for a new block, made now (evicting others) and indexed; null when there is none. */
  #reserve(hash: string, size: number): Entry | null {
    const need = allocated(size);
    if (!this.#evictUntil(need, true)) return null;
    if (!this.#diskRoomFor(need)) return null;
    // Space is reserved synchronously, before the caller's first await.
    const entry: Entry = { hash, size, hits: 1, lastAccess: this.#now() };
    this.#insert(entry);
    this.#s.upsert.run(hash, entry.size, entry.hits, entry.lastAccess);
    return entry;
  }

  /**
   * Makes the file of a reserved block with `make`: true when it is cached (or was, and has been
   * evicted since); false when `make` failed (the entry is removed). `verified`: the file is made
   * from bytes this process hashed.
   */
  async #make(entry: Entry, verified: boolean, make: (file: string) => Promise<void>): Promise<boolean> {
    const { hash } = entry;
    const file = this.#path(hash);
    this.#shard(hash);
    const write = make(file);
    const done = write.then(
      () => {},
      () => {},
    );
    this.#writing.set(hash, done);
    let ok = true;
    try {
      await write;
    } catch {
      ok = false;
    } finally {
      if (this.#writing.get(hash) === done) this.#writing.delete(hash);
    }
    if (this.#entry(hash) !== entry) {
      // Evicted (or dropped) while the write was under way: its unlink ran before the file existed,
      // so remove the file now unless a newer put of the same block owns it.
      if (!ok) return false;
      if (!this.has(hash)) this.#fs.rmSync(file, { force: true });
      return true; // it was admitted; it has simply been evicted since
    }
    if (!ok) {
      this.#remove(hash);
      return false;
    }
    if (verified && !this.#writing.has(hash)) {
      this.#verified.add(hash);
      for (const fn of this.#writeListeners) fn(hash);
    }
    return true;
  }

  /**
   * The path of a block's file when its bytes are known good in this process (written from
   * verified bytes, or read back and hashed) and no write of it is under way; else null. It stays
   * good until a removal listener hears of the block (see watchRemovals).
   */
  verifiedPath(hash: string): string | null {
    if (!this.#verified.has(hash) || this.#writing.has(hash) || !this.has(hash)) return null;
    return this.#path(hash);
  }

  /** Calls `fn(hash)` before a block's file is unlinked (eviction, corruption, failed write). */
  watchRemovals(fn: (hash: string) => void): () => void {
    this.#removalListeners.add(fn);
    return () => this.#removalListeners.delete(fn);
  }

  /** Calls `fn(hash)` once a put has written a block's file (verifiedPath offers it from then on). */
  watchWrites(fn: (hash: string) => void): () => void {
    this.#writeListeners.add(fn);
    return () => this.#writeListeners.delete(fn);
  }

  /** Counts a read of a cached block made without get() (reads answered by the FUSE binding). */
  touch(hash: string): void {
    if (this.has(hash)) this.#touch(hash);
  }

  /**
   * Whether writing `need` more bytes keeps the disk's reserved free share; if not, the cache's own
   * blocks make the room (as shrink does). False when even that is not enough: the block is not
   * cached (readers are served from memory anyway) rather than taking space from local writes.
   */
  #diskRoomFor(need: number): boolean {
    if (this.#minFreeRatio <= 0) return true;
    let space: { free: number; total: number };
    try {
      space = this.#diskSpace();
    } catch {
      return true; // no statfs: the cap alone rules
    }
    const short = need + space.total * this.#minFreeRatio - space.free;
    return short <= 0 || this.shrink(short) >= short;
  }

  /** Moves a block to the front of the eviction order (its file was replaced remotely). */
  demote(hash: string): void {
    const e = this.#entry(hash);
    if (!e) return;
    // Into probation with no hits, and onto the evict-first list (O(1): replacing a huge file
    // releases tens of thousands of blocks at once). Access time 0 keeps it first after a restart.
    this.#detach(e);
    e.hits = 0;
    e.lastAccess = 0;
    this.#insert(e);
    this.#demoted.add(hash);
    this.#dirty.add(hash);
  }

  /** Deletes a block now. */
  evict(hash: string): void {
    if (this.has(hash)) this.#remove(hash);
  }

  /**
   * Gives disk space back (the disk is full and a local write needs room): evicts unpinned blocks,
   * blocks of open files last, until `bytes` are freed or nothing evictable is left. Returns the bytes freed.
   */
  shrink(bytes: number): number {
    const before = this.#used;
    const target = Math.max(0, before - bytes);
    while (this.#used > target) {
      const victim = this.#victim(false) ?? this.#victim(true);
      if (!victim) break;
      this.#remove(victim.hash);
    }
    return before - this.#used;
  }

  async close(): Promise<void> {
    this.#timers.clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#flush();
    if (this.#db.open && this.#ownsDb) this.#db.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  #path(hash: string): string {
    return path.join(this.#dir, 'blocks', hash.slice(0, 2), hash);
  }

  /** Makes the shard directory of `hash` once per process (at most 256 mkdirs in all). */
  #shard(hash: string): void {
    const shard = hash.slice(0, 2);
    if (this.#shards.has(shard)) return;
    try {
      this.#fs.mkdirSync(path.join(this.#dir, 'blocks', shard), { recursive: true });
      this.#shards.add(shard);
    } catch {
      // A full disk: the write that follows fails and is handled as a failed write.
    }
  }

  #entry(hash: string): Entry | undefined {
    return this.#probation.get(hash) ?? this.#protected.get(hash);
  }

  #insert(e: Entry): void {
    if (e.hits >= 2) {
      this.#protected.set(e.hash, e);
      this.#protectedBytes += allocated(e.size);
    } else {
      this.#probation.set(e.hash, e);
    }
    this.#used += allocated(e.size);
  }

  #detach(e: Entry): void {
    this.#demoted.delete(e.hash);
    if (this.#protected.delete(e.hash)) this.#protectedBytes -= allocated(e.size);
    else this.#probation.delete(e.hash);
    this.#used -= allocated(e.size);
  }

  #touch(hash: string): void {
    const e = this.#entry(hash)!;
    this.#detach(e);
    e.hits++;
    e.lastAccess = this.#now();
    this.#insert(e);
    this.#dirty.add(hash);
    // Keep the protected segment within its share: demote its oldest entries to probation.
    const limit = this.#cap * PROTECTED_SHARE;
    for (const old of this.#protected.values()) {
      if (this.#protectedBytes <= limit) break;
      this.#protected.delete(old.hash);
      this.#protectedBytes -= allocated(old.size);
      old.hits = 1;
      this.#probation.set(old.hash, old);
      this.#dirty.add(old.hash);
    }
  }

  /**
   * Evicts until `need` more bytes fit under the cap. Returns false when that is impossible
   * (then nothing more is evicted than could help).
   */
  #evictUntil(need: number, allowHeld: boolean): boolean {
    if (need > this.#cap) return false;
    while (this.#used + need > this.#cap) {
      const victim = this.#victim(false) ?? (allowHeld ? this.#victim(true) : undefined);
      if (!victim) return false;
      this.#remove(victim.hash);
    }
    return true;
  }

  #victim(allowHeld: boolean): Entry | undefined {
    for (const seg of [this.#demoted, this.#probation, this.#protected]) {
      for (const v of seg.values()) {
        const e = typeof v === 'string' ? this.#entry(v) : v;
        if (!e) continue;
        if (this.#isPinned(e.hash)) continue;
        if (!allowHeld && this.#isHeld(e.hash)) continue;
        return e;
      }
    }
    return undefined;
  }

  #remove(hash: string): void {
    const e = this.#entry(hash);
    if (!e) return;
    // Readers of the file stop first (see the top).
    this.#verified.delete(hash);
    for (const fn of this.#removalListeners) fn(hash);
    this.#detach(e);
    this.#dirty.delete(hash);
    // Unlinking is synchronous so that the space is really free before the caller writes. The file
    // goes first: on a full disk the index update itself may need the space (SQLITE_FULL); then it
    // is retried at the next flush, and a stale index row only names a missing file (a miss).
    this.#fs.rmSync(this.#path(hash), { force: true });
    try {
      this.#s.delete.run(hash);
    } catch {
      this.#staleRows.add(hash);
    }
  }

  /** Index rows whose delete failed (full disk); deleted at the next flush. */
  readonly #staleRows = new Set<string>();

  #drop(hash: string, reason: string): void {
    this.#onCorrupt(hash, reason);
    this.#remove(hash);
  }

  #flush(): void {
    if ((!this.#dirty.size && !this.#staleRows.size) || !this.#db.open) return;
    try {
      this.#db.transaction(() => {
        for (const hash of this.#staleRows) if (!this.#entry(hash)) this.#s.delete.run(hash);
        for (const hash of this.#dirty) {
          const e = this.#entry(hash);
          if (e) this.#s.upsert.run(hash, e.size, e.hits, e.lastAccess);
        }
      })();
    } catch {
      return; // full disk: the index is brought up to date at the next flush
    }
    this.#staleRows.clear();
    this.#dirty.clear();
  }

  /** Files in the block directory that the index does not know (after an index loss); removed. */
  sweepOrphans(): number {
    let removed = 0;
    const root = path.join(this.#dir, 'blocks');
    for (const shard of this.#fs.readdirTypesSync(root)) {
      const dir = path.join(root, shard.name);
      if (!shard.isDirectory()) {
        this.#fs.rmSync(dir, { recursive: true, force: true });
        removed++;
        continue;
      }
      for (const name of this.#fs.readdirSync(dir)) {
        if (!this.has(name)) {
          this.#fs.rmSync(path.join(dir, name), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
