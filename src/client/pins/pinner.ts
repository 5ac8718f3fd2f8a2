/**
 * Pinner: "available offline". Keeps the set of block hashes that pinned files reference (the cache
 * never evicts them) and hydrates those blocks in the background, at BACKGROUND priority so reads
 * always go first, with progress for `loft status`.
 *
 * The pinned set is recomputed from the mirror whenever pins change or remote changes arrive; a
 * pass of hydration then fetches whatever is missing. One pass runs at a time; a request during a
 * pass schedules exactly one more (bounded: no queue of passes).
 */
import { FsError } from '../../shared/errors.js';
import { formatBytes } from '../../shared/size.js';
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import { BACKGROUND, type Hydrator } from '../hydrate/hydrator.js';
import type { Mirror } from '../mirror/mirror.js';
import { PinnedBlocks } from './pinned-blocks.js';

export interface PinProgress {
  files: number;
  totalBytes: number;
  cachedBytes: number;
  hydrating: boolean;
  /** Last hydration error (e.g. offline), cleared by a successful pass. */
  error: string | null;
}

/** Blocks fetched at once while hydrating pins (reads keep the rest of the fetch slots). */
const PIN_PARALLELISM = 4;

export class Pinner {
  readonly #mirror: Mirror;
  readonly #cache: DiskBlockCache;
  readonly #hydrator: Hydrator;
  readonly #log: (msg: string, fields?: Record<string, unknown>) => void;
  /** The pinned blocks (shared with the cache, which never evicts them). */
  readonly pinned: PinnedBlocks;
  #running: Promise<void> | null = null;
  #again = false;
  #error: string | null = null;
  #closed = false;

  constructor(options: {
    mirror: Mirror;
    cache: DiskBlockCache;
    hydrator: Hydrator;
    /** Made before the cache (which asks it what it must keep); one of its own when absent. */
    pinned?: PinnedBlocks;
    log?: (msg: string, fields?: Record<string, unknown>) => void;
  }) {
    this.pinned = options.pinned ?? new PinnedBlocks(options.mirror);
    this.#mirror = options.mirror;
    this.#cache = options.cache;
    this.#hydrator = options.hydrator;
    this.#log = options.log ?? (() => {});
    this.refresh();
  }

  isPinnedHash = (hash: string): boolean => this.pinned.has(hash);

  /** Bytes of distinct blocks that pinned files need. */
  get pinnedBytes(): number {
    return this.pinned.bytes;
  }

  progress(): PinProgress {
    let cached = 0;
    for (const [hash, size] of this.pinned.hashes) if (this.#cache.has(hash)) cached += size;
    return {
      files: this.pinned.files,
      totalBytes: this.pinnedBytes,
      cachedBytes: cached,
      hydrating: this.#running !== null,
      error: this.#error,
    };
  }

  /** Pins nodes by id; refuses (ENOSPC) when pinned data could not fit under the cache cap. */
  pin(ids: number[]): void {
    const before = this.#mirror.pinnedIds();
    for (const id of ids) this.#mirror.pin(id);
    const needed = this.pinned.compute();
    const cap = this.#cache.usage().capBytes;
    if (needed.bytes > cap) {
      for (const id of ids) if (!before.has(id)) this.#mirror.unpin(id);
      throw new FsError(
        'ENOSPC',
        `pinned files would need ${formatBytes(needed.bytes)} but the cache cap is ${formatBytes(cap)} (raise --cache-size)`,
      );
    }
    this.refresh();
  }

  unpin(ids: number[]): void {
    for (const id of ids) this.#mirror.unpin(id);
    const was = this.#take();
    // Free the space now: unpinned blocks go to the front of the eviction order.
    for (const hash of was.keys()) if (!this.pinned.has(hash)) this.#cache.demote(hash);
  }

  /** Recomputes the pinned set (after pins or the tree changed) and hydrates what is missing. */
  refresh(): void {
    this.#take();
  }

  /** Takes the pinned set as the mirror has it now, hydrates what is missing; returns the old set. */
  #take(): ReadonlyMap<string, number> {
    const was = this.pinned.refresh();
    if (this.pinned.hashes.size > 0) this.#kick();
    return was;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  #kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass().finally(() => {
      this.#running = null;
      if (this.#again && !this.#closed) {
        this.#again = false;
        this.#kick();
      }
    });
  }

  async #pass(): Promise<void> {
    const todo = [...this.pinned.hashes].filter(([hash]) => !this.#cache.has(hash));
    if (todo.length === 0) return;
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !this.#closed) {
        const [hash, size] = todo[next++]!;
        if (!this.pinned.has(hash)) continue; // unpinned meanwhile
        try {
          if (!(await this.#hydrator.ensureCached(hash, size, BACKGROUND))) failed++;
        } catch (err) {
          failed++;
          this.#error = (err as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: PIN_PARALLELISM }, worker));
    if (failed === 0) this.#error = null;
    else this.#log('pin hydration incomplete; will retry', { failed, error: this.#error });
  }
}
