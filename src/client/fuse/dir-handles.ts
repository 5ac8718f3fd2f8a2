/**
 * Directory handles of the low-level mount: a readdir at offset 0 (or after rewinddir) takes the
 * folder's listing, packed as the binding wants it; the later offsets of the same handle index into
 * that listing, so entries neither repeat nor go missing while the folder changes.
 */
import type { Vfs } from '../vfs/vfs.js';
import { ATTR_LEN, packInto } from './lowlevel-binding.js';

/** A directory handle's listing (later offsets index into it). */
export interface DirListing {
  names: string[];
  attrs: Float64Array;
  /** Vfs keys of the entries (readdirplus); null for a plain listing. */
  keys: number[] | null;
}

export class DirHandles {
  readonly #dirs = new Map<number, DirListing | null>();
  #next = 1;

  open(): number {
    const fh = this.#next++;
    this.#dirs.set(fh, null);
    return fh;
  }

  release(fh: number): void {
    this.#dirs.delete(fh);
  }

  /** What a readdir (plus: readdirplus, with attributes and keys) of folder `p` at `off` serves. */
  listing(vfs: Pick<Vfs, 'readdir' | 'list'>, p: string, fh: number, off: number, plus: boolean): DirListing {
    let h = this.#dirs.get(fh) ?? null;
    if (off === 0 || !h || (plus && !h.keys)) {
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
      this.#dirs.set(fh, h);
    }
    return h;
  }
}
