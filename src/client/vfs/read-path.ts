/**
 * ReadPath: read(2) of an open handle. A file with local changes is read through its staging (over
 * the committed revision); any other from the revision the handle opened, through the hydrator,
 * whose blocks are verified against their SHA-256 before any byte of them is returned.
 *
 * `views` returns the bytes without copying them: views of the hydrator's verified block buffers
 * (the FUSE binding answers the kernel from them). They share memory with the blocks the hydrator
 * keeps: callers must not write to them.
 */
import { FsError, LoftError } from '../../shared/errors.js';
import type { Hydrator } from '../hydrate/hydrator.js';
import type { DirtyFiles } from './dirty-files.js';
import type { HandleTable } from './handle-table.js';
import type { WritePath } from './write-path.js';

export interface ReadPathOptions {
  handles: HandleTable;
  dirty: DirtyFiles;
  hydrator: Pick<Hydrator, 'views'>;
  writes: Pick<WritePath, 'baseReader'>;
}

export class ReadPath {
  constructor(private readonly o: ReadPathOptions) {}

  /** Bytes of handle `fh` from `offset` copied into `out`; how many (short at end of file). */
  async read(fh: number, out: Buffer, offset: number): Promise<number> {
    const got = await this.#read(fh, offset, out.length, out);
    if (typeof got === 'number') return got;
    let n = 0;
    for (const v of got) n += v.copy(out, n);
    return n;
  }

  /** The same bytes, up to `length`, as views in order (see the top: do not write to them). */
  async views(fh: number, offset: number, length: number): Promise<Buffer[]> {
    const got = await this.#read(fh, offset, length, null);
    return typeof got === 'number' ? [] : got;
  }

  /** Into `out` for a handle reading local changes (a count), else views of verified blocks. */
  async #read(fh: number, offset: number, length: number, out: Buffer | null): Promise<number | Buffer[]> {
    const { handles, dirty, hydrator, writes } = this.o;
    const h = handles.get(fh);
    try {
      const d = h.dirty && !h.dirty.orphaned ? h.dirty : (dirty.get(h.id) ?? h.dirty);
      if (d) {
        const buf = out ?? Buffer.allocUnsafe(length);
        const n = await d.file.read(offset, buf, writes.baseReader(h.id));
        return out ? n : [buf.subarray(0, n)];
      }
      // A handle's first read takes just the blocks it needs (a 20 GB file has 20,000): the whole
      // list waits for the next read, or for the mirror to change it (MirrorWatcher.blocksChanging).
      const extents =
        h.state.nextOffset < 0 ? handles.extentsIn(h, offset, offset + length) : handles.extents(h);
      return await hydrator.views(extents, h.size, offset, length, h.state);
    } catch (err) {
      if (err instanceof FsError) throw err;
      const reason = err instanceof LoftError ? err.message : String(err);
      throw new FsError('EIO', `read failed: ${reason}`, { cause: err });
    }
  }
}
