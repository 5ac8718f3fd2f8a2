/**
 * HandleTable: the Vfs's open files. Each handle snapshots its file's revision: its block list
 * (loaded on the first read, or handed over by the mirror just before the list changes), its size
 * and revision, and, for a file with local changes, a reference on its staging (DirtyFile).
 *
 * It also keeps what depends on the set of open handles: which blocks open files hold (the disk
 * cache evicts them last), and per file the revision whose pages the kernel may cache, which
 * decides how each new handle treats the kernel's page cache (cacheMode).
 *
 * Bounded: at most MAX_HANDLES open at once (EIO past it, as a local file system answers ENFILE).
 */
import { FsError } from '../../shared/errors.js';
import { newReadState, type ReadState } from '../hydrate/hydrator.js';
import type { BlockExtent, MirrorNode } from '../mirror/mirror.js';
import type { DirtyFile } from './dirty-files.js';

export interface Handle {
  /** The node's local key. */
  id: number;
  write: boolean;
  /**
   * Snapshot of a clean file's block list: a reader keeps the bytes it opened. Null until the first
   * read needs it; the mirror hands it over before it changes (blocksChanging).
   */
  extents: BlockExtent[] | null;
  size: number;
  state: ReadState;
  /** The staging this handle holds a reference on (dirty files). */
  dirty: DirtyFile | null;
  /** The revision whose content this handle sees (for dirty files: the base of the local changes). */
  ver: number;
  /**
   * While `extents` is null: the blocks of one byte range [from, to) found for it (extentsIn), so
   * the hydration firewall's look at a read and the read itself cost one query, not two.
   */
  probe: { from: number; to: number; extents: BlockExtent[] } | null;
  /** The kernel reads and writes this handle's staging file itself (fuse/passthrough.ts). */
  passthrough?: boolean;
}

/** How the kernel may cache the pages of a handle just opened (see HandleTable.cacheMode). */
export type CacheMode = 'keep' | 'drop' | 'direct';

/** Largest handle number (the FUSE glue uses the bits above for cache flags). */
const MAX_FH = 2 ** 29 - 1;
/** Most files one process can hold open in the drive (bounded handle table). */
const MAX_HANDLES = 65_536;

/** What the table reads of the mirror: a file's committed block list, whole or over a range. */
export interface BlockLists {
  blocks(id: number): BlockExtent[];
  blocksIn(id: number, from: number, to: number): BlockExtent[];
}

export class HandleTable {
  readonly #blocks: BlockLists;
  readonly #handles = new Map<number, Handle>();
  /** Block hash → number of open handles whose snapshot references it. */
  readonly #held = new Map<string, number>();
  /** Node key → open handles whose block list is not loaded yet. */
  readonly #unloaded = new Map<number, number>();
  /** Per file: the revision whose pages the kernel may hold (set when an open let it cache). */
  readonly #kernelVer = new Map<number, number>();
  #nextFh = 1;

  /** `blocks`: a file's committed block list (the mirror). */
  constructor(blocks: BlockLists) {
    this.#blocks = blocks;
  }

  get size(): number {
    return this.#handles.size;
  }

  /** True when an open file's snapshot references the block. */
  isHeld(hash: string): boolean {
    return this.#held.has(hash);
  }

  /** Throws EIO when no handle can be opened (checked before an open does any work). */
  checkRoom(): void {
    if (this.#handles.size >= MAX_HANDLES) throw new FsError('EIO', 'too many open files in the drive');
  }

  add(node: MirrorNode, write: boolean, dirty: DirtyFile | null): number {
    this.checkRoom();
    // Handle numbers stay below 2^29 (the FUSE glue carries cache flags above) and are not reused
    // while open.
    let fh = this.#nextFh;
    while (this.#handles.has(fh)) fh = (fh % MAX_FH) + 1;
    this.#nextFh = (fh % MAX_FH) + 1;
    this.#handles.set(fh, {
      id: node.id,
      write,
      extents: dirty ? [] : null,
      size: node.size,
      state: newReadState(),
      dirty,
      ver: node.rev,
      probe: null,
    });
    if (!dirty) this.#unloaded.set(node.id, (this.#unloaded.get(node.id) ?? 0) + 1);
    if (dirty) {
      dirty.refs++;
      if (write) dirty.writers++;
    }
    return fh;
  }

