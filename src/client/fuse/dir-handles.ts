/**
 * Directory handles of the low-level mount: a readdir at offset 0 (or after rewinddir) takes the
 * folder's listing, packed as the binding wants it; the later offsets of the same handle index into
 * that listing, so entries neither repeat nor go missing while the folder changes.
 *
 * The kernel's readdir cache. Every opendir asks the kernel to cache the listing it reads
 * (FOPEN_CACHE_DIR: it fills the folder's page cache from a stream of readdirs that starts at
 * offset 0); whether it may keep what it cached through an earlier handle (keep_cache) is decided
 * here at each opendir, per folder node, from what this process served it (`#filled`). It may when
 * - every listing served from offset 0 since the kernel last dropped its cache had the same stamp
 *   (Vfs.listingStamp: the folder and its listing version), which is the folder's stamp now: so the
 *   kernel holds exactly the names and types the folder has (a listing of one stamp is the same
 *   listing, whichever handle the kernel filled its cache from); and
 * - that listing is younger than `keepMs` (the attribute timeout less a margin): a listing from the
 *   kernel's cache refreshes no attributes, where a readdirplus does, so past the attributes'
 *   lifetime `ls -l` would cost a lookup per entry instead of one readdirplus per page.
 * Otherwise the open drops the kernel's cached listing (no keep_cache) and the record, and the
 * listing comes from here again. A repeat `ls -l` of a big folder is then answered by the kernel
 * (its names from the cache, the attributes from the readdirplus before) with one request.
 *
 * A remote change moves the stamp (mirror/listing-versions.ts); a change made through the mount
 * resets the kernel's cache itself (it bumps the folder's i_version). Not covered: a handle opened
 * before a remote change that seeks back to 0 (rewinddir) may be answered from the kernel's cache
 * while the folder's attributes are valid, as a lookup of a name it still holds is.
 */
import type { ListingStamp, Vfs } from '../vfs/vfs.js';
import { ATTR_LEN, OPEN_CACHE_DIR, OPEN_KEEP_CACHE, packInto } from './lowlevel-binding.js';

/** A directory handle's listing (later offsets index into it). */
export interface DirListing {
  names: string[];
  attrs: Float64Array;
  /** Vfs keys of the entries (readdirplus); null for a plain listing. */
  keys: number[] | null;
}

/** What the kernel's cached listing of a folder node was filled from (see the header). */
interface Filled extends ListingStamp {
  /** When the first listing of this stamp was served (ms, the mount's clock). */
  at: number;
  /** Listings of different stamps were served: which one the kernel holds is unknown. */
  mixed: boolean;
}

/** Folder nodes remembered; past it every record goes (the next opens drop the kernel's caches). */
const MAX_FILLED = 10_000;

export class DirHandles {
  readonly #dirs = new Map<number, { ino: number; listing: DirListing | null }>();
  readonly #filled = new Map<number, Filled>();
  #next = 1;
  /** Listings served from offset 0 (the others the kernel answered from its cache): `loft status`. */
  served = 0;

  /** `now`: the mount's clock (ms); `keepMs`: how long a served listing may be kept by the kernel. */
  constructor(
    private readonly now: () => number,
    private readonly keepMs: number,
  ) {}

  /** A handle for folder node `ino`, whose listing stamp is `stamp` now; `flags` go with the reply. */
  open(ino: number, stamp: ListingStamp): { fh: number; flags: number } {
    const fh = this.#next++;
    this.#dirs.set(fh, { ino, listing: null });
    const f = this.#filled.get(ino);
    const keep =
      f !== undefined &&
      !f.mixed &&
      f.key === stamp.key &&
      f.version === stamp.version &&
      this.now() - f.at < this.keepMs;
    if (!keep) this.#filled.delete(ino); // the kernel drops its cached listing at this open
    return { fh, flags: OPEN_CACHE_DIR | (keep ? OPEN_KEEP_CACHE : 0) };
  }

  release(fh: number): void {
    this.#dirs.delete(fh);
  }

  /** What a readdir (plus: readdirplus, with attributes and keys) of folder `p` at `off` serves. */
  listing(
    vfs: Pick<Vfs, 'readdir' | 'list' | 'listingStamp'>,
    p: string,
    fh: number,
    off: number,
    plus: boolean,
  ): DirListing {
    const d = this.#dirs.get(fh);
    let h = d?.listing ?? null;
    if (off === 0 || !h || (plus && !h.keys)) {
      if (d && off === 0) this.#served(d.ino, vfs.listingStamp(p));
      if (plus) {
        const { names, stats } = vfs.readdir(p);
        const attrs = new Float64Array(names.length * ATTR_LEN);
        stats.forEach((st, i) => packInto(attrs, i, st));
        h = { names, attrs, keys: stats.map((s) => s.ino) };
      } else {
        const { names, modes } = vfs.list(p);
        const attrs = new Float64Array(names.length * ATTR_LEN);
        // A plain listing carries only the type (and an inode number the kernel ignores here).
        modes.forEach((m, i) => (attrs[i * ATTR_LEN + 1] = m));
        h = { names, attrs, keys: null };
      }
      if (d) d.listing = h;
    }
    return h;
  }

  /** A listing of `stamp` goes to the kernel from offset 0: it may fill the kernel's cache. */
  #served(ino: number, stamp: ListingStamp): void {
    this.served++;
    const f = this.#filled.get(ino);
    if (f) {
      if (f.key !== stamp.key || f.version !== stamp.version) f.mixed = true;
      return;
    }
    if (this.#filled.size >= MAX_FILLED) this.#filled.clear();
    this.#filled.set(ino, { key: stamp.key, version: stamp.version, at: this.now(), mixed: false });
  }
}
