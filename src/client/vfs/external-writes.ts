/**
 * ExternalWrites: staging files that the kernel reads and writes itself (FUSE passthrough,
 * fuse/passthrough.ts). Such a handle's writes never reach the Vfs, so what the kernel wrote is
 * taken in from the file (StagingFile.adoptExternal) before anything reads or records the file's
 * size or content: each getattr, setattr, truncate and open of the node, and each close (flush,
 * fsync, release) of one of its passthrough handles.
 *
 * Only a staging with no base is handed to the kernel (a new file: every byte of the file is in
 * it), and the push never reads a file while a writer holds it open (Vfs.writersOf), so a commit
 * sees the file as its last close left it.
 */
import { statfsSync } from 'node:fs';
import type { Mirror, MirrorNode } from '../mirror/mirror.js';
import type { DirtyFile, DirtyFiles } from './dirty-files.js';
import type { Handle, HandleTable } from './handle-table.js';

/** Free space under which new files are not handed to the kernel (see roomy()). */
export const ROOM_MIN_BYTES = 1024 ** 3;
/** The same as a share of the disk: the block cache's own reserve (DiskBlockCache minFreeRatio). */
export const ROOM_MIN_RATIO = 0.1;

export class ExternalWrites {
  constructor(
    private readonly o: {
      handles: HandleTable;
      dirty: DirtyFiles;
      mirror: Pick<Mirror, 'node'>;
      now: () => number;
    },
  ) {}

  #room = { at: -Infinity, ok: false };

  /**
   * Whether the staging files' disk has room to spare (ROOM_MIN_BYTES and ROOM_MIN_RATIO free; looked
   * at once a second at most). A write the kernel makes itself gets ENOSPC from the disk directly,
   * while a write through the drive first makes the cache give space back (WritePath.spaceRetry):
   * so a new file is handed to the kernel only while the disk is far from full.
   */
  roomy(): boolean {
    const now = this.o.now();
    if (now - this.#room.at < 1000) return this.#room.ok;
    let ok = false;
    try {
      const st = statfsSync(this.o.dirty.dir);
      const free = st.bavail * st.bsize;
      ok = free >= ROOM_MIN_BYTES && free >= st.blocks * st.bsize * ROOM_MIN_RATIO;
    } catch {
      ok = false;
    }
    this.#room = { at: now, ok };
    return ok;
  }

  /** The local key of the node behind an open handle. */
  node(fh: number): number {
    return this.o.handles.get(fh).id;
  }

  /** A file's size now, what the kernel wrote to it included (0: gone). */
  size(node: number): number {
    const d = this.o.dirty.get(node);
    this.take(d);
    return d?.size ?? this.o.mirror.node(node)?.size ?? 0;
  }

  /**
   * The descriptor of the staging file behind a handle just opened or created, when the kernel may
   * read and write that file itself (a staging with no base); null otherwise.
   */
  fd(fh: number): number | null {
    const d = this.o.handles.find(fh)?.dirty;
    return d && !d.orphaned ? d.file.fd : null;
  }

  /** The path of the staging behind a handle (null: none, it reads the committed revision). */
  staging(fh: number): string | null {
    return this.o.handles.find(fh)?.dirty?.file.path ?? null;
  }

  /** The kernel reads and writes handle `fh`'s staging file itself from now on. */
  passed(fh: number): void {
    const h = this.o.handles.get(fh);
    if (!h.dirty || h.passthrough) return;
    h.passthrough = true;
    h.dirty.passthrough++;
  }

  /** Kernel requests so far (0: none counted, as in-process: every take looks at the file). */
  #request = 0;
  /** The request during which each staging was last looked at. */
  readonly #looked = new WeakMap<DirtyFile, number>();

  /**
   * A kernel request begins (the FUSE glue calls this for each). A staging looked at since the
   * latest request began is not looked at again: what that look saw is a state during every request
   * still being answered (setattr looks, then its reply's attributes would look again: a tar x made
   * twelve fstat(2) calls per file).
   */
  request(): void {
    this.#request++;
  }

  /**
   * Takes in what the kernel wrote to `d`'s staging file, if it has passthrough handles. A writer's
   * close(2) (`closing`: its flush or fsync) counts as a change even when the file shows none: a
   * write within the file system's timestamp granularity of the last look may change neither size
   * nor mtime, and the close must still make a commit point.
   */
  take(d: DirtyFile | null | undefined, closing = false): void {
    if (!d || d.passthrough === 0) return;
    const fresh = this.#request > 0 && this.#looked.get(d) === this.#request;
    this.#looked.set(d, this.#request);
    const changed = !fresh && d.file.adoptExternal();
    if (changed) {
      d.size = d.file.size;
      d.mtime = d.ctime = this.o.now();
    }
    if (changed || closing) {
      d.gen++;
      d.modified = true;
    }
  }

  /**
   * A close (flush, fsync; `released`: the release) of handle `h`. The release only looks: its
   * flush made the commit point (forcing one here too made a second commit point, a mirror
   * transaction, per file), and what a later write through a duplicated descriptor left is read by
   * the upload, which waits for the last writer's release (Vfs.writersOf).
   */
  closing(h: Handle | undefined, released = false): void {
    if (!h?.passthrough) return;
    this.take(h.dirty, h.write && !released);
    if (released && h.dirty) h.dirty.passthrough--;
  }

  /** take() for the node's staging, if it has one. */
  takeNode(node: MirrorNode): void {
    if (node.kind === 'file') this.take(this.o.dirty.get(node.id));
  }
}
