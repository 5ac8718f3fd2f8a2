/**
 * CachedSpans: what of an open handle's file a verified disk-cache file holds, for reads answered
 * outside the Vfs (the libfuse 3 binding serves them from the cache files: fuse/cached-reads.ts),
 * and what a read would download (the hydration firewall). The Vfs tells the watcher
 * (Vfs.watchCachedSpans) before any change that makes a span untrue.
 */
import type { DiskBlockCache } from '../cache/disk-block-cache.js';
import { findExtent } from '../hydrate/hydrator.js';
import type { DirtyFiles } from './dirty-files.js';
import type { HandleTable } from './handle-table.js';

/**
 * Bytes [start, end) of an open handle's file held by a verified cache file (`path`, from
 * `fileOff`): what a FUSE binding may answer reads of without asking the Vfs (cachedSpans).
 */
export interface CachedSpan {
  start: number;
  end: number;
  hash: string;
  path: string;
  fileOff: number;
}

/**
 * What makes cached spans untrue, called synchronously before the change takes effect: a handle's
 * bytes (`handle`), every handle of a file (`node`: a local write or truncate, a commit, a new
 * remote revision), a block file about to be removed (`block`). And what may make new ones true:
 * a block's verified file has just been written to the cache (`written`).
 */
export interface CachedSpanWatcher {
  handle(fh: number): void;
  node(id: number): void;
  block(hash: string): void;
  written?(hash: string): void;
}

export class CachedSpans {
  constructor(
    private readonly handles: Pick<HandleTable, 'find' | 'extents' | 'extentsIn'>,
    private readonly dirty: Pick<DirtyFiles, 'get'>,
    private readonly cache: Pick<DiskBlockCache, 'verifiedPath' | 'has' | 'touch'>,
  ) {}

  /**
   * The spans of open handle `fh` from the block holding `offset` up to `offset + ahead` whose bytes
   * a verified cache file holds, and the handle's file size; null when the handle reads through a
   * staging (local changes) or is gone. Loads the handle's block list (its snapshot) if its first
   * read did not. They stay true until the watcher (Vfs.watchCachedSpans) hears otherwise.
   */
  cachedSpans(fh: number, offset: number, ahead: number): { size: number; spans: CachedSpan[] } | null {
    const h = this.handles.find(fh);
    if (!h || h.dirty || this.dirty.get(h.id)) return null;
    const spans: CachedSpan[] = [];
    const extents = this.handles.extents(h);
    if (!extents.length || offset >= h.size) return { size: h.size, spans };
    const stop = offset + ahead;
    for (let i = findExtent(extents, offset); i < extents.length && extents[i]!.offset < stop; i++) {
      const e = extents[i]!;
      const file = this.cache.verifiedPath(e.hash);
      if (file && e.size > 0)
        spans.push({ start: e.offset, end: e.offset + e.size, hash: e.hash, path: file, fileOff: 0 });
    }
    return { size: h.size, spans };
  }

  /**
   * Bytes of blocks a read of [offset, offset + length) of open handle `fh` would download (blocks
   * the disk cache lacks); 0 for a handle that reads local changes. For the hydration firewall.
   */
  uncachedBytes(fh: number, offset: number, length: number): number {
    const h = this.handles.find(fh);
    if (!h || h.dirty || this.dirty.get(h.id)) return 0;
    const end = Math.min(offset + length, h.size);
    if (offset >= end) return 0;
    const extents = this.handles.extentsIn(h, offset, end);
    let n = 0;
    for (let i = findExtent(extents, offset); i < extents.length && extents[i]!.offset < end; i++) {
      const e = extents[i]!;
      if (!this.cache.has(e.hash)) n += e.size;
    }
    return n;
  }

  /** Reads answered from cache files outside the Vfs, per block: the cache counts them (LRU). */
  read(hashes: readonly string[]): void {
    for (const hash of hashes) this.cache.touch(hash);
  }
}
