/**
 * The blocks that pinned files reference (hash → size), computed from the mirror. The cache asks it
 * which blocks it must never evict, from its first shrink at start on: it is made before the cache
 * and the Pinner that hydrates those blocks.
 */
import { allocated } from '../cache/disk-block-cache.js';
import type { Mirror } from '../mirror/mirror.js';

export interface PinnedSet {
  hashes: Map<string, number>;
  files: number;
  /** What the cache will charge for them: sizes rounded up to its allocation unit. */
  bytes: number;
}

export class PinnedBlocks {
  readonly #mirror: Mirror;
  #set: PinnedSet;

  constructor(mirror: Mirror) {
    this.#mirror = mirror;
    this.#set = this.compute();
  }

  /** True when a pinned file references the block. */
  has = (hash: string): boolean => this.#set.hashes.has(hash);

  get files(): number {
    return this.#set.files;
  }

  get hashes(): ReadonlyMap<string, number> {
    return this.#set.hashes;
  }

  /** Bytes of distinct blocks that pinned files need. */
  get bytes(): number {
    let n = 0;
    for (const size of this.#set.hashes.values()) n += size;
    return n;
  }

  /** The set as the mirror's pins make it now (not taken: see refresh). */
  compute(): PinnedSet {
    const hashes = new Map<string, number>();
    // Recomputed after every applied page: with no pin, no recursive query.
    const files = this.#mirror.hasPins() ? this.#mirror.pinnedFiles() : [];
    for (const f of files) for (const b of this.#mirror.blocks(f.id)) hashes.set(b.hash, b.size);
    let bytes = 0;
    for (const s of hashes.values()) bytes += allocated(s);
    return { hashes, files: files.length, bytes };
  }

  /** Takes the set as it is now; returns the one it replaced. */
  refresh(): ReadonlyMap<string, number> {
    const was = this.#set.hashes;
    this.#set = this.compute();
    return was;
  }
}