  /** The open handle `fh`; EBADF when there is none. */
  get(fh: number): Handle {
    const h = this.#handles.get(fh);
    if (!h) throw new FsError('EBADF', `no open file ${fh}`);
    return h;
  }

  find(fh: number): Handle | undefined {
    return this.#handles.get(fh);
  }

  /** Closes a handle: its holds on blocks go. Returns it (undefined if it was not open). */
  remove(fh: number): Handle | undefined {
    const h = this.#handles.get(fh);
    if (!h) return undefined;
    this.#handles.delete(fh);
    this.#setExtents(h, []);
    return h;
  }

  /** The handle's block list, loaded from the mirror on first use (the file's revision at open). */
  extents(h: Handle): BlockExtent[] {
    if (!h.extents) this.#setExtents(h, this.#blocks.blocks(h.id));
    return h.extents!;
  }

  /**
   * The blocks of the handle's file over [from, to): its snapshot once loaded, else the mirror's
   * blocks over the range (still the revision it opened: the mirror hands the whole list to the
   * handle before changing it, blocksChanging). A handle's first read takes just these: a 20 GB
   * file has 20,000 blocks. The last range asked for is remembered (probe).
   */
  extentsIn(h: Handle, from: number, to: number): BlockExtent[] {
    if (h.extents) return h.extents;
    const end = Math.min(to, h.size);
    const p = h.probe;
    if (p && p.from <= from && end <= p.to) return p.extents;
    const extents = this.#blocks.blocksIn(h.id, from, end);
    h.probe = { from, to: end, extents };
    return extents;
  }

  /** The mirror is about to change or drop a file's block list: readers that had none take it now. */
  blocksChanging(id: number): void {
    if (!this.#unloaded.has(id)) return;
    for (const h of this.#handles.values()) if (h.id === id && !h.extents) this.extents(h);
  }

  /** After a commit of this device: the file's handles see the new revision (its `blocks`). */
  committed(id: number, rev: number, size: number, blocks: BlockExtent[]): void {
    // The committed content is what the kernel saw written here: its cached pages stay valid.
    const base = this.#kernelVer.get(id);
    if (base !== undefined) this.#kernelVer.set(id, rev);
    for (const h of this.#handles.values()) {
      if (h.id !== id) continue;
      this.#setExtents(h, blocks);
      h.size = size;
      if (h.ver === base || h.dirty) h.ver = rev;
    }
  }

  /**
   * How the kernel should treat its page cache for a handle just opened. One page cache serves all
   * handles of a file, so: while another handle still reads an older revision (opened before a
   * change from another device), the new handle bypasses the cache ('direct') and the old one
   * keeps its pages; otherwise the cache is kept when it holds this revision ('keep') and dropped
   * when it may hold another one ('drop'). Local writes go through the cache, so they never make it
   * stale; a local commit keeps it (see committed).
   */
  cacheMode(fh: number): CacheMode {
    const h = this.#handles.get(fh);
    if (!h) return 'drop';
    for (const o of this.#handles.values()) if (o !== h && o.id === h.id && o.ver !== h.ver) return 'direct';
    if (this.#kernelVer.get(h.id) === h.ver) return 'keep';
    this.#kernelVer.set(h.id, h.ver);
    return 'drop';
  }

  /** Sets a handle's block list, moving its holds on blocks (open files' blocks are evicted last). */
  #setExtents(h: Handle, extents: BlockExtent[]): void {
    if (h.extents) {
      for (const e of h.extents) {
        const n = (this.#held.get(e.hash) ?? 1) - 1;
        if (n <= 0) this.#held.delete(e.hash);
        else this.#held.set(e.hash, n);
      }
    } else {
      const n = (this.#unloaded.get(h.id) ?? 1) - 1;
      if (n <= 0) this.#unloaded.delete(h.id);
      else this.#unloaded.set(h.id, n);
    }
    h.extents = extents;
    h.probe = null;
    for (const e of extents) this.#held.set(e.hash, (this.#held.get(e.hash) ?? 0) + 1);
  }
}
